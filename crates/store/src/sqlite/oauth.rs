use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::codes::take_limits;
use super::SqliteStore;
use crate::{OAuthFlow, OAuthStore, RateLimit, Result};

#[async_trait]
impl OAuthStore for SqliteStore {
    async fn create_oauth_flow(&self, f: OAuthFlow, limits: &[RateLimit]) -> Result<()> {
        let limits = limits.to_vec();
        self.db
            .write(move |tx| {
                take_limits(tx, &limits)?;
                tx.conn
                    .prepare_cached(
                        "INSERT INTO oauth_flows (state_hash, browser_hash, purpose, account_id, session_id, created_at, expires_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?)",
                    )?
                    .execute(params![
                        f.state_hash,
                        f.browser_hash,
                        f.purpose,
                        f.account_id,
                        f.session_id,
                        f.created_at,
                        f.expires_at
                    ])?;
                Ok(())
            })
            .await
    }

    async fn take_oauth_flow(&self, state_hash: &[u8], browser_hash: &[u8], now: i64) -> Result<Option<OAuthFlow>> {
        let (state_hash, browser_hash) = (state_hash.to_vec(), browser_hash.to_vec());
        self.db
            .write(move |tx| {
                // One statement: of two callbacks racing with one state, one gets it.
                Ok(tx
                    .conn
                    .prepare_cached(
                        "UPDATE oauth_flows SET consumed_at = ?3 \
                         WHERE state_hash = ?1 AND browser_hash = ?2 AND consumed_at IS NULL AND expires_at > ?3 \
                         RETURNING state_hash, browser_hash, purpose, account_id, session_id, created_at, expires_at",
                    )?
                    .query_row(params![state_hash, browser_hash, now], |r| {
                        Ok(OAuthFlow {
                            state_hash: r.get(0)?,
                            browser_hash: r.get(1)?,
                            purpose: r.get(2)?,
                            account_id: r.get(3)?,
                            session_id: r.get(4)?,
                            created_at: r.get(5)?,
                            expires_at: r.get(6)?,
                        })
                    })
                    .optional()?)
            })
            .await
    }
}
