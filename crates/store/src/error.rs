use shiming_domain::rebind::LimitRefusal;
use shiming_domain::{AccountState, ChangeRefused};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The credential is bound to an account already (a unique constraint held).
    #[error("the credential is bound to an account already")]
    CredentialInUse,
    /// The account holds a credential of that kind already.
    #[error("the account holds a credential of that kind already")]
    AlreadyBound,
    /// The change would leave the account without any credential.
    #[error("an account keeps at least one credential")]
    LastCredential,
    /// A rate limit has no room; `retry_after` seconds until it has.
    #[error("rate limit {bucket} reached")]
    RateLimited { bucket: String, retry_after: i64 },
    /// What the change was based on no longer holds (the credential moved,
    /// something was attested in between); nothing was changed.
    #[error("the state changed underneath: {0}")]
    Conflict(&'static str),
    /// What the preview showed no longer holds: nothing was changed and the
    /// pending change stays open.
    #[error("the outcome differs from the preview")]
    PreviewChanged,
    /// The account's rebind limits have no room.
    #[error("rebind limit reached")]
    RebindLimit(LimitRefusal),
    /// The account's managing enterprise (this one) must approve the
    /// rebind first; nothing was changed and the pending change stays open.
    #[error("the rebind waits for the approval of enterprise {0}")]
    ApprovalRequired(String),
    /// An approval's decision is refused to its actor.
    #[error("refused: {0:?}")]
    Refused(ChangeRefused),
    /// The account is not active.
    #[error("the account is {}", .0.as_str())]
    AccountRestricted(AccountState),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row the code cannot read (an unknown enum word, say).
    #[error("damaged row: {0}")]
    Damaged(String),
    /// The database server does not answer, or refuses the connection
    /// (the redacted URL and why).
    #[error("cannot connect to the database at {0}")]
    Unreachable(String),
    /// `db copy` cannot copy, or what it copied does not check out.
    #[error("copy: {0}")]
    Copy(String),
    /// The database URL names nothing this store can open.
    #[error("database URL {0}")]
    Url(String),
    /// A connection thread stopped, or a batch failed to commit.
    #[error("database worker: {0}")]
    Worker(String),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Sqlite(e.into())
    }
}

impl StoreError {
    /// Whether the database could not be reached (it is down, restarting,
    /// or refusing connections) rather than refusing what was asked: the
    /// request may succeed once it is back, and nothing of it was applied.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unreachable(_) => true,
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
                // Connection exceptions (class 08), the server shutting down
                // or starting (57P01–57P03), and too many connections (53300).
                sqlx::Error::Database(d) => d
                    .code()
                    .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300")),
                _ => false,
            },
            _ => false,
        }
    }
}

/// Parses a stored enum word; a word the code does not know is a damaged row.
pub(crate) fn word<T>(parse: fn(&str) -> Option<T>, stored: String) -> Result<T, StoreError> {
    parse(&stored).ok_or_else(|| StoreError::Damaged(format!("unknown stored value {stored:?}")))
}
