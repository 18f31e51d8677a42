-- Identity: principals with roles and their API tokens (stored only as a SHA-256 of the
-- token; the token is shown once). Every change to these tables is written with its
-- event in the same transaction.

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

CREATE INDEX events_kind ON events (kind);
