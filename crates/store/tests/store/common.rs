//! What the store's tests share: a fresh database of either backend with a
//! raw connection beside the store (to read, or tamper with, what the store
//! wrote), a dump of every row, the plain accounts and binds most tests
//! start from, and [`on_every_backend!`], which runs a test on each backend.

use std::sync::Arc;

use serde_json::json;
use shiming_domain::rebind::RebindLimits;
use shiming_domain::{CredentialKind, Nature, RealNameStatus};
use shiming_store::*;
use shiming_testdb::{Raw, TestDatabase};
use shiming_vault::{AuditKey, Keys};

pub use shiming_testdb::Dump;

/// Runs each named test, an `async fn(Backend)`, on every backend: as
/// `name::sqlite` and `name::postgres` (skipped, with a notice, where no
/// PostgreSQL answers).
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$name(shiming_store::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                if shiming_testdb::postgres_server().await.is_some() {
                    super::$name(shiming_store::Backend::Postgres).await
                }
            }
        }
    )*};
}
pub(crate) use on_every_backend;

/// Where a test's database lives; dropped with it.
enum Place {
    Folder(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] TestDatabase),
}

pub struct Db {
    pub url: String,
    pub key: AuditKey,
    /// Plain SQL beside the store.
    pub raw: Raw,
    _place: Place,
}

impl Db {
    /// A fresh database of `backend` and a fresh key.
    pub async fn new(backend: Backend) -> Self {
        let (url, place) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("t.db").display());
                (url, Place::Folder(dir))
            }
            Backend::Postgres => {
                let db = TestDatabase::create().await.expect("PostgreSQL answers");
                (db.url.clone(), Place::Postgres(db))
            }
        };
        Db {
            raw: Raw::connect(&url).await,
            url,
            key: Keys::generate().derive_audit_key(),
            _place: place,
        }
    }

    /// The store as the service opens it: with the key, migrated.
    pub async fn store(&self) -> Arc<dyn Store> {
        open(&self.url, self.key.clone(), StoreTuning::default()).await.unwrap()
    }

    /// The database as it is, opened with `key` (not migrated).
    pub async fn existing_with(&self, key: AuditKey) -> Arc<dyn Store> {
        open_existing(&self.url, key).await.unwrap()
    }

    pub async fn exec(&self, sql: &str) {
        self.raw.exec(sql).await
    }

    /// The number of rows of `table` that match `filter`.
    pub async fn count(&self, table: &str, filter: &str) -> i64 {
        self.raw.count(table, filter).await
    }

    /// The whole database, to compare before and after something that must
    /// change nothing.
    pub async fn dump(&self) -> Dump {
        self.raw.dump().await
    }
}

/// A migrated store on a fresh database of `backend`, with its raw connection.
pub async fn store(backend: Backend) -> (Db, Arc<dyn Store>) {
    let db = Db::new(backend).await;
    let s = db.store().await;
    (db, s)
}

/// The number of events of an intact chain (the first is the keyed switch).
pub async fn intact_events(s: &Arc<dyn Store>) -> i64 {
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
        admin_notice: NewAccountNotice {
            kind: "enterprise.member_realname_changed",
            credential: CredentialKind::Phone,
            masked_sealed: b"member".to_vec(),
        },
        approval: None,
        account_notice: NewAccountNotice {
            kind: "credential.bound",
            credential: CredentialKind::Wechat,
            masked_sealed: vec![7],
        },
        at: 2,
    }
}

/// A session of `account_id` that expires at `expires_at`.
pub async fn session(s: &Arc<dyn Store>, account_id: &str, id: &str, expires_at: i64) {
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
pub async fn session_ids(s: &Arc<dyn Store>, account_id: &str) -> Vec<String> {
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
