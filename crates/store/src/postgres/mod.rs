//! The PostgreSQL implementation: one database shared by every node.
//!
//! Each write is one transaction at READ COMMITTED, made race-free by the
//! rows it locks, always in one order so that two writers wait rather than
//! deadlock: the account (`FOR UPDATE`, or `FOR SHARE` where only its state
//! is read), then its codes and pending changes; then, at the transaction's
//! end, the count rows of the rate limits it takes (keys sorted) and last
//! the audit head, which every audited write locks to link its events (so
//! that writers on every node make one chain). The rows every request may
//! share (a client address's limits, the head) are so held only for the
//! last statements and the commit. Should PostgreSQL still break a deadlock
//! or a serialization conflict, the transaction is run again from its
//! start: nothing of the failed one was kept.
//!
//! Validated sessions are cached in memory as on SQLite, and kept true
//! across nodes by the database's notifications (see [`watch`]): a
//! sign-out, a revocation, a rebind, a freeze or a ban committed on one node
//! holds on every node before it is answered.

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
mod watch;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use shiming_vault::AuditKey;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};
use sqlx::Connection;
use sqlx::QueryBuilder;

use crate::backend::redacted;
use crate::chain::NextEvent;
use crate::{AuditDraft, KeyCheck, Maintenance, RateLimit, Result, SessionCache, StoreError};
use watch::Watch;

/// The migrations of this build. A database migrated by a newer build
/// holds migrations this one does not know: they are passed over, so that
/// the nodes still running the old build go on (and restart) while an
/// upgrade rolls through. Every migration is written for that: it adds, and
/// what old nodes still use is dropped only a release later (see
/// docs/deployment.md).
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    migrator.set_ignore_missing(true);
    migrator
}

/// How many times a transaction is run again after PostgreSQL broke a
/// deadlock or a serialization conflict with it.
const RETRIES: u32 = 8;

/// How long a cached session is served before it is read again: other
/// nodes' last-seen updates reach the cache no other way.
const CACHED_FOR: Duration = Duration::from_secs(60);

/// The advisory lock a sweep holds, so that one node sweeps at a time.
const SWEEP_LOCK: i64 = 0x7368_696d_696e_6701;

/// How the PostgreSQL store connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgTuning {
    /// Connections this node keeps to the database at most. Every node
    /// holds its own: N nodes need N × this within PostgreSQL's
    /// `max_connections`.
    pub max_connections: u32,
    /// How long a request waits for a free connection (or for the database
    /// to answer a new one) before it fails.
    pub acquire_timeout: Duration,
    /// Sessions kept validated in memory (0: none); see [`SessionCache`].
    pub cached_sessions: usize,
}

impl Default for PgTuning {
    fn default() -> Self {
        PgTuning {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            cached_sessions: 65_536,
        }
    }
}

/// The PostgreSQL store. It holds the audit key: every event it appends is
/// linked under it, and the chain is verified with it.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    audit_key: AuditKey,
    sessions: Arc<SessionCache>,
    watch: Arc<Watch>,
}

/// What a write runs against: its transaction, the audit key, and what is
/// decided at its end: the rate limits it takes and the audit events it
/// appends.
pub(super) struct Tx<'c> {
    pub conn: &'c mut PgConnection,
    pub audit_key: &'c AuditKey,
    /// Each limit, and whether a hit is counted in it (else it must only
    /// have room).
    limits: Vec<(RateLimit, bool)>,
    audits: Vec<AuditDraft>,
}

impl Tx<'_> {
    /// Takes `limits` at the end of this transaction: refused whole if one
    /// has no room.
    fn limit(&mut self, limits: &[RateLimit]) {
        self.limits.extend(limits.iter().map(|l| (l.clone(), true)));
    }

    /// Refuses this transaction at its end if one of `limits` has no room,
    /// counting nothing.
    fn check(&mut self, limits: &[RateLimit]) {
        self.limits.extend(limits.iter().map(|l| (l.clone(), false)));
    }

    /// Appends `draft` to the chain when this transaction commits.
    fn audit(&mut self, draft: &AuditDraft) {
        self.audits.push(draft.clone());
    }
}

