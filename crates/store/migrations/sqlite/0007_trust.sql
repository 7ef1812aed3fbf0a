-- Trust under attack.

-- A step-up or phone-change code belongs to the session that asked for it:
-- another session of the same account can neither use it nor burn it.
ALTER TABLE sms_codes ADD COLUMN session_id TEXT;

-- A proven pending change keeps its preview sealed (masked numbers and names
-- are personal data too) and the outcome it showed, which the commit
-- transaction derives again and must find unchanged. Changes proven under
-- the plain previews end here and are started again.
ALTER TABLE pending_changes ADD COLUMN preview_sealed BLOB;
ALTER TABLE pending_changes ADD COLUMN expect_replaces INTEGER;
ALTER TABLE pending_changes ADD COLUMN expect_person_changes INTEGER;
ALTER TABLE pending_changes ADD COLUMN expect_status TEXT;
ALTER TABLE pending_changes ADD COLUMN expect_nature TEXT;
UPDATE pending_changes SET consumed_at = created_at WHERE consumed_at IS NULL;
UPDATE pending_changes SET preview = NULL;
ALTER TABLE pending_changes DROP COLUMN preview;

-- When a credential first signed in to its account: the first sign-in with a
-- credential new to the account leaves the account a notice. Credentials
-- bound before count as used.
ALTER TABLE credentials ADD COLUMN signed_in_at INTEGER;
UPDATE credentials SET signed_in_at = bound_at;

-- The account's own notices: every bind, rebind and unbind, and every first
-- sign-in by a credential new to it. They reach a WeChat-only account too.
CREATE TABLE account_notices (
    id             INTEGER PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    kind           TEXT NOT NULL,
    credential     TEXT NOT NULL CHECK (credential IN ('phone', 'wechat')),
    masked_sealed  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    read_at        INTEGER
);
CREATE INDEX account_notices_by_account ON account_notices (account_id, id);
