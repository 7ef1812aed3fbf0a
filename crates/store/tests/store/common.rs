//! What the store's tests share: a database file in a fresh folder with a
//! raw connection beside the store (to read, or tamper with, what the store
//! wrote), a dump of every row, and the plain accounts and binds most tests
//! start from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;
use shiming_domain::rebind::RebindLimits;
use shiming_domain::{CredentialKind, Nature, RealNameStatus};
use shiming_store::*;
use shiming_vault::{AuditKey, Keys};
use sqlx::SqlitePool;

pub struct Db {
    _dir: tempfile::TempDir,
    pub file: PathBuf,
    pub key: AuditKey,
    pub raw: SqlitePool,
}

/// Every row of every table (the migrations' bookkeeping aside), by table,
/// in rowid order, each row rendered with SQL `quote()`, rowid first.
pub type Dump = BTreeMap<String, Vec<String>>;

impl Db {
    /// An empty folder, a fresh key, and a raw connection to the file.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db");
        let raw = SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&file)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        Db {
            _dir: dir,
            file,
            key: Keys::generate().derive_audit_key(),
            raw,
        }
    }

    /// The store as the service opens it: with the key, migrated.
    pub async fn store(&self) -> SqliteStore {
        let s = SqliteStore::open(&self.file, self.key.clone()).await.unwrap();
        s.migrate().await.unwrap();
        s
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::query(sql).execute(&self.raw).await.unwrap();
    }

    /// The number of rows of `table` that match `filter`.
    pub async fn count(&self, table: &str, filter: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {filter}"))
            .fetch_one(&self.raw)
            .await
            .unwrap()
    }

    /// The whole database, to compare before and after something that must
    /// change nothing.
    pub async fn dump(&self) -> Dump {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
        )
        .fetch_all(&self.raw)
        .await
        .unwrap();
        assert!(tables.len() > 10, "the schema is there: {tables:?}");
        let mut dump = Dump::new();
        for table in tables {
            let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                .bind(&table)
                .fetch_all(&self.raw)
                .await
                .unwrap();
            // A table WITHOUT ROWID is ordered by its primary key, which
            // the row shows; any other by its rowid, shown too.
            let without_rowid: bool = sqlx::query_scalar("SELECT wr FROM pragma_table_list WHERE name = ?")
                .bind(&table)
                .fetch_one(&self.raw)
                .await
                .unwrap();
            let (rowid, order) = if without_rowid {
                (None, "1")
            } else {
                (Some("quote(rowid)".to_owned()), "rowid")
            };
            let row: Vec<String> = rowid
                .into_iter()
                .chain(columns.iter().map(|c| format!("quote(\"{c}\")")))
                .collect();
            let rows = sqlx::query_scalar(&format!(
                "SELECT {} FROM \"{table}\" ORDER BY {order}",
                row.join(" || ',' || ")
            ))
            .fetch_all(&self.raw)
            .await
            .unwrap();
            dump.insert(table, rows);
        }
        dump
    }
}

/// A migrated store on a fresh database, with its raw connection.
pub async fn store() -> (Db, SqliteStore) {
    let db = Db::new().await;
    let s = db.store().await;
    (db, s)
}

/// The number of events of an intact chain (the first is the keyed switch).
pub async fn intact_events(s: &SqliteStore) -> i64 {
    match s.verify_chain(None).await.unwrap() {
        ChainReport::Intact { head } => head.seq,
        broken => panic!("{broken:?}"),
    }
}

/// A personal account.
pub fn account(id: &str) -> NewAccount {
    NewAccount {
        id: id.into(),
        nature: Nature::Personal,
        audit: AuditDraft::new("account.created", id, 1, json!({})),
    }
}

/// A phone that attests no one.
pub fn phone(hash: &[u8]) -> NewCredential {
    NewCredential::bare(CredentialKind::Phone, hash.to_vec(), vec![1, 2, 3])
}

/// A WeChat that attests no one.
pub fn wechat(hash: &[u8]) -> NewCredential {
    NewCredential::bare(CredentialKind::Wechat, hash.to_vec(), vec![9])
}

/// A plain bind of a credential attesting no one to a personal account of no person.
pub fn bind(account_id: &str, credential: NewCredential) -> RebindCommit {
    RebindCommit {
        pending_id: None,
        account_id: account_id.into(),
        keep_session: "ses".into(),
        kind: credential.kind,
        new: Some(credential),
        expected: ExpectedOutcome {
            replaces: None,
            person_changes: false,
            status_after: RealNameStatus::Unverified,
            nature_after: Nature::Personal,
        },
        limits: RebindLimits {
            cooldown_secs: 0,
            max_person_changes_per_year: 2,
        },
        notices: vec![],
        account_notice: NewAccountNotice {
            kind: "credential.bound",
            credential: CredentialKind::Wechat,
            masked_sealed: vec![7],
        },
        at: 2,
    }
}

/// A session of `account_id` that expires at `expires_at`.
pub async fn session(s: &SqliteStore, account_id: &str, id: &str, expires_at: i64) {
    let mut token_hash = [0; 32];
    token_hash[..id.len()].copy_from_slice(id.as_bytes());
    let session = NewSession {
        id: id.into(),
        token_hash,
        user_agent: None,
        created_at: 1,
        expires_at,
        signed_in_with: None,
    };
    let opened = s
        .sign_in(SignIn {
            code: None,
            account: SignInAccount::Known(account_id.into()),
            session,
            via: "phone",
        })
        .await
        .unwrap();
    assert!(matches!(opened, SignedIn::Opened { .. }), "{opened:?}");
}

/// The ids of the account's sessions.
pub async fn session_ids(s: &SqliteStore, account_id: &str) -> Vec<String> {
    let mut ids: Vec<_> = s
        .sessions_of(account_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}
