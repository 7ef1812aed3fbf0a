-- Rebinding: step-up on sessions, codes tied to the account they serve,
-- pending changes, the history that rate-limits rebinds, and queued notices.

ALTER TABLE sessions ADD COLUMN step_up_until INTEGER;

-- Step-up and phone-change codes belong to an account: a commit invalidates them all.
ALTER TABLE sms_codes ADD COLUMN account_id TEXT;
CREATE INDEX sms_codes_by_account ON sms_codes (account_id);

-- A change of credential between its proof and its confirmation: bound to
-- the account and the session that started it, single use, short-lived.
CREATE TABLE pending_changes (
    id                  INTEGER PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    session_id          TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('phone', 'wechat')),
    new_lookup_hash     BLOB NOT NULL,
    new_value_sealed    BLOB NOT NULL,
    person_hash         BLOB,
    person_name_sealed  BLOB,
    person_id_sealed    BLOB,
    preview             TEXT,
    proven_at           INTEGER,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    consumed_at         INTEGER
);
CREATE INDEX pending_changes_by_account ON pending_changes (account_id, id);

CREATE TABLE rebinds (
    id              INTEGER PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    kind            TEXT NOT NULL,
    person_changed  INTEGER NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX rebinds_by_account ON rebinds (account_id, at);

-- Text messages to send after a commit (to the old phone, the new one),
-- written in the commit's transaction so that none is lost to a crash.
CREATE TABLE notices (
    id             INTEGER PRIMARY KEY,
    phone_sealed   BLOB NOT NULL,
    text_sealed    BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    claimed_until  INTEGER,
    attempts       INTEGER NOT NULL DEFAULT 0,
    sent_at        INTEGER
);
CREATE INDEX notices_unsent ON notices (sent_at, id);
