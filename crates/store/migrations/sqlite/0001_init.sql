-- The foundation schema. Times are unix seconds (INTEGER) so that the same
-- shapes port to PostgreSQL (BIGINT) unchanged. Personal data is only ever
-- stored sealed (*_sealed, AES-256-GCM) and looked up by keyed hashes (*_hash).

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    nature      TEXT NOT NULL CHECK (nature IN ('enterprise', 'personal')),
    state       TEXT NOT NULL CHECK (state IN ('active', 'frozen', 'banned', 'deleted')),
    created_at  INTEGER NOT NULL
);

-- One credential is bound to at most one account, and an account holds at
-- most one of each kind: both enforced here, not only in code.
CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    kind          TEXT NOT NULL CHECK (kind IN ('phone', 'wechat')),
    lookup_hash   BLOB NOT NULL,
    value_sealed  BLOB NOT NULL,
    bound_at      INTEGER NOT NULL,
    UNIQUE (kind, lookup_hash),
    UNIQUE (account_id, kind)
);

CREATE TABLE persons (
    id                INTEGER PRIMARY KEY,
    person_hash       BLOB NOT NULL UNIQUE,
    name_sealed       BLOB NOT NULL,
    id_number_sealed  BLOB NOT NULL,
    created_at        INTEGER NOT NULL
);

-- What a credential attests: at most one person per credential; it goes
-- with the credential.
CREATE TABLE attestations (
    credential_id  INTEGER PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    person_id      INTEGER NOT NULL REFERENCES persons (id),
    source         TEXT NOT NULL,
    verified_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    user_agent    TEXT,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id);

CREATE TABLE sms_codes (
    id           INTEGER PRIMARY KEY,
    phone_hash   BLOB NOT NULL,
    purpose      TEXT NOT NULL,
    code_hash    BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    consumed_at  INTEGER
);
CREATE INDEX sms_codes_by_phone ON sms_codes (phone_hash, purpose, id);

-- Sliding-window rate limits: one row per counted action.
CREATE TABLE rate_hits (
    bucket  TEXT NOT NULL,
    key     BLOB NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX rate_hits_by_key ON rate_hits (bucket, key, at);

-- The development SMS outbox: numbers and texts sealed like any personal data.
CREATE TABLE sms_outbox (
    id            INTEGER PRIMARY KEY,
    phone_hash    BLOB NOT NULL,
    phone_sealed  BLOB NOT NULL,
    text_sealed   BLOB NOT NULL,
    sent_at       INTEGER NOT NULL
);
CREATE INDEX sms_outbox_by_phone ON sms_outbox (phone_hash, id);

-- Append-only, hash-chained audit log; audit_head holds the chain's tip so
-- that removing events at the end is detected too, and so that concurrent
-- writers serialise on one row.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    account_id  TEXT,
    details     TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL
);
CREATE INDEX audit_events_by_account ON audit_events (account_id, seq);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
