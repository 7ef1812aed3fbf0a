use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use shiming_domain::AccountState;

use super::accounts::{account_by_credential, create_account};
use super::codes::prove;
use super::notices::{insert_account_notice, unread_notices};
use super::worker::Tx;
use super::{append_audit, SqliteStore};
use crate::error::word;
use crate::rows::{self, SESSION_COLUMNS};
use crate::{AuditDraft, CodeTry, Result, SessionRecord, SessionStore, SignIn, SignInAccount, SignedIn, SteppedUp};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn sign_in(&self, s: SignIn) -> Result<SignedIn> {
        self.db.write(move |tx| sign_in(tx, &s)).await
    }

    async fn session_by_token(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        // The hot path: a statement built once, and prepared once per connection.
        static BY_TOKEN: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {SESSION_COLUMNS} WHERE s.token_hash = ?"));
        if let Some(cached) = self.sessions.get(token_hash) {
            return Ok(Some(cached));
        }
        let generation = self.sessions.generation();
        let found = self.db.read(|conn| {
            conn.prepare_cached(BY_TOKEN.as_str())?
                .query_row([token_hash], |r| Ok(rows::session(r)))
                .optional()?
                .transpose()
        })?;
        if let Some(s) = &found {
            self.sessions.fill(token_hash, s, generation);
        }
        Ok(found)
    }

    async fn touch_sessions(&self, seen: &[(String, i64)]) -> Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let batch = seen.to_vec();
        self.db
            .write(move |tx| {
                // MAX keeps a late, older batch from moving last-seen backwards.
                let mut stmt = tx
                    .conn
                    .prepare_cached("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?")?;
                for (id, at) in &batch {
                    stmt.execute(params![at, id])?;
                }
                Ok(())
            })
            .await?;
        self.sessions.touch(seen);
        Ok(())
    }

    async fn sessions_of(&self, account_id: &str) -> Result<Vec<SessionRecord>> {
        static OF_ACCOUNT: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {SESSION_COLUMNS} WHERE s.account_id = ? ORDER BY s.created_at DESC, s.id")
        });
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(OF_ACCOUNT.as_str())?;
            let found = stmt.query_map([account_id], |r| Ok(rows::session(r)))?;
            found.map(|r| r?).collect()
        })
    }

    async fn step_up(
        &self,
        session_id: &str,
        until: i64,
        code: Option<CodeTry>,
        audit: AuditDraft,
    ) -> Result<SteppedUp> {
        let session_id = session_id.to_owned();
        let account_id = audit.account_id.clone();
        let done = self
            .db
            .write(move |tx| {
                if let Some(refused) = code.as_ref().map(|c| prove(tx, c)).transpose()?.flatten() {
                    return Ok(SteppedUp::CodeRefused(refused));
                }
                tx.conn
                    .prepare_cached("UPDATE sessions SET step_up_until = ? WHERE id = ?")?
                    .execute(params![until, session_id])?;
                append_audit(tx, &audit)?;
                Ok(SteppedUp::Granted)
            })
            .await?;
        self.forget(account_id.as_deref());
        Ok(done)
    }

    async fn revoke_session(&self, account_id: &str, session_id: &str, audit: AuditDraft) -> Result<bool> {
        let (account, session_id) = (account_id.to_owned(), session_id.to_owned());
        let gone = self
            .db
            .write(move |tx| {
                let gone = tx
                    .conn
                    .prepare_cached("DELETE FROM sessions WHERE id = ? AND account_id = ?")?
                    .execute(params![session_id, account])?;
                if gone == 0 {
                    return Ok(false);
                }
                append_audit(tx, &audit)?;
                Ok(true)
            })
            .await?;
        self.forget(Some(account_id));
        Ok(gone)
    }

    async fn revoke_other_sessions(&self, account_id: &str, keep: &str, audit: AuditDraft) -> Result<u64> {
        let (account, keep) = (account_id.to_owned(), keep.to_owned());
        let gone = self
            .db
            .write(move |tx| {
                let gone = tx
                    .conn
                    .prepare_cached("DELETE FROM sessions WHERE account_id = ? AND id <> ?")?
                    .execute(params![account, keep])? as u64;
                let mut audit = audit;
                if let Some(details) = audit.details.as_object_mut() {
                    details.insert("revoked".into(), gone.into());
                }
                append_audit(tx, &audit)?;
                Ok(gone)
            })
            .await?;
        self.forget(Some(account_id));
        Ok(gone)
    }
}

/// The sign-in's transaction.
fn sign_in(tx: &Tx<'_>, s: &SignIn) -> Result<SignedIn> {
    let at = s.session.created_at;
    if let Some(refused) = s.code.as_ref().map(|c| prove(tx, c)).transpose()?.flatten() {
        return Ok(SignedIn::CodeRefused(refused));
    }
    let (account_id, created) = match &s.account {
        SignInAccount::Known(id) => (id.clone(), false),
        SignInAccount::ByCredential { credential, create } => {
            match account_by_credential(tx.conn, credential.kind, &credential.lookup_hash)? {
                Some(id) => (id, false),
                None => match create {
                    Some(account) => {
                        create_account(tx, account, credential, at)?;
                        (account.id.clone(), true)
                    }
                    None => return Ok(SignedIn::NoAccount),
                },
            }
        }
    };
    let state: String = tx
        .conn
        .prepare_cached("SELECT state FROM accounts WHERE id = ?")?
        .query_row([&account_id], |r| r.get(0))?;
    let state = word(AccountState::parse, state)?;
    if state != AccountState::Active {
        return Ok(SignedIn::Restricted(state));
    }
    let n = &s.session;
    tx.conn
        .prepare_cached(
            "INSERT INTO sessions (id, token_hash, account_id, user_agent, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![n.id, &n.token_hash[..], account_id, n.user_agent, at, at, n.expires_at])?;
    if let Some(via) = &n.signed_in_with {
        let first = tx
            .conn
            .prepare_cached(
                "UPDATE credentials SET signed_in_at = ? WHERE account_id = ? AND kind = ? AND lookup_hash = ? \
                 AND signed_in_at IS NULL",
            )?
            .execute(params![at, account_id, via.notice.credential.as_str(), via.lookup_hash])?;
        if first == 1 {
            insert_account_notice(tx, &account_id, &via.notice, at)?;
        }
    }
    let audit = AuditDraft::new(
        "session.created",
        &account_id,
        at,
        serde_json::json!({ "session_id": n.id, "via": s.via }),
    );
    append_audit(tx, &audit)?;
    let unread = unread_notices(tx.conn, &account_id)?;
    Ok(SignedIn::Opened {
        account_id,
        created,
        unread,
    })
}

impl SqliteStore {
    /// After a commit that changed what a session check of the account
    /// answers: its cached sessions go.
    pub(super) fn forget(&self, account_id: Option<&str>) {
        match account_id {
            Some(id) => self.sessions.forget_account(id),
            // An audit without an account cannot name whose sessions changed.
            None => self.sessions.forget_all(),
        }
    }
}
