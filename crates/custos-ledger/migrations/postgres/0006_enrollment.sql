-- See `../sqlite/0006_enrollment.sql`.
ALTER TABLE tokens ADD COLUMN issued_by TEXT;
