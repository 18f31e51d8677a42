-- Policy bundles by snapshot id (the bundle digest and the gate settings), so that a
-- recorded decision can be replayed with the policy it was made under (`custos replay`).
CREATE TABLE policy_snapshots (
    id            TEXT PRIMARY KEY,
    bundle_digest TEXT NOT NULL,
    body          TEXT NOT NULL,
    stored_at     TEXT NOT NULL
);
