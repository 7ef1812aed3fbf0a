use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::Row;

use super::SqliteStore;
use crate::chain::ChainWalker;
use crate::{AuditRecord, AuditStore, ChainReport, Result};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_of(&self, account_id: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows: Vec<(i64, i64, String, Option<String>, String)> =
            sqlx::query_as("SELECT seq, at, kind, account_id, details FROM audit_events WHERE account_id = ? ORDER BY seq DESC LIMIT ?")
                .bind(account_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, at, kind, account_id, details)| AuditRecord {
                seq,
                at,
                kind,
                account_id,
                details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    async fn verify_chain(&self) -> Result<ChainReport> {
        // One snapshot: events appended meanwhile neither count nor break it.
        let mut tx = self.pool.begin().await?;
        let (head_seq, head_hash): (i64, Vec<u8>) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut walker = ChainWalker::new();
        {
            let mut rows = sqlx::query(
                "SELECT seq, at, kind, account_id, details, prev_hash, hash FROM audit_events ORDER BY seq",
            )
            .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                let account: Option<String> = r.try_get("account_id")?;
                let step = walker.step(
                    r.try_get("seq")?,
                    r.try_get("at")?,
                    r.try_get::<&str, _>("kind")?,
                    account.as_deref(),
                    r.try_get::<&str, _>("details")?,
                    r.try_get::<&[u8], _>("prev_hash")?,
                    r.try_get::<&[u8], _>("hash")?,
                );
                if let Err(report) = step {
                    return Ok(report);
                }
            }
        }
        Ok(walker.finish(head_seq, &head_hash))
    }
}
