//! Which backend holds the data, chosen by `database.url`'s scheme (as
//! lldap's `database_string.rs` does): the one place that names a backend.
//! Everything above the store holds an `Arc<dyn Store>`.

use std::sync::Arc;

use shiming_vault::AuditKey;

use crate::{Result, SqliteStore, SqliteTuning, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path`: embedded SQLite, one node.
    Sqlite,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Backend::Sqlite),
            _ => Err(StoreError::Url(format!(
                "{url}: not a database URL this build opens (sqlite://path)"
            ))),
        }
    }
}

/// Applies pending migrations to the database at `url` (creating it) and
/// nothing else: needs no key (`shiming migrate`).
pub async fn migrate_schema(url: &str) -> Result<()> {
    match Backend::of(url)? {
        Backend::Sqlite => SqliteStore::migrate_schema(url).await,
    }
}

/// Opens the database at `url` (creating it), migrates it and keys its
/// audit chain: what the service runs on.
pub async fn open(url: &str, audit_key: AuditKey, tuning: SqliteTuning) -> Result<Arc<dyn Store>> {
    match Backend::of(url)? {
        Backend::Sqlite => {
            let store = SqliteStore::open_url(url, audit_key, tuning).await?;
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_names_the_backend() {
        assert_eq!(Backend::of("sqlite://data/shiming.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("sqlite:shiming.db").unwrap(), Backend::Sqlite);
        for url in ["mysql://localhost/db", "shiming.db", ""] {
            assert!(matches!(Backend::of(url), Err(StoreError::Url(_))), "{url}");
        }
    }
}
