-- An enterprise whose policy asks for it approves the rebinds of the
-- accounts it manages: the confirm of such a rebind asks for approval (one
-- request per pending change), an admin approves it (which commits the
-- change) or denies it with a reason (sealed).
CREATE TABLE rebind_approvals (
    id             TEXT PRIMARY KEY,
    enterprise_id  TEXT NOT NULL REFERENCES enterprises (id),
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    pending_id     BIGINT NOT NULL UNIQUE REFERENCES pending_changes (id),
    kind           TEXT NOT NULL CHECK (kind IN ('phone', 'wechat')),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    requested_at   BIGINT NOT NULL,
    decided_by     TEXT REFERENCES accounts (id),
    decided_at     BIGINT,
    reason_sealed  BYTEA
);
CREATE INDEX rebind_approvals_by_enterprise ON rebind_approvals (enterprise_id, state, requested_at);
CREATE INDEX rebind_approvals_by_account ON rebind_approvals (account_id, requested_at);
