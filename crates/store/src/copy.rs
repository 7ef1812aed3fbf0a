//! `shiming db copy`: moves an embedded SQLite database to PostgreSQL, whole,
//! in one transaction on the target, then checks what arrived: every
//! table's row count, and the audit chain verified under the audit key to
//! the same head.
//!
//! Rows are copied column by column by name, each value read as the type
//! the PostgreSQL column has (SQLite keeps booleans and small integers as
//! INTEGER); the two schemas must hold the same tables and columns, which
//! the copy checks before it writes anything.

use std::collections::BTreeMap;
use std::str::FromStr;

use shiming_vault::AuditKey;
use sqlx::postgres::{PgConnection, Postgres};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqliteRow};
use sqlx::{Connection, QueryBuilder, Row};

use crate::backend::redacted;
use crate::{AuditStore, Backend, ChainReport, PgStore, PgTuning, Result, StoreError};

/// Tables in the order their foreign keys allow; `audit_head`, one row
/// made by the target's migration, is updated rather than inserted.
const TABLES: &[&str] = &[
    "accounts",
    "persons",
    "credentials",
    "attestations",
    "credential_openids",
    "sessions",
    "sms_codes",
    "rate_hits",
    "rate_counts",
    "sms_outbox",
    "audit_events",
    "oauth_flows",
    "pending_changes",
    "rebinds",
    "notices",
    "account_notices",
    "key_check",
    "enterprises",
    "memberships",
    "invitations",
    "rebind_approvals",
];

/// Rows per INSERT: well under PostgreSQL's 65 535 parameters for the
/// widest table.
const BATCH: usize = 500;

/// What a copy moved, and the chain it verified on the target.
#[derive(Debug)]
pub struct Copied {
    /// Rows per table, as counted on both sides after the copy.
    pub rows: BTreeMap<&'static str, i64>,
    pub chain: ChainReport,
}

/// Copies the SQLite database at `from` (migrated to this build's latest
/// schema, and not being written: stop its node first) into the empty
/// PostgreSQL database at `to`, migrating it first. Nothing is written to
/// the source; the target gets everything or nothing.
pub async fn copy(from: &str, to: &str, audit_key: AuditKey) -> Result<Copied> {
    if Backend::of(from)? != Backend::Sqlite || Backend::of(to)? != Backend::Postgres {
        return Err(StoreError::Url(
            "db copy moves a sqlite:// database to a postgres:// one".into(),
        ));
    }
    let source = SqlitePool::connect_with(
        SqliteConnectOptions::from_str(from)
            .map_err(|e| StoreError::Url(format!("{from}: {e}")))?
            .read_only(true),
    )
    .await?;
    let latest = crate::sqlite::latest_migration();
    let at: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(&source)
        .await?;
    if at != Some(latest) {
        return Err(StoreError::Copy(format!(
            "the source's schema is at migration {at:?}, this build's is {latest}: run `shiming migrate` on it first"
        )));
    }
    PgStore::migrate_schema(to).await?;
    let mut target = PgConnection::connect(to)
        .await
        .map_err(|e| StoreError::Unreachable(format!("{}: {e}", redacted(to))))?;
    let mut tx = target.begin().await?;
    check_same_tables(&source, &mut tx).await?;
    for table in TABLES {
        let held: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await?;
        if held > 0 {
            return Err(StoreError::Copy(format!(
                "the target already holds data ({held} rows in {table}): copy into an empty database"
            )));
        }
    }
    for table in TABLES {
        copy_table(&source, &mut tx, table).await?;
    }
    let (seq, hash): (i64, Vec<u8>) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&source)
        .await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    // New rows continue after the copied ids.
    let identities: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::TEXT FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name = 'id' AND is_identity = 'YES'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (table,) in identities {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;

    let mut rows = BTreeMap::new();
    for table in TABLES {
        let count = format!("SELECT COUNT(*) FROM {table}");
        let there: i64 = sqlx::query_scalar(&count).fetch_one(&source).await?;
        let here: i64 = sqlx::query_scalar(&count).fetch_one(&mut target).await?;
        if there != here {
            return Err(StoreError::Copy(format!(
                "{table}: {there} rows in the source, {here} in the target"
            )));
        }
        rows.insert(*table, here);
    }
    source.close().await;
    let store = PgStore::connect(to, audit_key, PgTuning::default()).await?;
    let chain = store.verify_chain(None).await?;
    match &chain {
        ChainReport::Intact { head } if head.seq == seq => Ok(Copied { rows, chain }),
        other => Err(StoreError::Copy(format!(
            "the copied audit chain does not verify to the source's head (event {seq}): {other:?}"
        ))),
    }
}

