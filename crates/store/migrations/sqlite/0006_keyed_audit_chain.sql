-- The audit chain becomes keyed: each event records how its link was
-- computed. Events written before hold plain SHA-256 links; from the switch
-- event `audit.chain_keyed` on, every link is HMAC-SHA256 under the audit key.

ALTER TABLE audit_events ADD COLUMN link_kind TEXT NOT NULL DEFAULT 'sha256'
    CHECK (link_kind IN ('sha256', 'hmac-sha256'));
