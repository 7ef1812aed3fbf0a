//! The SQLite implementation: the embedded default, one file in the data folder.

mod accounts;
mod approvals;
mod audit;
mod codes;
mod enterprises;
mod invitations;
mod notices;
mod oauth;
mod outbox;
mod rebind;
mod sessions;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;
use shiming_vault::AuditKey;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use crate::chain::NextEvent;
use crate::{AuditDraft, KeyCheck, Maintenance, Result, SessionCache, StoreError};
use worker::{Connections, Tx};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The version of this build's newest SQLite migration.
pub(crate) fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// How the SQLite store trades durability for speed, and how much memory it
/// gives SQLite. The defaults are the service's; tests and tools use them too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteTuning {
    /// `normal`: a commit survives the process being killed but may be lost
    /// (never half applied) on a power loss; `full`: it survives both.
    pub synchronous: Durability,
    /// Read-only connections beside the one writer.
    pub readers: u32,
    /// Page cache per connection, in KiB.
    pub cache_kib: u32,
    /// How many pages the WAL may hold before the commit that crosses it
    /// copies them into the database file (SQLite's `wal_autocheckpoint`).
    /// A checkpoint copies each page once however often it was written
    /// since the last one, and syncs the file: with SQLite's default of
    /// 1 000 pages, checkpoints of the same hot pages took most of the
    /// writer's time under load (see docs/performance.md).
    pub checkpoint_pages: u32,
    /// Sessions kept validated in memory (0: none); see [`SessionCache`].
    pub cached_sessions: usize,
}

impl Default for SqliteTuning {
    fn default() -> Self {
        SqliteTuning {
            synchronous: Durability::Full,
            readers: 4,
            cache_kib: 8 * 1024,
            checkpoint_pages: 16 * 1024,
            cached_sessions: 65_536,
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
/// Writes go to one writer thread that commits them in batches; reads run on
/// the caller's thread on a few read-only connections ([`worker`]). The
/// schema is migrated through sqlx's migrator, which keeps the migration
/// history the service always had.
#[derive(Clone)]
pub struct SqliteStore {
    db: Connections,
    url: String,
    audit_key: AuditKey,
    sessions: Arc<SessionCache>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file. Does not migrate.
    pub async fn open(file: &Path, audit_key: AuditKey) -> Result<Self> {
        let url = format!("sqlite://{}", file.display());
        Self::connect(&url, true, audit_key, SqliteTuning::default())
    }

    /// Opens a database by URL (`sqlite://path`), creating it if missing.
    pub async fn open_url(url: &str, audit_key: AuditKey, tuning: SqliteTuning) -> Result<Self> {
        Self::connect(url, true, audit_key, tuning)
    }

    /// Opens a database by URL that must exist already (for inspection).
    pub async fn open_existing(url: &str, audit_key: AuditKey) -> Result<Self> {
        Self::connect(url, false, audit_key, SqliteTuning::default())
    }

    fn connect(url: &str, create: bool, audit_key: AuditKey, tuning: SqliteTuning) -> Result<Self> {
        let file = file_of(url)?;
        let db = Connections::open(&file, create, tuning, audit_key.clone())?;
        Ok(SqliteStore {
            db,
            url: url.to_owned(),
            audit_key,
            sessions: Arc::new(SessionCache::new(tuning.cached_sessions)),
        })
    }

    /// Applies pending migrations to the database at `url` (creating it) and
    /// nothing else: needs no key. The chain is keyed later, by the first
    /// store that [migrates](Self::migrate) it with its key.
    pub async fn migrate_schema(url: &str) -> Result<()> {
        let options = SqliteConnectOptions::new()
            .filename(file_of(url)?)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok(())
    }

    /// Applies pending migrations, then keys the audit chain if it is not
    /// keyed yet (a fresh database gets the switch event as its first event).
    pub async fn migrate(&self) -> Result<()> {
        Self::migrate_schema(&self.url).await?;
        self.key_chain().await
    }
}

/// The file a `sqlite://path` (or `sqlite:path`) URL names. The store opens
/// several connections to it, so an in-memory database cannot be one.
fn file_of(url: &str) -> Result<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Url(format!("{url}: not a sqlite:// URL")))?;
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Err(StoreError::Url(format!(
            "{url}: needs a file (the store opens several connections to it)"
        )));
    }
    Ok(PathBuf::from(path))
}

