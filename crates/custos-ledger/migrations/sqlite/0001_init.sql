-- The ledger: append-only, hash-chained events, plus state tables the events explain.

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    at         TEXT NOT NULL,
    run_id     TEXT,
    kind       TEXT NOT NULL,
    resource   TEXT,
    payload    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE
);
CREATE INDEX events_resource ON events (resource);
CREATE INDEX events_run ON events (run_id);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'ledger events are append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'ledger events are append-only');
END;

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    mode          TEXT NOT NULL,
    source        TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    summary       TEXT
);

CREATE TABLE approvals (
    id            TEXT PRIMARY KEY,
    status        TEXT NOT NULL,
    resource      TEXT NOT NULL,
    playbook      TEXT NOT NULL,
    before_digest TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX approvals_status ON approvals (status);
-- One open request per resource and playbook: a second run does not ask twice.
CREATE UNIQUE INDEX approvals_one_open ON approvals (resource, playbook)
    WHERE status IN ('pending', 'approved');

CREATE TABLE actions (
    id          TEXT PRIMARY KEY,
    plan_id     TEXT NOT NULL,
    run_id      TEXT,
    approval_id TEXT,
    resource    TEXT NOT NULL,
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    plan        TEXT NOT NULL,
    record      TEXT
);
CREATE INDEX actions_resource ON actions (resource);

CREATE TABLE dead_letters (
    id        TEXT PRIMARY KEY,
    at        TEXT NOT NULL,
    run_id    TEXT,
    source    TEXT NOT NULL,
    location  TEXT NOT NULL,
    field     TEXT,
    error     TEXT NOT NULL,
    raw       TEXT NOT NULL
);
