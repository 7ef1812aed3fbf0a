use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::Row;

use super::{append_audit, SqliteStore};
use crate::chain::{ChainHead, ChainWalker, EventFields, LinkKind, StoredEvent, KEYED_SWITCH};
use crate::{AuditDraft, AuditRecord, AuditStore, ChainReport, Result};

impl SqliteStore {
    /// Appends the switch event when the chain's newest event is not keyed
    /// (or there is none). Its link, keyed, covers every plain link before it.
    pub(super) async fn key_chain(&self) -> Result<()> {
        let mut tx = self.write().await?;
        let (seq, newest): (i64, Option<String>) = sqlx::query_as(
            "SELECT h.seq, (SELECT link_kind FROM audit_events WHERE seq = h.seq) FROM audit_head h WHERE h.id = 1",
        )
        .fetch_one(&mut *tx)
        .await?;
        if newest.as_deref() != Some(LinkKind::Keyed.as_str()) {
            let switch = AuditDraft {
                kind: KEYED_SWITCH,
                at: time::OffsetDateTime::now_utc().unix_timestamp(),
                account_id: None,
                details: serde_json::json!({ "link": LinkKind::Keyed.as_str(), "plain_events": seq }),
            };
            append_audit(&mut tx, &switch).await?;
        }
        tx.commit().await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_of(&self, account_id: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows: Vec<(i64, i64, String, Option<String>, String)> =
            sqlx::query_as("SELECT seq, at, kind, account_id, details FROM audit_events WHERE account_id = ? ORDER BY seq DESC LIMIT ?")
                .bind(account_id)
                .bind(limit)
                .fetch_all(&self.reads)
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

    async fn verify_chain(&self, recorded: Option<ChainHead>) -> Result<ChainReport> {
        // One snapshot: events appended meanwhile neither count nor break it.
        let mut tx = self.reads.begin().await?;
        let (tip_seq, tip_link): (i64, Vec<u8>) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut walker = ChainWalker::new(&self.audit_key, recorded);
        {
            let mut rows = sqlx::query(
                "SELECT seq, at, kind, account_id, details, prev_hash, hash, link_kind FROM audit_events ORDER BY seq",
            )
            .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                let event = StoredEvent {
                    fields: EventFields {
                        seq: r.try_get("seq")?,
                        at: r.try_get("at")?,
                        kind: r.try_get("kind")?,
                        account_id: r.try_get("account_id")?,
                        details: r.try_get("details")?,
                    },
                    link_kind: r.try_get("link_kind")?,
                    prev: r.try_get("prev_hash")?,
                    link: r.try_get("hash")?,
                };
                if let Err(report) = walker.step(&event) {
                    return Ok(report);
                }
            }
        }
        Ok(walker.finish(tip_seq, &tip_link))
    }
}
