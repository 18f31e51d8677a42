-- Who issued each token. A token issued by someone else (a policy admin, for a new
-- principal) is an enrollment token: it can only be exchanged, once, for a token of the
-- holder's own making (which its issuer never sees). Tokens issued before this column
-- existed keep `NULL` and their old meaning.
ALTER TABLE tokens ADD COLUMN issued_by TEXT;
