-- Leases for several workers (issue 11): a claim given back says so, so that claiming a
-- key whose holder neither released nor renewed it is a takeover, recorded as
-- `guard.claim_taken_over` (the fencing token grows either way).
ALTER TABLE claims ADD COLUMN released_at TEXT;
