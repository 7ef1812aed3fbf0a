-- WeChat identities: the nickname shown in Account & Security (sealed), the
-- openid per app, and the OAuth flows in flight.

ALTER TABLE credentials ADD COLUMN display_sealed BLOB;

CREATE TABLE credential_openids (
    credential_id  INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    appid          TEXT NOT NULL,
    openid_sealed  BLOB NOT NULL,
    PRIMARY KEY (credential_id, appid)
);

-- A flow is found by its state's hash, only from the browser that started it
-- (browser_hash, from a cookie), once, before it expires.
CREATE TABLE oauth_flows (
    state_hash    BLOB PRIMARY KEY,
    browser_hash  BLOB NOT NULL,
    purpose       TEXT NOT NULL,
    account_id    TEXT REFERENCES accounts (id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    consumed_at   INTEGER
);
