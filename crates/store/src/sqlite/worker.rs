//! The SQLite connections: a writer thread, and read connections.
//!
//! One writer thread owns the only write connection and commits queued write
//! jobs in batches (group commit): it takes every job waiting, opens one
//! transaction, runs each job in a savepoint of its own (a job that fails is
//! rolled back alone), commits, and only then answers the callers. A batch
//! never answers before its transaction is committed, so an answer the
//! client saw is as durable as `synchronous` makes a commit.
//!
//! Reads run on the calling thread, on one of a few read-only connections,
//! which WAL lets run beside the writer: a read takes microseconds, less than
//! handing it to another thread and waking the caller again (the profile of
//! W3 showed the scheduler's context switches as the largest cost). A long
//! read (the whole audit chain) goes to a blocking thread instead, so that
//! it never holds up a runtime thread.
//!
//! Checkpoints (copying the WAL's pages back into the database file) run
//! mostly on a thread of their own. SQLite's automatic checkpoint runs
//! inside the commit that crosses its threshold, holding up every job
//! queued behind it; with its default threshold of 1 000 pages, copying and
//! syncing the same hot pages again and again took most of the writer's
//! time under load. So a checkpointer thread copies what was committed,
//! every [`CHECKPOINT_EVERY`] while there are commits, without a write lock
//! (passive), and the writer's own checkpoint waits for
//! [`SqliteTuning::checkpoint_pages`](super::SqliteTuning): when it comes,
//! little is left to copy, and it lets the WAL start over from its
//! beginning, which a checkpoint beside a busy writer never can.
//!
//! Why a thread and whole jobs for writes rather than an async driver: a job
//! runs all of its statements on the writer's thread, so a transaction
//! crosses threads twice (there and back) instead of twice per statement,
//! commits in a batch with the others waiting, and never waits in SQLite's
//! busy handler for a lock another of our connections holds.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use shiming_vault::AuditKey;
use tokio::sync::oneshot;

use super::{Durability, SqliteTuning};
use crate::{Result, StoreError};

/// The most jobs one transaction commits: bounds how long a batch holds the
/// write lock, and so the latency of the jobs queued behind it.
const MAX_BATCH: usize = 256;

/// How often the checkpointer copies committed pages while there are
/// commits: a page written many times within it is copied once.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// What a write job runs against: the batch's transaction (inside the job's
/// savepoint) and the key the audit chain is linked under.
pub(super) struct Tx<'c> {
    pub conn: &'c Connection,
    pub audit_key: &'c AuditKey,
}

