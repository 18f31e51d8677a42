-- The guard: admissions counted by the moment they were admitted, claims (leases) that
-- serialise work on a resource across processes, the kill switch and circuit breaker,
-- and token buckets for mutating calls. `guard_state.version` changes with every
-- admission and every switch, so an admission decided on an older state is refused.

ALTER TABLE actions ADD COLUMN kind TEXT NOT NULL DEFAULT 'fix';
ALTER TABLE actions ADD COLUMN reverts TEXT;
ALTER TABLE actions ADD COLUMN admitted_at TEXT;
UPDATE actions SET admitted_at = started_at WHERE status NOT IN ('no_op', 'stale');
CREATE INDEX actions_admitted ON actions (admitted_at);
CREATE INDEX actions_run ON actions (run_id);

DROP INDEX approvals_one_open;
CREATE UNIQUE INDEX approvals_one_open ON approvals (resource, playbook)
    WHERE status IN ('pending', 'approved', 'executing');

CREATE TABLE claims (
    key         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       INTEGER NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE guard_state (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    version            INTEGER NOT NULL,
    paused             INTEGER NOT NULL,
    paused_by          TEXT,
    paused_reason      TEXT,
    paused_at          TEXT,
    breaker_open       INTEGER NOT NULL,
    breaker_reason     TEXT,
    breaker_opened_at  TEXT,
    breaker_reset_at   TEXT
);
INSERT INTO guard_state (id, version, paused, breaker_open) VALUES (1, 0, 0, 0);

CREATE TABLE rate_buckets (
    key         TEXT PRIMARY KEY,
    tokens      REAL NOT NULL,
    updated_at  TEXT NOT NULL
);
