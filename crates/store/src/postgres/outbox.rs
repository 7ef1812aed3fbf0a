use async_trait::async_trait;

use sqlx::PgConnection;

use super::PgStore;
use crate::{OutboxMessage, OutboxStore, Result};

/// Stores one message in the development outbox, in the caller's transaction.
pub(super) async fn push(conn: &mut PgConnection, m: &OutboxMessage) -> Result<()> {
    sqlx::query("INSERT INTO sms_outbox (phone_hash, phone_sealed, text_sealed, sent_at) VALUES ($1, $2, $3, $4)")
        .bind(&m.phone_hash)
        .bind(&m.phone_sealed)
        .bind(&m.text_sealed)
        .bind(m.sent_at)
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn push_outbox(&self, m: OutboxMessage) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        push(&mut conn, &m).await
    }

    async fn outbox(&self, phone_hash: Option<&[u8]>, limit: u32) -> Result<Vec<OutboxMessage>> {
        // Two statements, not `$1 IS NULL OR phone_hash = $1`: a prepared
        // statement's generic plan cannot use the index for that, and scans
        // the whole outbox.
        let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>, i64)> =
            match phone_hash {
                Some(hash) => {
                    sqlx::query_as(
                        "SELECT phone_hash, phone_sealed, text_sealed, sent_at FROM sms_outbox \
                     WHERE phone_hash = $1 ORDER BY id DESC LIMIT $2",
                    )
                    .bind(hash)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                }
                None => sqlx::query_as(
                    "SELECT phone_hash, phone_sealed, text_sealed, sent_at FROM sms_outbox ORDER BY id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?,
            };
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
