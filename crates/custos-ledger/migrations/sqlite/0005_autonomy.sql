-- Autonomy levels set at runtime (`custos autonomy set`, `PUT /api/v1/autonomy`) by an
-- authenticated operator or policy admin. They override `custos.toml` for one resource
-- class in one environment (a canonical name, `production`, `non-production` or `*`)
-- and are always capped by the configured ceiling. Every change bumps
-- `guard_state.version`, so an admission decided at the old level is refused and
-- decided again, and appends an `autonomy.set` event.
CREATE TABLE autonomy_settings (
    class        TEXT NOT NULL,
    environment  TEXT NOT NULL,
    level        INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    set_by       TEXT NOT NULL,
    set_at       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (class, environment)
);
