-- Invitations to join an enterprise, by phone. The code is kept only as
-- its keyed hash, the phone as its keyed hash (to match the invitee's
-- bound phone) and sealed (to show it masked). An invitation is open while
-- `state` is 'pending' and `expires_at` is ahead.
CREATE TABLE invitations (
    id             TEXT PRIMARY KEY,
    enterprise_id  TEXT NOT NULL REFERENCES enterprises (id),
    code_hash      BLOB NOT NULL UNIQUE,
    phone_hash     BLOB NOT NULL,
    phone_sealed   BLOB NOT NULL,
    -- The name the enterprise will know the member by, sealed; optional.
    display_name_sealed BLOB,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    invited_by     TEXT NOT NULL REFERENCES accounts (id),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'revoked')),
    closed_at      INTEGER,
    closed_by      TEXT REFERENCES accounts (id)
);
CREATE INDEX invitations_by_enterprise ON invitations (enterprise_id, state, created_at);

-- An account an enterprise provisioned (nature `enterprise`) is managed by
-- that enterprise: its membership there says so. Each membership may carry
-- the name the enterprise knows the member by (企业内姓名), sealed.
ALTER TABLE memberships ADD COLUMN manages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN display_name_sealed BLOB;

-- A rebind that changed the real-name person of an account the enterprise
-- managed flags its membership there and suspends it, until an admin
-- approves the member again or removes them.
ALTER TABLE memberships ADD COLUMN person_changed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;

-- An admin may freeze a member within the enterprise, with a reason
-- (sealed): the member keeps the account, but not access to the enterprise.
ALTER TABLE memberships ADD COLUMN frozen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN frozen_reason_sealed BLOB;

-- An enterprise's own audit events: those whose details name it, found by
-- an index instead of a scan of every event. The column is derived from
-- the details (which the chain's links cover), filled on append.
ALTER TABLE audit_events ADD COLUMN enterprise_id TEXT;
UPDATE audit_events SET enterprise_id = json_extract(details, '$.enterprise_id') WHERE json_extract(details, '$.enterprise_id') IS NOT NULL;
CREATE INDEX audit_by_enterprise ON audit_events (enterprise_id, seq) WHERE enterprise_id IS NOT NULL;
