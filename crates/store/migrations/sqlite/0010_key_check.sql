-- What the secrets make of one fixed text, written by the first start with
-- them: a node whose encryption key, pepper or audit key differ is refused
-- at start instead of writing data the others cannot open.
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sealed      BLOB NOT NULL,
    peppered    BLOB NOT NULL,
    audit_mac   BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
