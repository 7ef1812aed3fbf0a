-- What the secrets make of one fixed text, written by the first node to
-- start with them: a node whose encryption key, pepper or audit key differ
-- is refused at start instead of writing data the others cannot open.
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sealed      BYTEA NOT NULL,
    peppered    BYTEA NOT NULL,
    audit_mac   BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
