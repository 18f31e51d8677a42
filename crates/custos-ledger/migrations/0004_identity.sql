-- Identity: principals with roles and their API tokens (stored only as a SHA-256 of the
-- token; the token is shown once). Runtime autonomy settings by operators. Every change
-- to these tables is written with its event in the same transaction.

CREATE TABLE principals (
    name        TEXT PRIMARY KEY,
    roles       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    disabled_at TEXT
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    principal   TEXT NOT NULL REFERENCES principals (name),
    secret_hash TEXT NOT NULL,
    label       TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX tokens_principal ON tokens (principal);

CREATE TABLE autonomy_settings (
    class       TEXT NOT NULL,
    environment TEXT NOT NULL,
    level       INTEGER NOT NULL,
    set_by      TEXT NOT NULL,
    set_at      TEXT NOT NULL,
    PRIMARY KEY (class, environment)
);

CREATE INDEX events_kind ON events (kind);
