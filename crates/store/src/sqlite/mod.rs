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

/// How the SQLite store trades durability for speed, and how much memory it
/// gives SQLite. The defaults are the service's; tests and tools use them too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteTuning {
    /// `normal`: a commit survives the process being killed but may be lost
    /// (never half applied) on a power loss; `full`: it survives both.
    pub synchronous: Durability,
    /// Read connections beside the one writer.
    pub readers: u32,
    /// Page cache per connection, in KiB.
    pub cache_kib: u32,
}

impl Default for SqliteTuning {
    fn default() -> Self {
        SqliteTuning {
            synchronous: Durability::Normal,
            readers: 4,
            cache_kib: 8 * 1024,
        }
    }
}

/// SQLite's `synchronous` setting, as far as the service offers it (WAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Normal,
    Full,
}

/// The SQLite store. It holds the audit key: every event it appends is
/// linked under it, and the chain is verified with it.
///
/// Writes go through one connection (`writer`): SQLite lets one writer in at
/// a time anyway, and with several write connections the losers of the lock
/// sleep in SQLite's busy handler (up to 100 ms a turn) instead of queueing.
/// On one connection they queue on the pool, in order, and wake as soon as
/// the writer is free. Reads take the other connections (`reads`), which WAL
/// lets run beside the writer.
#[derive(Clone)]
pub struct SqliteStore {
    reads: SqlitePool,
    writer: SqlitePool,
    audit_key: AuditKey,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file. Does not migrate.
    pub async fn open(file: &Path, audit_key: AuditKey) -> Result<Self> {
        let options = SqliteConnectOptions::new().filename(file).create_if_missing(true);
        Self::connect(options, audit_key, SqliteTuning::default()).await
    }

    /// Opens a database by URL (`sqlite://path`), creating it if missing.
    pub async fn open_url(url: &str, audit_key: AuditKey, tuning: SqliteTuning) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        Self::connect(options, audit_key, tuning).await
    }

    /// Opens a database by URL that must exist already (for inspection).
    pub async fn open_existing(url: &str, audit_key: AuditKey) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?.create_if_missing(false);
        Self::connect(options, audit_key, SqliteTuning::default()).await
    }

    async fn connect(options: SqliteConnectOptions, audit_key: AuditKey, tuning: SqliteTuning) -> Result<Self> {
        let options = tune(options, tuning);
        // The writer first: it creates the file and switches it to WAL.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reads = SqlitePoolOptions::new()
            .max_connections(tuning.readers.max(1))
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore {
            reads,
            writer,
            audit_key,
        })
    }

    /// Applies pending migrations to the database at `url` (creating it) and
    /// nothing else: needs no key. The chain is keyed later, by the first
    /// store that [migrates](Self::migrate) it with its key.
    pub async fn migrate_schema(url: &str) -> Result<()> {
        let options = tune(
            SqliteConnectOptions::from_str(url)?.create_if_missing(true),
            SqliteTuning::default(),
        );
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok(())
    }

    /// Applies pending migrations, then keys the audit chain if it is not
    /// keyed yet (a fresh database gets the switch event as its first event).
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.writer).await?;
        self.key_chain().await
    }

    /// A write transaction that takes SQLite's write lock at once, so that two
    /// transactions which read before they write cannot deadlock on upgrading
    /// (another process, such as `shiming audit`, may hold a connection too).
    async fn write(&self) -> Result<WriteTx<'_>> {
        Ok(WriteTx {
            tx: self.writer.begin_with("BEGIN IMMEDIATE").await?,
            audit_key: &self.audit_key,
        })
    }
}

fn tune(options: SqliteConnectOptions, tuning: SqliteTuning) -> SqliteConnectOptions {
    let synchronous = match tuning.synchronous {
        Durability::Normal => SqliteSynchronous::Normal,
        Durability::Full => SqliteSynchronous::Full,
    };
    options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // A negative cache_size is in KiB.
        .pragma("cache_size", format!("-{}", tuning.cache_kib))
        .pragma("temp_store", "memory")
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
        sqlx::query("SELECT seq FROM audit_head").execute(&self.reads).await?;
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
