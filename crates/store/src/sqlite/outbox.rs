use async_trait::async_trait;

use super::SqliteStore;
use crate::{OutboxMessage, OutboxStore, Result};

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn push_outbox(&self, m: OutboxMessage) -> Result<()> {
        sqlx::query("INSERT INTO sms_outbox (phone_hash, phone_sealed, text_sealed, sent_at) VALUES (?, ?, ?, ?)")
            .bind(&m.phone_hash)
            .bind(&m.phone_sealed)
            .bind(&m.text_sealed)
            .bind(m.sent_at)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn outbox(&self, phone_hash: Option<&[u8]>, limit: u32) -> Result<Vec<OutboxMessage>> {
        // Two statements, not `?1 IS NULL OR phone_hash = ?1`: SQLite plans
        // that as a scan of the whole outbox, while one phone's messages are
        // a range of the index `sms_outbox_by_phone`.
        let query = match phone_hash {
            Some(hash) => sqlx::query_as(
                "SELECT phone_hash, phone_sealed, text_sealed, sent_at FROM sms_outbox \
                 WHERE phone_hash = ? ORDER BY id DESC LIMIT ?",
            )
            .bind(hash),
            None => sqlx::query_as(
                "SELECT phone_hash, phone_sealed, text_sealed, sent_at FROM sms_outbox ORDER BY id DESC LIMIT ?",
            ),
        };
        let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>, i64)> = query.bind(limit).fetch_all(&self.reads).await?;
        Ok(rows
            .into_iter()
            .map(|(phone_hash, phone_sealed, text_sealed, sent_at)| OutboxMessage {
                phone_hash,
                phone_sealed,
                text_sealed,
                sent_at,
            })
            .collect())
    }
}
