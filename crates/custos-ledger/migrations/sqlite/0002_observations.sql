-- The newest configuration item processed per resource: redelivered and out-of-order
-- change notifications are recognised and never override newer state.
CREATE TABLE observations (
    resource      TEXT PRIMARY KEY,
    capture_time  TEXT NOT NULL,
    state_digest  TEXT NOT NULL,
    processed_at  TEXT NOT NULL
);
CREATE INDEX actions_status ON actions (status);
