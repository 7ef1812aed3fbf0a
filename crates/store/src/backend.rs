//! Which backend holds the data, chosen by `database.url`'s scheme (as
//! lldap's `database_string.rs` does): the one place that names a backend.
//! Everything above the store holds an `Arc<dyn Store>`.

use std::sync::Arc;

use shiming_vault::AuditKey;

use crate::{PgStore, PgTuning, Result, SqliteStore, SqliteTuning, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path`: embedded SQLite, one node.
    Sqlite,
    /// `postgres://user@host/db` (or `postgresql://`): shared by any number
    /// of nodes.
    Postgres,
}

/// How each backend is opened; only the one `database.url` names is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreTuning {
    pub sqlite: SqliteTuning,
    pub postgres: PgTuning,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            // Never the URL itself: it may hold a password.
            _ => Err(StoreError::Url(
                "not a database URL this build opens (sqlite://path or postgres://user@host/database)".into(),
            )),
        }
    }
}

/// The URL without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Applies pending migrations to the database at `url` (creating it) and
/// nothing else: needs no key (`shiming migrate`).
pub async fn migrate_schema(url: &str) -> Result<()> {
    match Backend::of(url)? {
        Backend::Sqlite => SqliteStore::migrate_schema(url).await,
        Backend::Postgres => PgStore::migrate_schema(url).await,
    }
}

/// Opens the database at `url` (creating it), migrates it and keys its
/// audit chain: what the service runs on.
pub async fn open(url: &str, audit_key: AuditKey, tuning: StoreTuning) -> Result<Arc<dyn Store>> {
    match Backend::of(url)? {
        Backend::Sqlite => {
            let store = SqliteStore::open_url(url, audit_key, tuning.sqlite).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        Backend::Postgres => {
            let store = PgStore::connect(url, audit_key, tuning.postgres).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
    }
}

/// Opens a database that must exist already, as it is, for inspection
/// (`shiming audit verify`).
pub async fn open_existing(url: &str, audit_key: AuditKey) -> Result<Arc<dyn Store>> {
    match Backend::of(url)? {
        Backend::Sqlite => Ok(Arc::new(SqliteStore::open_existing(url, audit_key).await?)),
        Backend::Postgres => Ok(Arc::new(PgStore::connect(url, audit_key, PgTuning::default()).await?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_in_a_message_hides_its_password() {
        assert_eq!(
            redacted("postgres://shiming:s3cret@db.internal:5432/shiming"),
            "postgres://shiming:***@db.internal:5432/shiming"
        );
        assert_eq!(redacted("postgres://db/shiming"), "postgres://db/shiming");
        assert_eq!(
            redacted("postgres://root@127.0.0.1/test"),
            "postgres://root@127.0.0.1/test"
        );
        assert_eq!(redacted("sqlite://data/shiming.db"), "sqlite://data/shiming.db");
    }

    #[test]
    fn the_scheme_names_the_backend() {
        assert_eq!(Backend::of("sqlite://data/shiming.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("sqlite:shiming.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgres://shiming@db/shiming").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of("postgresql://db/shiming").unwrap(), Backend::Postgres);
        for url in ["mysql://root:pw@localhost/db", "shiming.db", ""] {
            match Backend::of(url) {
                Err(StoreError::Url(why)) => assert!(!why.contains("pw"), "{why}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
