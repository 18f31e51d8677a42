-- Tamper evidence beyond the database (issue 10).
--
-- `leaf_index` numbers events densely from 0 in chain order: event i is leaf i of the
-- Merkle tree that signed checkpoints commit to. `scheme` says how `hash` was computed:
-- 0 = the hand-written canonical JSON of ledgers made before this migration (verified as
-- such, never re-hashed), 1 = SHA-256 over the RFC 8785 (JCS) encoding of the event.
ALTER TABLE events ADD COLUMN leaf_index INTEGER;
ALTER TABLE events ADD COLUMN scheme INTEGER;

DROP TRIGGER events_no_update;
UPDATE events SET scheme = 0,
    leaf_index = (SELECT COUNT(*) FROM events AS e2 WHERE e2.seq < events.seq);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'ledger events are append-only');
END;
CREATE UNIQUE INDEX events_leaf ON events (leaf_index);

-- The RFC 6962 tree over the events, stored as Go's sumdb/tlog lays it out (index =
-- `stored_hash_index(level, n)`): a cache for proofs and checkpoints. `custos audit verify`
-- never trusts it; it recomputes the tree from the events.
CREATE TABLE merkle_hashes (
    idx  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
-- How many events `merkle_hashes` covers.
CREATE TABLE merkle_tree (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL
);
INSERT INTO merkle_tree (id, size) VALUES (1, 0);

-- Signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note), as published.
CREATE TABLE checkpoints (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    size  INTEGER NOT NULL,
    root  TEXT NOT NULL,
    at    TEXT NOT NULL,
    note  TEXT NOT NULL
);
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'ledger checkpoints are append-only');
END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'ledger checkpoints are append-only');
END;
