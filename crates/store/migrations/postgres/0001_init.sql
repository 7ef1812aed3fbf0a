-- The PostgreSQL schema: the same tables as SQLite's migrations 0001–0009
-- leave, in one step (PostgreSQL had no deployments before them). Times are
-- unix seconds (BIGINT). Personal data is only ever stored sealed
-- (*_sealed, AES-256-GCM) and looked up by keyed hashes (*_hash).
-- Later changes come as new files here and in ../sqlite, one per backend.

CREATE TABLE accounts (
    id                    TEXT PRIMARY KEY,
    nature                TEXT NOT NULL CHECK (nature IN ('enterprise', 'personal')),
    state                 TEXT NOT NULL CHECK (state IN ('active', 'frozen', 'banned', 'deleted')),
    created_at            BIGINT NOT NULL,
    -- The person the real name last named, kept through unbinds.
    realname_person_hash  BYTEA
);

-- One credential is bound to at most one account, and an account holds at
-- most one of each kind: both enforced here, not only in code. Across nodes
-- too: two nodes binding one phone at once meet on the constraint.
CREATE TABLE credentials (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    kind            TEXT NOT NULL CHECK (kind IN ('phone', 'wechat')),
    lookup_hash     BYTEA NOT NULL,
    value_sealed    BYTEA NOT NULL,
    display_sealed  BYTEA,
    bound_at        BIGINT NOT NULL,
    -- When it first signed in to its account (a first sign-in leaves a notice).
    signed_in_at    BIGINT,
    UNIQUE (kind, lookup_hash),
    UNIQUE (account_id, kind)
);

CREATE TABLE persons (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_hash       BYTEA NOT NULL UNIQUE,
    name_sealed       BYTEA NOT NULL,
    id_number_sealed  BYTEA NOT NULL,
    created_at        BIGINT NOT NULL
);

CREATE TABLE attestations (
    credential_id  BIGINT PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    person_id      BIGINT NOT NULL REFERENCES persons (id),
    source         TEXT NOT NULL,
    verified_at    BIGINT NOT NULL
);

CREATE TABLE credential_openids (
    credential_id  BIGINT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    appid          TEXT NOT NULL,
    openid_sealed  BYTEA NOT NULL,
    PRIMARY KEY (credential_id, appid)
);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    token_hash     BYTEA NOT NULL UNIQUE,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    user_agent     TEXT,
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    step_up_until  BIGINT
);
CREATE INDEX sessions_by_account ON sessions (account_id);

-- A step-up or phone-change code belongs to an account and a session.
CREATE TABLE sms_codes (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   TEXT,
    session_id   TEXT,
    phone_hash   BYTEA NOT NULL,
    purpose      TEXT NOT NULL,
    code_hash    BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    consumed_at  BIGINT
);
CREATE INDEX sms_codes_by_phone ON sms_codes (phone_hash, purpose, id);
CREATE INDEX sms_codes_by_account ON sms_codes (account_id);

-- Sliding-window rate limits: hits per key and second, and each key's count.
-- A take locks its key's count row, so limits hold across nodes.
CREATE TABLE rate_hits (
    bucket  TEXT NOT NULL,
    key     BYTEA NOT NULL,
    at      BIGINT NOT NULL,
    hits    INTEGER NOT NULL,
    PRIMARY KEY (bucket, key, at)
);

CREATE TABLE rate_counts (
    bucket  TEXT NOT NULL,
    key     BYTEA NOT NULL,
    hits    INTEGER NOT NULL,
    newest  BIGINT NOT NULL,
    PRIMARY KEY (bucket, key)
);

-- The development SMS outbox: numbers and texts sealed like any personal data.
CREATE TABLE sms_outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_hash    BYTEA NOT NULL,
    phone_sealed  BYTEA NOT NULL,
    text_sealed   BYTEA NOT NULL,
    sent_at       BIGINT NOT NULL
);
CREATE INDEX sms_outbox_by_phone ON sms_outbox (phone_hash, id);

-- Append-only, hash-chained audit log. audit_head holds the chain's tip: a
-- writer locks it (FOR UPDATE) to append, so writers on every node make one
-- chain.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    account_id  TEXT,
    details     TEXT NOT NULL,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL,
    link_kind   TEXT NOT NULL DEFAULT 'sha256' CHECK (link_kind IN ('sha256', 'hmac-sha256'))
);
CREATE INDEX audit_events_by_account ON audit_events (account_id, seq);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

CREATE TABLE oauth_flows (
    state_hash    BYTEA PRIMARY KEY,
    browser_hash  BYTEA NOT NULL,
    purpose       TEXT NOT NULL,
    account_id    TEXT REFERENCES accounts (id),
    session_id    TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    consumed_at   BIGINT
);

-- A change of credential between its proof and its confirmation.
CREATE TABLE pending_changes (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id             TEXT NOT NULL REFERENCES accounts (id),
    session_id             TEXT NOT NULL,
    kind                   TEXT NOT NULL CHECK (kind IN ('phone', 'wechat')),
    new_lookup_hash        BYTEA NOT NULL,
    new_value_sealed       BYTEA NOT NULL,
    new_display_sealed     BYTEA,
    appid                  TEXT,
    new_openid_sealed      BYTEA,
    person_hash            BYTEA,
    person_name_sealed     BYTEA,
    person_id_sealed       BYTEA,
    preview_sealed         BYTEA,
    expect_replaces        BIGINT,
    expect_person_changes  BOOLEAN,
    expect_status          TEXT,
    expect_nature          TEXT,
    proven_at              BIGINT,
    created_at             BIGINT NOT NULL,
    expires_at             BIGINT NOT NULL,
    consumed_at            BIGINT
);
CREATE INDEX pending_changes_by_account ON pending_changes (account_id, id);

CREATE TABLE rebinds (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    kind            TEXT NOT NULL,
    person_changed  BOOLEAN NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX rebinds_by_account ON rebinds (account_id, at);

-- Text messages to send after a commit, written in the commit's transaction.
-- A node claims a notice for a lease (claimed_until) before sending it.
CREATE TABLE notices (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_sealed   BYTEA NOT NULL,
    text_sealed    BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    claimed_until  BIGINT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    sent_at        BIGINT
);
CREATE INDEX notices_unsent ON notices (sent_at, id);

CREATE TABLE account_notices (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    kind           TEXT NOT NULL,
    credential     TEXT NOT NULL CHECK (credential IN ('phone', 'wechat')),
    masked_sealed  BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    read_at        BIGINT
);
CREATE INDEX account_notices_by_account ON account_notices (account_id, id);
