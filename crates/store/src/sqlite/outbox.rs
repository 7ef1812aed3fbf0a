use async_trait::async_trait;
use rusqlite::{params, Row};

use super::worker::Tx;
use super::SqliteStore;
use crate::{OutboxMessage, OutboxStore, Result};

/// Stores one message in the development outbox, in the caller's transaction.
pub(super) fn push(tx: &Tx<'_>, m: &OutboxMessage) -> Result<()> {
    tx.conn
        .prepare_cached("INSERT INTO sms_outbox (phone_hash, phone_sealed, text_sealed, sent_at) VALUES (?, ?, ?, ?)")?
        .execute(params![m.phone_hash, m.phone_sealed, m.text_sealed, m.sent_at])?;
    Ok(())
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn push_outbox(&self, m: OutboxMessage) -> Result<()> {
        self.db.write(move |tx| push(tx, &m)).await
    }

    async fn outbox(&self, phone_hash: Option<&[u8]>, limit: u32) -> Result<Vec<OutboxMessage>> {
        self.db
            .read(|conn| {
                // Two statements, not `?1 IS NULL OR phone_hash = ?1`: SQLite plans
                // that as a scan of the whole outbox, while one phone's messages are
                // a range of the index `sms_outbox_by_phone`.
                let rows = match phone_hash {
                    Some(hash) => conn
                        .prepare_cached(
                            "SELECT phone_hash, phone_sealed, text_sealed, sent_at FROM sms_outbox \
                             WHERE phone_hash = ? ORDER BY id DESC LIMIT ?",
                        )?
                        .query_map(params![hash, limit], message)?
                        .collect::<rusqlite::Result<Vec<_>>>(),
                    None => conn
                        .prepare_cached(
                            "SELECT phone_hash, phone_sealed, text_sealed, sent_at FROM sms_outbox ORDER BY id DESC LIMIT ?",
                        )?
                        .query_map([limit], message)?
                        .collect(),
                };
                Ok(rows?)
            })
    }
}

fn message(r: &Row<'_>) -> rusqlite::Result<OutboxMessage> {
    Ok(OutboxMessage {
        phone_hash: r.get(0)?,
        phone_sealed: r.get(1)?,
        text_sealed: r.get(2)?,
        sent_at: r.get(3)?,
    })
}
