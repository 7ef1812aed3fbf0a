use async_trait::async_trait;
use shiming_domain::CodePurpose;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::{CodeHolder, CodeRecord, CodeStore, NewCode, RateLimit, RateStore, Result, StoreError};

/// Checks every limit, then counts a hit in each; inside the caller's
/// write transaction, so parallel callers cannot both take the last slot.
pub(super) async fn take_limits(conn: &mut SqliteConnection, limits: &[RateLimit]) -> Result<()> {
    for l in limits {
        let (count, oldest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(at) FROM rate_hits WHERE bucket = ? AND key = ? AND at > ?")
                .bind(&l.bucket)
                .bind(&l.key)
                .bind(l.now - l.window)
                .fetch_one(&mut *conn)
                .await?;
        if count >= i64::from(l.limit) {
            let retry_after = oldest.map_or(l.window, |t| t + l.window - l.now).max(1);
            return Err(StoreError::RateLimited {
                bucket: l.bucket.clone(),
                retry_after,
            });
        }
    }
    for l in limits {
        sqlx::query("INSERT INTO rate_hits (bucket, key, at) VALUES (?, ?, ?)")
            .bind(&l.bucket)
            .bind(&l.key)
            .bind(l.now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Removes one hit of each limit, counted at the limit's `now`.
async fn give_back_limits(conn: &mut SqliteConnection, limits: &[RateLimit]) -> Result<()> {
    for l in limits {
        sqlx::query(
            "DELETE FROM rate_hits WHERE rowid = (SELECT rowid FROM rate_hits WHERE bucket = ? AND key = ? AND at = ? LIMIT 1)",
        )
        .bind(&l.bucket)
        .bind(&l.key)
        .bind(l.now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl RateStore for SqliteStore {
    async fn take(&self, limits: &[RateLimit]) -> Result<()> {
        let mut tx = self.write().await?;
        take_limits(&mut tx, limits).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl CodeStore for SqliteStore {
    async fn issue_code(&self, code: NewCode, limits: &[RateLimit]) -> Result<i64> {
        let mut tx = self.write().await?;
        take_limits(&mut tx, limits).await?;
        // Only the newest code of a phone, purpose and holder works.
        sqlx::query(
            "UPDATE sms_codes SET consumed_at = ? WHERE phone_hash = ? AND purpose = ? AND account_id IS ? \
             AND session_id IS ? AND consumed_at IS NULL",
        )
        .bind(code.created_at)
        .bind(&code.phone_hash)
        .bind(code.purpose.as_str())
        .bind(&code.account_id)
        .bind(&code.session_id)
        .execute(&mut *tx)
        .await?;
        let id = sqlx::query_scalar(
            "INSERT INTO sms_codes (account_id, session_id, phone_hash, purpose, code_hash, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&code.account_id)
        .bind(&code.session_id)
        .bind(&code.phone_hash)
        .bind(code.purpose.as_str())
        .bind(&code.code_hash)
        .bind(code.created_at)
        .bind(code.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn discard_code(&self, id: i64, limits: &[RateLimit]) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sms_codes WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        give_back_limits(&mut tx, limits).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_try(
        &self,
        phone_hash: &[u8],
        purpose: CodePurpose,
        holder: Option<CodeHolder<'_>>,
        now: i64,
        max_attempts: u32,
        limits: &[RateLimit],
    ) -> Result<Option<CodeRecord>> {
        let mut tx = self.write().await?;
        take_limits(&mut tx, limits).await?;
        // One statement finds the newest live code and counts the try on it,
        // so no more than `max_attempts` guesses are ever compared with it,
        // however many arrive at once.
        let row: Option<(i64, Vec<u8>, i64)> = sqlx::query_as(
            "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = (\
                 SELECT id FROM sms_codes WHERE phone_hash = ?1 AND purpose = ?2 AND account_id IS ?3 \
                 AND session_id IS ?6 AND consumed_at IS NULL AND expires_at > ?4 AND attempts < ?5 \
                 ORDER BY id DESC LIMIT 1) \
             AND attempts < ?5 RETURNING id, code_hash, attempts",
        )
        .bind(phone_hash)
        .bind(purpose.as_str())
        .bind(holder.map(|h| h.account_id))
        .bind(now)
        .bind(max_attempts)
        .bind(holder.map(|h| h.session_id))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|(id, code_hash, attempts)| CodeRecord {
            id,
            code_hash,
            attempts: attempts as u32,
        }))
    }

    async fn consume_code(&self, id: i64, at: i64, give_back: &[RateLimit]) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE sms_codes SET consumed_at = ?1 WHERE id = ?2 AND consumed_at IS NULL AND expires_at > ?1",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 1 {
            give_back_limits(&mut tx, give_back).await?;
        }
        tx.commit().await?;
        Ok(done == 1)
    }
}
