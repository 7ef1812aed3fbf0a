-- Enterprises and their members. Ids are random (`ent_` and 32 hex
-- digits), never sequential. One owner per enterprise, by constraint.
CREATE TABLE enterprises (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE memberships (
    enterprise_id  TEXT NOT NULL REFERENCES enterprises (id),
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    role           TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at      BIGINT NOT NULL,
    PRIMARY KEY (enterprise_id, account_id)
);
CREATE INDEX memberships_by_account ON memberships (account_id);
CREATE UNIQUE INDEX one_owner_per_enterprise ON memberships (enterprise_id) WHERE role = 'owner';