/// Runs `$body`, an expression that may `.await` and `?` with `$tx: &mut
/// Tx` in scope, in a transaction of `$store` committed when it succeeds,
/// and again from the start when PostgreSQL broke a deadlock. What the body
/// uses of its surroundings it must borrow (it may run more than once).
macro_rules! write {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let store: &$crate::postgres::PgStore = $store;
        store
            .retrying(|| async move {
                let mut conn = store.pool.begin().await?;
                let mut tx = $crate::postgres::Tx {
                    conn: &mut conn,
                    audit_key: &store.audit_key,
                    limits: Vec::new(),
                    audits: Vec::new(),
                };
                let $tx = &mut tx;
                let out = $body;
                let limits = std::mem::take(&mut tx.limits);
                $crate::postgres::codes::take_limits(&mut tx, &limits).await?;
                $crate::postgres::link_audits(&mut tx).await?;
                conn.commit().await?;
                Ok(out)
            })
            .await
    }};
}
use write;

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`), which must exist.
    /// Does not migrate.
    pub async fn connect(url: &str, audit_key: AuditKey, tuning: PgTuning) -> Result<Self> {
        let options = options(url)?.application_name("shiming");
        // One connection first: a pool that cannot connect reports only that
        // it timed out, and the operator needs to know why.
        let first = tokio::time::timeout(tuning.acquire_timeout, PgConnection::connect_with(&options))
            .await
            .map_err(|_| unreachable(url, "no answer"))?
            .map_err(|e| unreachable(url, &e.to_string()))?;
        first.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(tuning.max_connections.max(1))
            .acquire_timeout(tuning.acquire_timeout)
            .connect_with(options.clone())
            .await?;
        let sessions = Arc::new(SessionCache::aging(tuning.cached_sessions, CACHED_FOR));
        let watch = Arc::new(Watch::start(&options, Arc::clone(&sessions)));
        Ok(PgStore {
            pool,
            audit_key,
            sessions,
            watch,
        })
    }

    /// Applies pending migrations to the database at `url` and nothing else:
    /// needs no key. The migrator holds an advisory lock meanwhile, so nodes
    /// starting together migrate once.
    pub async fn migrate_schema(url: &str) -> Result<()> {
        let mut conn = PgConnection::connect_with(&options(url)?)
            .await
            .map_err(|e| unreachable(url, &e.to_string()))?;
        migrator().run(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    /// Applies pending migrations, then keys the audit chain if it is not
    /// keyed yet (a fresh database gets the switch event as its first event).
    pub async fn migrate(&self) -> Result<()> {
        migrator().run(&self.pool).await?;
        self.key_chain().await
    }

    /// Runs one attempt of a transaction, and runs it again while it fails
    /// with a deadlock or a serialization conflict, a few times at most.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut tries = 0;
        loop {
            match attempt().await {
                Err(StoreError::Database(e)) if transient(&e) && tries < RETRIES => {
                    tries += 1;
                    tracing::debug!(tries, "a transaction met a deadlock; running it again");
                    // Spread the retries of the transactions that collided.
                    let wait = 1 + u64::from(tries) * u64::from(std::process::id() % 7 + 1);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                other => return other,
            }
        }
    }
}

fn options(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(format!("{}: {e}", redacted(url))))
}

fn unreachable(url: &str, why: &str) -> StoreError {
    StoreError::Unreachable(format!("{}: {why}", redacted(url)))
}

/// Whether PostgreSQL ended the transaction to break a deadlock (40P01) or a
/// serialization conflict (40001): running it again may succeed.
fn transient(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Maps a unique-constraint violation to [`StoreError::CredentialInUse`].
fn credential_conflict(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => StoreError::CredentialInUse,
        _ => StoreError::Database(e),
    }
}

/// Links the transaction's audit events to the chain, last thing before
/// its commit: the head's row lock serialises appends from every node, and
/// is so held for two statements and the commit only, however long the
/// transaction ran before.
pub(super) async fn link_audits(tx: &mut Tx<'_>) -> Result<()> {
    if tx.audits.is_empty() {
        return Ok(());
    }
    let (mut seq, mut head): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx.conn)
            .await?;
    let mut events = Vec::with_capacity(tx.audits.len());
    for draft in tx.audits.drain(..) {
        let e = NextEvent::after(seq, head, &draft, tx.audit_key);
        (seq, head) = (e.seq, e.link.to_vec());
        events.push(e);
    }
    // The events and the new head in one statement.
    let mut link: QueryBuilder<Postgres> = QueryBuilder::new(
        "WITH appended AS (INSERT INTO audit_events \
         (seq, at, kind, account_id, details, enterprise_id, prev_hash, hash, link_kind) ",
    );
    link.push_values(&events, |mut row, e| {
        row.push_bind(e.seq)
            .push_bind(e.at)
            .push_bind(e.kind)
            .push_bind(e.account_id.as_deref())
            .push_bind(e.details.as_str())
            .push_bind(e.enterprise_id.as_deref())
            .push_bind(e.prev.as_slice())
            .push_bind(&e.link[..])
            .push_bind(e.link_kind);
    });
    link.push(") UPDATE audit_head SET seq = ")
        .push_bind(seq)
        .push(", hash = ")
        .push_bind(head.as_slice())
        .push(" WHERE id = 1");
    link.build().execute(&mut *tx.conn).await?;
    Ok(())
}

#[async_trait]
impl Maintenance for PgStore {
    async fn ping(&self) -> Result<()> {
        // A query on the schema, not `SELECT 1`: a database that answers but
        // lost its tables (or was never migrated) is not ready either.
        sqlx::query("SELECT seq FROM audit_head").fetch_one(&self.pool).await?;
        Ok(())
    }

    async fn key_check(&self, proposed: KeyCheck) -> Result<KeyCheck> {
        let p = &proposed;
        write!(self, |tx| {
            // ON CONFLICT waits for a node inserting its own at this moment,
            // then keeps that one: both read the same row after.
            sqlx::query(
                "INSERT INTO key_check (id, sealed, peppered, audit_mac, created_at) VALUES (1, $1, $2, $3, $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&p.sealed)
            .bind(&p.peppered)
            .bind(&p.audit_mac)
            .bind(p.created_at)
            .execute(&mut *tx.conn)
            .await?;
            let (sealed, peppered, audit_mac, created_at) =
                sqlx::query_as("SELECT sealed, peppered, audit_mac, created_at FROM key_check WHERE id = 1")
                    .fetch_one(&mut *tx.conn)
                    .await?;
            KeyCheck {
                sealed,
                peppered,
                audit_mac,
                created_at,
            }
        })
    }

    async fn sweep(&self, now: i64, horizon: i64) -> Result<()> {
        write!(self, |tx| {
            // One node sweeps at a time; the others find the lock taken and
            // leave it to that one.
            let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(SWEEP_LOCK)
                .fetch_one(&mut *tx.conn)
                .await?;
            if mine {
                for (sql, bound) in [
                    ("DELETE FROM sessions WHERE expires_at <= $1", now),
                    ("DELETE FROM sms_codes WHERE expires_at <= $1", now),
                    // Pending changes and sent notices hold sealed personal data: kept no longer than needed.
                    ("DELETE FROM pending_changes WHERE expires_at <= $1", now),
                    ("DELETE FROM oauth_flows WHERE expires_at <= $1", now),
                    // A key whose newest hit is past the horizon goes whole; a
                    // busier key's old hits go at its next take.
                    (
                        "DELETE FROM rate_hits h USING rate_counts c \
                         WHERE c.bucket = h.bucket AND c.key = h.key AND c.newest <= $1",
                        now - horizon,
                    ),
                    ("DELETE FROM rate_counts WHERE newest <= $1", now - horizon),
                ] {
                    sqlx::query(sql).bind(bound).execute(&mut *tx.conn).await?;
                }
                sqlx::query("DELETE FROM notices WHERE sent_at IS NOT NULL OR attempts >= 5")
                    .execute(&mut *tx.conn)
                    .await?;
            }
        })
    }
}
