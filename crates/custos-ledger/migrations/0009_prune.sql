-- Retention (issue 10): events before a horizon may be deleted once a statement signed
-- with the checkpoint key says where the horizon is, the root of the tree up to it and
-- the hash of the last event before it. The tree's stored hashes are kept, so the tree
-- (and every checkpoint) still verifies; `custos audit verify` checks the statement.
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
DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN OLD.leaf_index IS NULL
  OR OLD.leaf_index >= COALESCE((SELECT MAX(horizon) FROM ledger_prunes), 0)
BEGIN
    SELECT RAISE(ABORT, 'ledger events are append-only');
END;
