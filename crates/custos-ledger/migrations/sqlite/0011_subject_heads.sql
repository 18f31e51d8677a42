-- Issue 22 item 5: every event about an action (`action.*`) or an approval request
-- (`approval.*`) names the previous event about the same subject by hash (`prior` in its
-- payload; null for the first), so an evidence bundle that leaves one out fails
-- verification. This table holds the newest event per subject, so that appending stays
-- one lookup by key.
CREATE TABLE subject_heads (
    subject     TEXT PRIMARY KEY,
    hash        TEXT NOT NULL,
    leaf_index  INTEGER NOT NULL
);