/// Maps a unique-constraint violation to [`StoreError::CredentialInUse`].
fn credential_conflict(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
            StoreError::CredentialInUse
        }
        _ => StoreError::Sqlite(e),
    }
}

/// Appends one event to the audit chain inside the caller's transaction
/// (the single writer holds the head), linked under the audit key.
fn append_audit(tx: &Tx<'_>, draft: &AuditDraft) -> Result<()> {
    let (seq, head): (i64, Vec<u8>) = tx
        .conn
        .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let e = NextEvent::after(seq, head, draft, tx.audit_key);
    tx.conn
        .prepare_cached(
            "INSERT INTO audit_events (seq, at, kind, account_id, details, enterprise_id, prev_hash, hash, link_kind) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            e.seq,
            e.at,
            e.kind,
            e.account_id,
            e.details,
            e.enterprise_id,
            e.prev,
            &e.link[..],
            e.link_kind
        ])?;
    tx.conn
        .prepare_cached("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1")?
        .execute(params![e.seq, &e.link[..]])?;
    Ok(())
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn ping(&self) -> Result<()> {
        // A query on the schema, not `SELECT 1`: a database that answers but
        // lost its tables (or was never migrated) is not ready either.
        self.db.read(|conn| {
            conn.prepare_cached("SELECT seq FROM audit_head")?
                .query_row([], |_| Ok(()))?;
            Ok(())
        })
    }

    async fn key_check(&self, proposed: KeyCheck) -> Result<KeyCheck> {
        self.db
            .write(move |tx| {
                let p = &proposed;
                tx.conn
                    .prepare_cached(
                        "INSERT INTO key_check (id, sealed, peppered, audit_mac, created_at) VALUES (1, ?, ?, ?, ?) \
                         ON CONFLICT (id) DO NOTHING",
                    )?
                    .execute(params![p.sealed, p.peppered, p.audit_mac, p.created_at])?;
                Ok(tx
                    .conn
                    .prepare_cached("SELECT sealed, peppered, audit_mac, created_at FROM key_check WHERE id = 1")?
                    .query_row([], |r| {
                        Ok(KeyCheck {
                            sealed: r.get(0)?,
                            peppered: r.get(1)?,
                            audit_mac: r.get(2)?,
                            created_at: r.get(3)?,
                        })
                    })?)
            })
            .await
    }

    async fn sweep(&self, now: i64, horizon: i64) -> Result<()> {
        self.db
            .write(move |tx| {
                tx.conn.execute("DELETE FROM sessions WHERE expires_at <= ?", [now])?;
                tx.conn.execute("DELETE FROM sms_codes WHERE expires_at <= ?", [now])?;
                // Pending changes and sent notices hold sealed personal data: kept no longer than needed.
                tx.conn
                    .execute("DELETE FROM pending_changes WHERE expires_at <= ?", [now])?;
                tx.conn
                    .execute("DELETE FROM notices WHERE sent_at IS NOT NULL OR attempts >= 5", [])?;
                tx.conn
                    .execute("DELETE FROM oauth_flows WHERE expires_at <= ?", [now])?;
                // A key whose newest hit is past the horizon goes whole; a busier
                // key's old hits go at its next take (which keeps its count right).
                tx.conn.execute(
                    "DELETE FROM rate_hits WHERE (bucket, key) IN \
                     (SELECT bucket, key FROM rate_counts WHERE newest <= ?1)",
                    [now - horizon],
                )?;
                tx.conn
                    .execute("DELETE FROM rate_counts WHERE newest <= ?", [now - horizon])?;
                Ok(())
            })
            .await
    }
}
