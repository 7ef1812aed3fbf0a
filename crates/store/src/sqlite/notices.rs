use async_trait::async_trait;
use rusqlite::{params, Connection};
use shiming_domain::CredentialKind;

use super::worker::Tx;
use super::SqliteStore;
use crate::error::word;
use crate::{AccountNotice, AccountNoticeStore, NewAccountNotice, Result};

/// Adds a notice to the account's list, inside the caller's transaction.
pub(super) fn insert_account_notice(tx: &Tx<'_>, account_id: &str, n: &NewAccountNotice, at: i64) -> Result<()> {
    tx.conn
        .prepare_cached(
            "INSERT INTO account_notices (account_id, kind, credential, masked_sealed, created_at) VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![account_id, n.kind, n.credential.as_str(), n.masked_sealed, at])?;
    Ok(())
}

pub(super) fn unread_notices(conn: &Connection, account_id: &str) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM account_notices WHERE account_id = ? AND read_at IS NULL")?
        .query_row([account_id], |r| r.get(0))?;
    Ok(n as u64)
}

#[async_trait]
impl AccountNoticeStore for SqliteStore {
    async fn account_notices(&self, account_id: &str, limit: u32) -> Result<Vec<AccountNotice>> {
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, kind, credential, masked_sealed, created_at, read_at FROM account_notices \
                     WHERE account_id = ? ORDER BY id DESC LIMIT ?",
            )?;
            let mut rows = stmt.query(params![account_id, limit])?;
            let mut notices = Vec::new();
            while let Some(r) = rows.next()? {
                notices.push(AccountNotice {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    credential: word(CredentialKind::parse, r.get(2)?)?,
                    masked_sealed: r.get(3)?,
                    at: r.get(4)?,
                    read: r.get::<_, Option<i64>>(5)?.is_some(),
                });
            }
            Ok(notices)
        })
    }

    async fn unread_notices(&self, account_id: &str) -> Result<u64> {
        self.db.read(|conn| unread_notices(conn, account_id))
    }

    async fn read_notices(&self, account_id: &str, at: i64) -> Result<u64> {
        let account_id = account_id.to_owned();
        self.db
            .write(move |tx| {
                Ok(tx
                    .conn
                    .prepare_cached("UPDATE account_notices SET read_at = ? WHERE account_id = ? AND read_at IS NULL")?
                    .execute(params![at, account_id])? as u64)
            })
            .await
    }
}
