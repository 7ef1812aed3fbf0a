//! The SQLite implementation: the embedded default, one file in the data folder.

mod accounts;
mod audit;
mod codes;
mod notices;
mod oauth;
mod outbox;
mod rebind;
mod sessions;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::chain::event_hash;
use crate::{AuditDraft, Maintenance, Result, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file. Does not migrate.
    pub async fn open(file: &Path) -> Result<Self> {
        Self::connect(SqliteConnectOptions::new().filename(file).create_if_missing(true)).await
    }

    /// Opens a database by URL (`sqlite://path`, `sqlite::memory:`).
    pub async fn open_url(url: &str) -> Result<Self> {
        Self::connect(SqliteConnectOptions::from_str(url)?.create_if_missing(true)).await
    }

    /// Opens a database by URL that must exist already (for inspection).
    pub async fn open_existing(url: &str) -> Result<Self> {
        Self::connect(SqliteConnectOptions::from_str(url)?.create_if_missing(false)).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// A write transaction that takes SQLite's write lock at once, so that two
    /// transactions which read before they write cannot deadlock on upgrading.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Maps a unique-constraint violation to [`StoreError::CredentialInUse`].
fn credential_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::CredentialInUse,
        _ => StoreError::Database(e),
    }
}

/// Appends one event to the audit chain inside the caller's transaction.
async fn append_audit(conn: &mut SqliteConnection, draft: &AuditDraft) -> Result<()> {
    let at = draft.at;
    let (seq, prev): (i64, Vec<u8>) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let seq = seq + 1;
    let details = draft.details.to_string();
    let hash = event_hash(&prev, seq, at, draft.kind, draft.account_id.as_deref(), &details);
    sqlx::query(
        "INSERT INTO audit_events (seq, at, kind, account_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(at)
    .bind(draft.kind)
    .bind(draft.account_id.as_deref())
    .bind(&details)
    .bind(&prev)
    .bind(&hash[..])
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1")
        .bind(seq)
        .bind(&hash[..])
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn sweep(&self, now: i64, horizon: i64) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sms_codes WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // Pending changes and sent notices hold sealed personal data: kept no longer than needed.
        sqlx::query("DELETE FROM pending_changes WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM notices WHERE sent_at IS NOT NULL OR attempts >= 5")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM oauth_flows WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM rate_hits WHERE at <= ?")
            .bind(now - horizon)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
