-- See `../sqlite/0005_autonomy.sql`.
CREATE TABLE autonomy_settings (
    class        TEXT NOT NULL,
    environment  TEXT NOT NULL,
    level        BIGINT NOT NULL CHECK (level BETWEEN 1 AND 5),
    set_by       TEXT NOT NULL,
    set_at       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (class, environment)
);
