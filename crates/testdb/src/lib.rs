//! Databases for shiming's tests.
//!
//! - [`TestDatabase`]: a fresh PostgreSQL database for one test, dropped
//!   after it. The server is `SHIMING_TEST_POSTGRES` (a URL whose role may
//!   create databases), else `postgres://postgres@127.0.0.1:5432/postgres`
//!   when one answers there. When none does, the PostgreSQL tests are
//!   skipped, and a notice saying how to run them is printed once, past the
//!   test harness's capture: never silently. When `SHIMING_TEST_POSTGRES` is
//!   set, an unreachable server fails the tests instead (CI sets it).
//! - [`Raw`]: plain SQL on either backend beside the store, to read (or
//!   tamper with) what it wrote.

use std::collections::BTreeMap;
use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqliteRow};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::OnceCell;

/// The variable naming the PostgreSQL server the tests use (`off`: skip them).
pub const SERVER_VAR: &str = "SHIMING_TEST_POSTGRES";

/// Where the tests look for PostgreSQL when the variable is not set.
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Test databases are named `shiming_t_<pid>_<random>`: a database whose
/// process is gone is a leftover of a run that was killed, and is dropped.
const PREFIX: &str = "shiming_t_";

static SERVER: OnceCell<Option<String>> = OnceCell::const_new();

/// The PostgreSQL server's admin URL, or `None` when the PostgreSQL tests
/// are skipped (the notice printed once).
pub async fn postgres_server() -> Option<String> {
    SERVER.get_or_init(probe).await.clone()
}

async fn probe() -> Option<String> {
    let (url, required) = match std::env::var(SERVER_VAR) {
        Ok(v) if v == "off" => {
            notice(&format!("{SERVER_VAR}=off"));
            return None;
        }
        Ok(v) => (v, true),
        Err(_) => (DEFAULT_SERVER.to_owned(), false),
    };
    let connected = tokio::time::timeout(Duration::from_secs(3), admin(&url)).await;
    match connected {
        Ok(Ok(mut conn)) => {
            drop_leftovers(&mut conn).await;
            Some(url)
        }
        Ok(Err(e)) if required => panic!("{SERVER_VAR}={url}: PostgreSQL does not answer: {e}"),
        Err(_) if required => panic!("{SERVER_VAR}={url}: PostgreSQL does not answer within 3 s"),
        Ok(Err(e)) => {
            notice(&format!("no PostgreSQL at {url} ({e})"));
            None
        }
        Err(_) => {
            notice(&format!("no PostgreSQL at {url} (no answer within 3 s)"));
            None
        }
    }
}

/// Printed straight to the terminal: the harness captures `eprintln!` of a
/// passing test, and a skip must be seen.
fn notice(why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "\nNOTICE: the PostgreSQL tests are SKIPPED: {why}.\n\
         To run them, start PostgreSQL or set {SERVER_VAR}=postgres://user@host:port/database \
         (a role that may CREATE DATABASE); `.ci/run` always runs them.\n"
    );
}

async fn admin(url: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnectOptions::from_str(url)?.connect().await
}

async fn drop_leftovers(conn: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind(PREFIX)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    for name in names {
        let pid = name[PREFIX.len()..].split('_').next().unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// A fresh, empty PostgreSQL database for one test; dropped (with any
/// connection still open to it) when this is dropped.
pub struct TestDatabase {
    server: String,
    name: String,
    /// The database's URL, for the store or the service.
    pub url: String,
}

impl TestDatabase {
    /// A fresh database, or `None` when the PostgreSQL tests are skipped.
    pub async fn create() -> Option<TestDatabase> {
        let server = postgres_server().await?;
        let name = format!("{PREFIX}{}_{:08x}", std::process::id(), rand::random::<u32>());
        let mut conn = admin(&server).await.expect("the PostgreSQL server answers");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        let url = with_database(&server, &name);
        Some(TestDatabase { server, name, url })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // A thread of its own with its own runtime: a drop cannot await, and
        // may run inside a runtime that must not be blocked on.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let mut conn = admin(&server).await.map_err(std::io::Error::other)?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            let _ = writeln!(std::io::stderr(), "dropping test database {}: {e}", self.name);
        }
    }
}

/// `server` with its database replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let host = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{host}/{name}{query}")
}

/// Every row of every table of the schema (migrations' bookkeeping aside),
/// by table, each row rendered as text: to compare a database before and
/// after something that must change nothing.
pub type Dump = BTreeMap<String, Vec<String>>;

/// Plain SQL beside the store, on either backend.
#[derive(Clone)]
pub enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    /// Connects to the database at `url` (a SQLite file is created if missing).
    pub async fn connect(url: &str) -> Raw {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .expect("a sqlite URL")
                .create_if_missing(true);
            Raw::Sqlite(SqlitePool::connect_with(options).await.expect("the SQLite file opens"))
        } else {
            Raw::Postgres(PgPool::connect(url).await.expect("the PostgreSQL database answers"))
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Raw::Postgres(_))
    }

    pub async fn exec(&self, sql: &str) {
        self.try_exec(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// `sql`, which the database may refuse (a constraint a test checks).
    pub async fn try_exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
    }

    /// The first column of the first row of `sql` as an integer (NULL or no
    /// row: `None`); cast in SQL, so any integer or boolean column will do.
    pub async fn scalar(&self, sql: &str) -> Option<i64> {
        let sql = format!("SELECT CAST(({sql}) AS BIGINT)");
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every row of `sql`, as `T` (a tuple, say) on either backend. A
    /// PostgreSQL INTEGER column needs a cast to BIGINT for an `i64`.
    pub async fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>,
    {
        match self {
            Raw::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Raw::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The number of rows of `table` that match `filter`.
    pub async fn count(&self, table: &str, filter: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {filter}"))
            .await
            .unwrap_or(0)
    }

    /// `bytes` as a blob literal of this backend's SQL.
    pub fn blob(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        match self {
            Raw::Sqlite(_) => format!("x'{hex}'"),
            Raw::Postgres(_) => format!("'\\x{hex}'::BYTEA"),
        }
    }

    /// The whole database, every row as text.
    pub async fn dump(&self) -> Dump {
        let mut dump = Dump::new();
        match self {
            Raw::Sqlite(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for table in tables {
                    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                        .bind(&table)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                    let row: Vec<String> = columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                    let rows = sqlx::query_scalar(&format!(
                        "SELECT {} AS r FROM \"{table}\" ORDER BY r",
                        row.join(" || ',' || ")
                    ))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    dump.insert(table, rows);
                }
            }
            Raw::Postgres(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = 'public' \
                     AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_sqlx\\_%' ORDER BY 1",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for table in tables {
                    let rows =
                        sqlx::query_scalar(&format!("SELECT CAST(t AS TEXT) AS r FROM \"{table}\" t ORDER BY r"))
                            .fetch_all(pool)
                            .await
                            .unwrap();
                    dump.insert(table, rows);
                }
            }
        }
        assert!(dump.len() > 10, "the schema is there: {:?}", dump.keys());
        dump
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_database_is_on_the_same_server() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db/x?sslmode=disable", "t2"),
            "postgres://u:p@db/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "t3"), "postgres://db/t3");
    }
}
