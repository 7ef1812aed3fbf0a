use async_trait::async_trait;
use rusqlite::params;

use super::{append_audit, SqliteStore};
use crate::chain::{switch_needed, ChainHead, ChainWalker, EventFields, StoredEvent};
use crate::{AuditRecord, AuditStore, ChainReport, Result};

impl SqliteStore {
    /// Appends the switch event when the chain's newest event is not keyed
    /// (or there is none). Its link, keyed, covers every plain link before it.
    pub(super) async fn key_chain(&self) -> Result<()> {
        self.db
            .write(|tx| {
                let (seq, newest): (i64, Option<String>) = tx
                    .conn
                    .prepare(
                        "SELECT h.seq, (SELECT link_kind FROM audit_events WHERE seq = h.seq) FROM audit_head h WHERE h.id = 1",
                    )?
                    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                if let Some(switch) = switch_needed(newest.as_deref(), seq) {
                    append_audit(tx, &switch)?;
                }
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_of(&self, account_id: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        self.db.read(|conn| {
            events(
                conn,
                "SELECT seq, at, kind, account_id, details FROM audit_events WHERE account_id = ? ORDER BY seq DESC LIMIT ?",
                params![account_id, limit],
            )
        })
    }

    async fn enterprise_audit(&self, enterprise_id: &str, before: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.db.read(|conn| {
            events(
                conn,
                "SELECT seq, at, kind, account_id, details FROM audit_events \
                 WHERE enterprise_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                params![enterprise_id, before.unwrap_or(i64::MAX), limit],
            )
        })
    }

    async fn verify_chain(&self, recorded: Option<ChainHead>) -> Result<ChainReport> {
        let key = self.audit_key.clone();
        self.db
            .read_long(move |conn| {
                // One snapshot: events appended meanwhile neither count nor break it.
                let tx = conn.transaction()?;
                let (tip_seq, tip_link): (i64, Vec<u8>) = tx
                    .prepare("SELECT seq, hash FROM audit_head WHERE id = 1")?
                    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut walker = ChainWalker::new(&key, recorded);
                let mut stmt = tx.prepare(
                    "SELECT seq, at, kind, account_id, details, prev_hash, hash, link_kind FROM audit_events ORDER BY seq",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let event = StoredEvent {
                        fields: EventFields {
                            seq: r.get(0)?,
                            at: r.get(1)?,
                            kind: r.get_ref(2)?.as_str()?,
                            account_id: r.get_ref(3)?.as_str_or_null()?,
                            details: r.get_ref(4)?.as_str()?,
                        },
                        prev: r.get_ref(5)?.as_blob()?,
                        link: r.get_ref(6)?.as_blob()?,
                        link_kind: r.get_ref(7)?.as_str()?,
                    };
                    if let Err(report) = walker.step(&event) {
                        return Ok(report);
                    }
                }
                Ok(walker.finish(tip_seq, &tip_link))
            })
            .await
    }
}

/// The events `sql` selects (`seq, at, kind, account_id, details`).
fn events(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<AuditRecord>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| {
        let details: String = r.get(4)?;
        Ok(AuditRecord {
            seq: r.get(0)?,
            at: r.get(1)?,
            kind: r.get(2)?,
            account_id: r.get(3)?,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
