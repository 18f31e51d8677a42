-- Retention (issue 10): the events before a horizon are deleted (by `Ledger::prune`, which
-- lifts the delete trigger inside its own transaction only) under a statement signed with
-- the checkpoint key: where the horizon is, the root of the tree up to it and the hash of
-- the last event before it. The tree's stored hashes are kept, so the tree (and every
-- checkpoint) still verifies; `custos audit verify` checks every statement.
CREATE TABLE ledger_prunes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    horizon      INTEGER NOT NULL,
    last_hash    TEXT NOT NULL,
    root         TEXT NOT NULL,
    export_event TEXT NOT NULL,
    note         TEXT NOT NULL,
    at           TEXT NOT NULL
);
CREATE TRIGGER ledger_prunes_no_update BEFORE UPDATE ON ledger_prunes
BEGIN
    SELECT RAISE(ABORT, 'prune statements are append-only');
END;
CREATE TRIGGER ledger_prunes_no_delete BEFORE DELETE ON ledger_prunes
BEGIN
    SELECT RAISE(ABORT, 'prune statements are append-only');
END;