/// The two schemas hold the same tables and, in each, the same columns.
async fn check_same_tables(source: &SqlitePool, target: &mut PgConnection) -> Result<()> {
    let mut theirs: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(source)
    .await?;
    theirs.sort();
    let mut ours: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    ours.push("audit_head".into());
    ours.sort();
    if theirs != ours {
        return Err(StoreError::Copy(format!(
            "the source's tables {theirs:?} are not the ones this build copies {ours:?}"
        )));
    }
    for table in &ours {
        let mut source_columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
            .bind(table)
            .fetch_all(source)
            .await?;
        source_columns.sort();
        let target_columns: Vec<String> = columns(target, table).await?.into_iter().map(|(c, _)| c).collect();
        if source_columns != target_columns {
            return Err(StoreError::Copy(format!(
                "{table}: the source's columns {source_columns:?} are not the target's {target_columns:?}"
            )));
        }
    }
    Ok(())
}

/// The columns of a table of the target, by name, with their types.
async fn columns(target: &mut PgConnection, table: &str) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name",
    )
    .bind(table)
    .fetch_all(target)
    .await?)
}

/// One value of a source row, read as the target column's type.
enum Cell {
    Int(Option<i64>),
    Int4(Option<i32>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

fn cell(row: &SqliteRow, column: &str, pg_type: &str) -> Result<Cell> {
    Ok(match pg_type {
        "bigint" => Cell::Int(row.try_get(column)?),
        "integer" => Cell::Int4(
            row.try_get::<Option<i64>, _>(column)?
                .map(|v| i32::try_from(v).map_err(|_| StoreError::Copy(format!("{column}: {v} exceeds INTEGER"))))
                .transpose()?,
        ),
        "boolean" => Cell::Bool(row.try_get::<Option<i64>, _>(column)?.map(|v| v != 0)),
        "text" => Cell::Text(row.try_get(column)?),
        "bytea" => Cell::Bytes(row.try_get(column)?),
        other => return Err(StoreError::Copy(format!("{column}: no copy for the type {other}"))),
    })
}

async fn copy_table(source: &SqlitePool, target: &mut PgConnection, table: &str) -> Result<()> {
    let columns = columns(target, table).await?;
    let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
    let list = names.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
    let rows = sqlx::query(&format!("SELECT {list} FROM {table}"))
        .fetch_all(source)
        .await?;
    for batch in rows.chunks(BATCH) {
        let cells = batch
            .iter()
            .map(|row| columns.iter().map(|(c, t)| cell(row, c, t)).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?;
        // Ids are copied as they are, identity columns included.
        let mut insert: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("INSERT INTO {table} ({list}) OVERRIDING SYSTEM VALUE "));
        insert.push_values(cells, |mut values, row| {
            for cell in row {
                match cell {
                    Cell::Int(v) => values.push_bind(v),
                    Cell::Int4(v) => values.push_bind(v),
                    Cell::Bool(v) => values.push_bind(v),
                    Cell::Text(v) => values.push_bind(v),
                    Cell::Bytes(v) => values.push_bind(v),
                };
            }
        });
        insert.build().execute(&mut *target).await?;
    }
    Ok(())
}
