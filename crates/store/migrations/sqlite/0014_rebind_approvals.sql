-- An enterprise whose policy asks for it approves the rebinds of the
-- accounts it manages: the confirm of such a rebind asks for approval (one
-- request per pending change), an admin approves it (which commits the
-- change) or denies it with a reason (sealed). The approval keeps what it
-- needs of its change (the session that asked, the expiry), so that the
-- sweep of expired changes leaves it, as history, with `pending_id` NULL.
CREATE TABLE rebind_approvals (
    id             TEXT PRIMARY KEY,
    enterprise_id  TEXT NOT NULL REFERENCES enterprises (id),
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    session_id     TEXT NOT NULL,
    pending_id     INTEGER UNIQUE REFERENCES pending_changes (id) ON DELETE SET NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('phone', 'wechat')),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    requested_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    decided_by     TEXT REFERENCES accounts (id),
    decided_at     INTEGER,
    reason_sealed  BLOB
);
CREATE INDEX rebind_approvals_by_enterprise ON rebind_approvals (enterprise_id, state, requested_at);
CREATE INDEX rebind_approvals_by_account ON rebind_approvals (account_id, requested_at);