/// A queued write whose result waits for the batch's commit.
trait WriteJob: Send {
    /// Runs the job; false when it failed and its savepoint must be undone.
    fn run(&mut self, tx: &Tx<'_>) -> bool;
    /// Answers the caller once the batch's commit succeeded or failed.
    fn answer(self: Box<Self>, committed: std::result::Result<(), &str>);
}

struct Job<F, T> {
    work: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, T> WriteJob for Job<F, T>
where
    F: FnOnce(&Tx<'_>) -> Result<T> + Send,
    T: Send,
{
    fn run(&mut self, tx: &Tx<'_>) -> bool {
        let Some(work) = self.work.take() else { return false };
        let result = catch_unwind(AssertUnwindSafe(|| work(tx)))
            .unwrap_or_else(|_| Err(StoreError::Worker("a write job panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, committed: std::result::Result<(), &str>) {
        let result = match (self.result, committed) {
            // A job that failed was rolled back alone: its own error stands.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(why)) => Err(StoreError::Worker(format!("the commit failed: {why}"))),
            (None, Err(why)) => Err(StoreError::Worker(format!("the transaction failed: {why}"))),
            (None, Ok(())) => Err(StoreError::Worker("the job did not run".into())),
        };
        // The caller may have gone (its request was cancelled): nothing to tell.
        let _ = self.reply.send(result);
    }
}

/// Handles to the writer thread and the read connections; cloning shares
/// them. The writer thread ends when the last handle is dropped.
#[derive(Clone)]
pub(super) struct Connections {
    writer: flume::Sender<Box<dyn WriteJob>>,
    readers: Arc<Readers>,
}

/// The read-only connections, each used by one caller at a time.
struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    fn with<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut conn = (0..n)
            .find_map(|i| self.conns[(start + i) % n].try_lock().ok())
            // All busy (more callers than connections): wait for one.
            .unwrap_or_else(|| self.conns[start % n].lock().unwrap_or_else(|p| p.into_inner()));
        catch_unwind(AssertUnwindSafe(|| work(&mut conn)))
            .unwrap_or_else(|_| Err(StoreError::Worker("a read panicked".into())))
    }
}

impl Connections {
    /// Opens the writer (creating the file) and the readers, and starts the
    /// writer's thread.
    pub fn open(file: &Path, create: bool, tuning: SqliteTuning, audit_key: AuditKey) -> Result<Self> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let writer_conn = open_connection(file, flags, tuning)?;
        writer_conn.pragma_update(None, "journal_mode", "WAL")?;
        writer_conn.pragma_update(None, "wal_autocheckpoint", tuning.checkpoint_pages)?;
        let checkpoint_flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let checkpoint_conn = open_connection(file, checkpoint_flags, tuning)?;
        let (committed, commits) = flume::bounded(1);
        thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, commits))
            .map_err(|e| StoreError::Worker(format!("starting the checkpoint thread: {e}")))?;
        let (writer, jobs) = flume::unbounded();
        thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer_conn, audit_key, jobs, committed))
            .map_err(|e| StoreError::Worker(format!("starting the writer thread: {e}")))?;
        let conns = (0..tuning.readers.max(1))
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                open_connection(file, flags, tuning).map(Mutex::new)
            })
            .collect::<Result<Vec<_>>>()?;
        let readers = Arc::new(Readers {
            conns,
            next: AtomicUsize::new(0),
        });
        Ok(Connections { writer, readers })
    }

    /// Runs `work` in the next batch's transaction and answers once that
    /// transaction is committed. An error from `work` undoes `work` alone.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Tx<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            work: Some(work),
            result: None,
            reply,
        };
        self.writer
            .send(Box::new(job))
            .map_err(|_| StoreError::Worker("the writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Worker("the writer thread has stopped".into()))?
    }

    /// Runs a short read on a read-only connection, on the calling thread.
    pub fn read<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.readers.with(work)
    }

    /// Runs a long read on a read-only connection, on a blocking thread.
    pub async fn read_long<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(work))
            .await
            .map_err(|e| StoreError::Worker(format!("a long read failed: {e}")))?
    }
}

fn open_connection(file: &Path, flags: OpenFlags, tuning: SqliteTuning) -> Result<Connection> {
    let conn = Connection::open_with_flags(file, flags)?;
    let synchronous = match tuning.synchronous {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Only another process (`shiming audit`, a backup) can hold the lock.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // A negative cache_size is in KiB.
    conn.pragma_update(None, "cache_size", -i64::from(tuning.cache_kib))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn write_loop(
    conn: Connection,
    audit_key: AuditKey,
    jobs: flume::Receiver<Box<dyn WriteJob>>,
    checkpointer: flume::Sender<()>,
) {
    let tx = Tx {
        conn: &conn,
        audit_key: &audit_key,
    };
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        let committed = run_batch(&tx, &mut batch);
        // Full: the checkpointer was told already, and will copy this too.
        let _ = checkpointer.try_send(());
        let committed = committed.as_ref().map(|_| ()).map_err(|e| e.to_string());
        for job in batch {
            job.answer(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

/// Copies committed pages into the database file while the writer commits,
/// one passive checkpoint per [`CHECKPOINT_EVERY`]; ends with the writer.
fn checkpoint_loop(conn: Connection, commits: flume::Receiver<()>) {
    while commits.recv().is_ok() {
        thread::sleep(CHECKPOINT_EVERY);
        // A passive checkpoint copies what no reader still needs and waits
        // for no one; what it leaves, the next one (or the writer's) copies.
        // A failure is the disk's, and shows in the commits too.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "a checkpoint failed");
        }
    }
}

/// One transaction for the batch, one savepoint per job; committed whole.
fn run_batch(tx: &Tx<'_>, batch: &mut [Box<dyn WriteJob>]) -> rusqlite::Result<()> {
    // Prepared once: these run around every job, and parsing them each time
    // was a measurable part of a short job.
    let exec = |sql: &str| tx.conn.prepare_cached(sql)?.execute([]).map(|_| ());
    exec("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        let ran = exec("SAVEPOINT job").map(|()| job.run(tx));
        let settled = match ran {
            Ok(true) => exec("RELEASE job"),
            Ok(false) => exec("ROLLBACK TO job").and_then(|()| exec("RELEASE job")),
            Err(e) => Err(e),
        };
        if let Err(e) = settled {
            let _ = exec("ROLLBACK");
            return Err(e);
        }
    }
    let committed = exec("COMMIT");
    if committed.is_err() {
        let _ = exec("ROLLBACK");
    }
    committed
}
