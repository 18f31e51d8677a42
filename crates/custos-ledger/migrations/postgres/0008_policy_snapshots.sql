-- See `../sqlite/0008_policy_snapshots.sql`.
CREATE TABLE policy_snapshots (
    id            TEXT PRIMARY KEY,
    bundle_digest TEXT NOT NULL,
    body          TEXT NOT NULL,
    stored_at     TEXT NOT NULL
);
