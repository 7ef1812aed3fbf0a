-- Rebinding WeChat: a pending change carries the new identity whole (its
-- nickname and openid too), and an OAuth flow remembers the session it serves.

ALTER TABLE pending_changes ADD COLUMN new_display_sealed BLOB;
ALTER TABLE pending_changes ADD COLUMN appid TEXT;
ALTER TABLE pending_changes ADD COLUMN new_openid_sealed BLOB;

ALTER TABLE oauth_flows ADD COLUMN session_id TEXT;
