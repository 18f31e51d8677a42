-- See `../sqlite/0002_observations.sql`.
CREATE TABLE observations (
    resource      TEXT PRIMARY KEY,
    capture_time  TEXT NOT NULL,
    state_digest  TEXT NOT NULL,
    processed_at  TEXT NOT NULL
);
CREATE INDEX actions_status ON actions (status);
