use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::Row;

use super::{write, PgStore};
use crate::chain::{switch_needed, ChainHead, ChainWalker, EventFields, StoredEvent};
use crate::{AuditRecord, AuditStore, ChainReport, Result};

impl PgStore {
    /// Appends the switch event when the chain's newest event is not keyed
    /// (or there is none). Its link, keyed, covers every plain link before
    /// it. Nodes starting together wait for each other on the head's lock:
    /// the switch is appended once.
    pub(super) async fn key_chain(&self) -> Result<()> {
        write!(self, |tx| {
            let (seq, newest): (i64, Option<String>) = sqlx::query_as(
                "SELECT h.seq, (SELECT link_kind FROM audit_events WHERE seq = h.seq) FROM audit_head h \
                 WHERE h.id = 1 FOR UPDATE",
            )
            .fetch_one(&mut *tx.conn)
            .await?;
            if let Some(switch) = switch_needed(newest.as_deref(), seq) {
                tx.audit(&switch);
            }
        })
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn audit_of(&self, account_id: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows: Vec<(i64, i64, String, Option<String>, String)> = sqlx::query_as(
            "SELECT seq, at, kind, account_id, details FROM audit_events WHERE account_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(records(rows))
    }

    async fn enterprise_audit(&self, enterprise_id: &str, before: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query_as(
            "SELECT seq, at, kind, account_id, details FROM audit_events \
             WHERE enterprise_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(enterprise_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(records(rows))
    }

    async fn verify_chain(&self, recorded: Option<ChainHead>) -> Result<ChainReport> {
        // One snapshot (REPEATABLE READ): events appended meanwhile, on any
        // node, neither count nor break it. The events are streamed, not
        // loaded whole.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let (tip_seq, tip_link): (i64, Vec<u8>) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut walker = ChainWalker::new(&self.audit_key, recorded);
        let report = {
            let mut rows = sqlx::query(
                "SELECT seq, at, kind, account_id, details, prev_hash, hash, link_kind FROM audit_events ORDER BY seq",
            )
            .fetch(&mut *tx);
            loop {
                let Some(r) = rows.try_next().await? else {
                    break walker.finish(tip_seq, &tip_link);
                };
                let event = StoredEvent {
                    fields: EventFields {
                        seq: r.try_get(0)?,
                        at: r.try_get(1)?,
                        kind: r.try_get(2)?,
                        account_id: r.try_get(3)?,
                        details: r.try_get(4)?,
                    },
                    prev: r.try_get(5)?,
                    link: r.try_get(6)?,
                    link_kind: r.try_get(7)?,
                };
                if let Err(report) = walker.step(&event) {
                    break report;
                }
            }
        };
        tx.rollback().await?;
        Ok(report)
    }
}

/// Events as read (`seq, at, kind, account_id, details`).
fn records(rows: Vec<(i64, i64, String, Option<String>, String)>) -> Vec<AuditRecord> {
    rows.into_iter()
        .map(|(seq, at, kind, account_id, details)| AuditRecord {
            seq,
            at,
            kind,
            account_id,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        })
        .collect()
}
