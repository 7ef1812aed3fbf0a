use async_trait::async_trait;

use super::{write, PgStore};
use crate::{OAuthFlow, OAuthStore, RateLimit, Result};

#[async_trait]
impl OAuthStore for PgStore {
    async fn create_oauth_flow(&self, f: OAuthFlow, limits: &[RateLimit]) -> Result<()> {
        let f = &f;
        write!(self, |tx| {
            tx.limit(limits);
            sqlx::query(
                "INSERT INTO oauth_flows (state_hash, browser_hash, purpose, account_id, session_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&f.state_hash)
            .bind(&f.browser_hash)
            .bind(&f.purpose)
            .bind(&f.account_id)
            .bind(&f.session_id)
            .bind(f.created_at)
            .bind(f.expires_at)
            .execute(&mut *tx.conn)
            .await?;
        })
    }

    async fn take_oauth_flow(&self, state_hash: &[u8], browser_hash: &[u8], now: i64) -> Result<Option<OAuthFlow>> {
        // One statement: of two callbacks racing with one state, on one node
        // or two, one gets it (the other waits for its row, then finds it used).
        let row: Option<(Vec<u8>, Vec<u8>, String, Option<String>, Option<String>, i64, i64)> = sqlx::query_as(
            "UPDATE oauth_flows SET consumed_at = $3 \
             WHERE state_hash = $1 AND browser_hash = $2 AND consumed_at IS NULL AND expires_at > $3 \
             RETURNING state_hash, browser_hash, purpose, account_id, session_id, created_at, expires_at",
        )
        .bind(state_hash)
        .bind(browser_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(state_hash, browser_hash, purpose, account_id, session_id, created_at, expires_at)| OAuthFlow {
                state_hash,
                browser_hash,
                purpose,
                account_id,
                session_id,
                created_at,
                expires_at,
            },
        ))
    }
}
