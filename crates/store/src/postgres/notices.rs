use async_trait::async_trait;
use shiming_domain::CredentialKind;
use sqlx::PgConnection;

use super::{PgStore, Tx};
use crate::error::word;
use crate::{AccountNotice, AccountNoticeStore, NewAccountNotice, Result};

/// Adds a notice to the account's list, inside the caller's transaction.
pub(super) async fn insert_account_notice(
    tx: &mut Tx<'_>,
    account_id: &str,
    n: &NewAccountNotice,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO account_notices (account_id, kind, credential, masked_sealed, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account_id)
    .bind(n.kind)
    .bind(n.credential.as_str())
    .bind(&n.masked_sealed)
    .bind(at)
    .execute(&mut *tx.conn)
    .await?;
    Ok(())
}

pub(super) async fn unread_notices(conn: &mut PgConnection, account_id: &str) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM account_notices WHERE account_id = $1 AND read_at IS NULL")
        .bind(account_id)
        .fetch_one(conn)
        .await?;
    Ok(n as u64)
}

#[async_trait]
impl AccountNoticeStore for PgStore {
    async fn account_notices(&self, account_id: &str, limit: u32) -> Result<Vec<AccountNotice>> {
        let rows: Vec<(i64, String, String, Vec<u8>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, kind, credential, masked_sealed, created_at, read_at FROM account_notices \
             WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, kind, credential, masked_sealed, at, read_at)| {
                Ok(AccountNotice {
                    id,
                    kind,
                    credential: word(CredentialKind::parse, credential)?,
                    masked_sealed,
                    at,
                    read: read_at.is_some(),
                })
            })
            .collect()
    }

    async fn unread_notices(&self, account_id: &str) -> Result<u64> {
        let mut conn = self.pool.acquire().await?;
        unread_notices(&mut conn, account_id).await
    }

    async fn read_notices(&self, account_id: &str, at: i64) -> Result<u64> {
        Ok(
            sqlx::query("UPDATE account_notices SET read_at = $1 WHERE account_id = $2 AND read_at IS NULL")
                .bind(at)
                .bind(account_id)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
