//! The SQLite implementation: the embedded default, one file in the data folder.

mod accounts;
mod audit;
mod codes;
mod notices;
mod oauth;
mod outbox;
mod rebind;
mod sessions;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use shiming_vault::AuditKey;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::chain::{EventFields, LinkKind};
use crate::{AuditDraft, Maintenance, Result, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store. It holds the audit key: every event it appends is
/// linked under it, and the chain is verified with it.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    audit_key: AuditKey,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file. Does not migrate.
    pub async fn open(file: &Path, audit_key: AuditKey) -> Result<Self> {
        let pool = connect(SqliteConnectOptions::new().filename(file).create_if_missing(true)).await?;
        Ok(SqliteStore { pool, audit_key })
    }

    /// Opens a database by URL (`sqlite://path`, `sqlite::memory:`).
    pub async fn open_url(url: &str, audit_key: AuditKey) -> Result<Self> {
        let pool = connect(SqliteConnectOptions::from_str(url)?.create_if_missing(true)).await?;
        Ok(SqliteStore { pool, audit_key })
    }

    /// Opens a database by URL that must exist already (for inspection).
    pub async fn open_existing(url: &str, audit_key: AuditKey) -> Result<Self> {
        let pool = connect(SqliteConnectOptions::from_str(url)?.create_if_missing(false)).await?;
        Ok(SqliteStore { pool, audit_key })
    }

    /// Applies pending migrations to the database at `url` (creating it) and
    /// nothing else: needs no key. The chain is keyed later, by the first
    /// store that [migrates](Self::migrate) it with its key.
    pub async fn migrate_schema(url: &str) -> Result<()> {
        let pool = connect(SqliteConnectOptions::from_str(url)?.create_if_missing(true)).await?;
        MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok(())
    }

    /// Applies pending migrations, then keys the audit chain if it is not
    /// keyed yet (a fresh database gets the switch event as its first event).
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        self.key_chain().await
    }

    /// A write transaction that takes SQLite's write lock at once, so that two
    /// transactions which read before they write cannot deadlock on upgrading.
    async fn write(&self) -> Result<WriteTx<'_>> {
        Ok(WriteTx {
            tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
            audit_key: &self.audit_key,
        })
    }
}

async fn connect(options: SqliteConnectOptions) -> Result<SqlitePool> {
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?)
}

/// A write transaction of the store. It carries the audit key, so that audit
/// events are appended only inside write transactions, always keyed.
struct WriteTx<'s> {
    tx: Transaction<'static, Sqlite>,
    audit_key: &'s AuditKey,
}

impl WriteTx<'_> {
    async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }
}

impl Deref for WriteTx<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// Maps a unique-constraint violation to [`StoreError::CredentialInUse`].
fn credential_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::CredentialInUse,
        _ => StoreError::Database(e),
    }
}

/// Appends one event to the audit chain inside the caller's transaction,
/// linked under the audit key.
async fn append_audit(tx: &mut WriteTx<'_>, draft: &AuditDraft) -> Result<()> {
    let (seq, prev): (i64, Vec<u8>) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    let details = draft.details.to_string();
    let fields = EventFields {
        seq: seq + 1,
        at: draft.at,
        kind: draft.kind,
        account_id: draft.account_id.as_deref(),
        details: &details,
    };
    let link = fields.keyed_link(tx.audit_key, &prev);
    sqlx::query(
        "INSERT INTO audit_events (seq, at, kind, account_id, details, prev_hash, hash, link_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(fields.seq)
    .bind(fields.at)
    .bind(fields.kind)
    .bind(fields.account_id)
    .bind(fields.details)
    .bind(&prev)
    .bind(&link[..])
    .bind(LinkKind::Keyed.as_str())
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1")
        .bind(fields.seq)
        .bind(&link[..])
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn ping(&self) -> Result<()> {
        // A query on the schema, not `SELECT 1`: a database that answers but
        // lost its tables (or was never migrated) is not ready either.
        sqlx::query("SELECT seq FROM audit_head").execute(&self.pool).await?;
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
