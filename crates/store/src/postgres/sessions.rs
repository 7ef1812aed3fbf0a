use std::sync::LazyLock;

use async_trait::async_trait;
use shiming_domain::AccountState;

use super::accounts::{account_by_credential, create_account};
use super::codes::prove;
use super::notices::{insert_account_notice, unread_notices};
use super::{write, PgStore, Tx};
use crate::error::word;
use crate::rows::{self, SESSION_COLUMNS};
use crate::{
    AuditDraft, CodeTry, Result, SessionRecord, SessionStore, SignIn, SignInAccount, SignedIn, SteppedUp, StoreError,
};

#[async_trait]
impl SessionStore for PgStore {
    async fn sign_in(&self, s: SignIn) -> Result<SignedIn> {
        let s = &s;
        // Two nodes creating an account for one new credential at once meet
        // on its unique constraint: the loser runs again, and finds the
        // winner's account (its code, rolled back with it, still unused).
        match write!(self, |tx| sign_in(tx, s).await?) {
            Err(StoreError::CredentialInUse) if matches!(s.account, SignInAccount::ByCredential { .. }) => {
                write!(self, |tx| sign_in(tx, s).await?)
            }
            done => done,
        }
    }

    async fn session_by_token(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        // The hot path: its statement built once (and prepared once per
        // connection by sqlx's statement cache).
        static BY_TOKEN: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {SESSION_COLUMNS} WHERE s.token_hash = $1"));
        if self.watch.serving() {
            if let Some(cached) = self.sessions.get(token_hash) {
                return Ok(Some(cached));
            }
        }
        let generation = self.sessions.generation();
        let row = sqlx::query(BY_TOKEN.as_str())
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let found = row.as_ref().map(rows::session).transpose()?;
        if let Some(s) = &found {
            self.sessions.fill(token_hash, s, generation);
        }
        Ok(found)
    }

    async fn touch_sessions(&self, seen: &[(String, i64)]) -> Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let (ids, ats): (Vec<&str>, Vec<i64>) = seen.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
        // One statement for the batch; GREATEST keeps a late, older batch
        // (from this node or another) from moving last-seen backwards.
        sqlx::query(
            "UPDATE sessions s SET last_seen_at = GREATEST(s.last_seen_at, v.at) \
             FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS v(id, at) WHERE s.id = v.id",
        )
        .bind(&ids)
        .bind(&ats)
        .execute(&self.pool)
        .await?;
        self.sessions.touch(seen);
        Ok(())
    }

    async fn sessions_of(&self, account_id: &str) -> Result<Vec<SessionRecord>> {
        static OF_ACCOUNT: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {SESSION_COLUMNS} WHERE s.account_id = $1 ORDER BY s.created_at DESC, s.id")
        });
        let found = sqlx::query(OF_ACCOUNT.as_str())
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::session).collect()
    }

    async fn step_up(
        &self,
        session_id: &str,
        until: i64,
        code: Option<CodeTry>,
        audit: AuditDraft,
    ) -> Result<SteppedUp> {
        let (code, audit) = (&code, &audit);
        let done = write!(self, |tx| {
            let refused = match code {
                Some(c) => prove(tx, c).await?,
                None => None,
            };
            match refused {
                Some(refused) => SteppedUp::CodeRefused(refused),
                None => {
                    sqlx::query("UPDATE sessions SET step_up_until = $1 WHERE id = $2")
                        .bind(until)
                        .bind(session_id)
                        .execute(&mut *tx.conn)
                        .await?;
                    tx.audit(audit);
                    SteppedUp::Granted
                }
            }
        })?;
        if matches!(done, SteppedUp::Granted) {
            self.settle(audit.account_id.as_deref()).await;
        }
        Ok(done)
    }

    async fn revoke_session(&self, account_id: &str, session_id: &str, audit: AuditDraft) -> Result<bool> {
        let audit = &audit;
        let gone = write!(self, |tx| {
            let gone = sqlx::query("DELETE FROM sessions WHERE id = $1 AND account_id = $2")
                .bind(session_id)
                .bind(account_id)
                .execute(&mut *tx.conn)
                .await?
                .rows_affected();
            if gone == 1 {
                tx.audit(audit);
            }
            gone == 1
        })?;
        if gone {
            self.settle(Some(account_id)).await;
        }
        Ok(gone)
    }

    async fn revoke_other_sessions(&self, account_id: &str, keep: &str, audit: AuditDraft) -> Result<u64> {
        let audit = &audit;
        let gone = write!(self, |tx| {
            let gone = sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND id <> $2")
                .bind(account_id)
                .bind(keep)
                .execute(&mut *tx.conn)
                .await?
                .rows_affected();
            let mut audit = audit.clone();
            if let Some(details) = audit.details.as_object_mut() {
                details.insert("revoked".into(), gone.into());
            }
            tx.audit(&audit);
            gone
        })?;
        if gone > 0 {
            self.settle(Some(account_id)).await;
        }
        Ok(gone)
    }
}

/// The sign-in's transaction.
async fn sign_in(tx: &mut Tx<'_>, s: &SignIn) -> Result<SignedIn> {
    let at = s.session.created_at;
    if let Some(c) = &s.code {
        if let Some(refused) = prove(tx, c).await? {
            return Ok(SignedIn::CodeRefused(refused));
        }
    }
    let (account_id, created) = match &s.account {
        SignInAccount::Known(id) => (id.clone(), false),
        SignInAccount::ByCredential { credential, create } => {
            match account_by_credential(tx.conn, credential.kind, &credential.lookup_hash).await? {
                Some(id) => (id, false),
                None => match create {
                    Some(account) => {
                        create_account(tx, account, credential, at).await?;
                        (account.id.clone(), true)
                    }
                    None => return Ok(SignedIn::NoAccount),
                },
            }
        }
    };
    // A share lock: a freeze or a ban on another node waits for this
    // sign-in, or this sign-in sees it.
    let state: String = sqlx::query_scalar("SELECT state FROM accounts WHERE id = $1 FOR SHARE")
        .bind(&account_id)
        .fetch_one(&mut *tx.conn)
        .await?;
    let state = word(AccountState::parse, state)?;
    if state != AccountState::Active {
        return Ok(SignedIn::Restricted(state));
    }
    let n = &s.session;
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, account_id, user_agent, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $5, $6)",
    )
    .bind(&n.id)
    .bind(&n.token_hash[..])
    .bind(&account_id)
    .bind(&n.user_agent)
    .bind(at)
    .bind(n.expires_at)
    .execute(&mut *tx.conn)
    .await?;
    if let Some(via) = &n.signed_in_with {
        let first = sqlx::query(
            "UPDATE credentials SET signed_in_at = $1 WHERE account_id = $2 AND kind = $3 AND lookup_hash = $4 \
             AND signed_in_at IS NULL",
        )
        .bind(at)
        .bind(&account_id)
        .bind(via.notice.credential.as_str())
        .bind(&via.lookup_hash)
        .execute(&mut *tx.conn)
        .await?
        .rows_affected();
        if first == 1 {
            insert_account_notice(tx, &account_id, &via.notice, at).await?;
        }
    }
    let audit = AuditDraft::new(
        "session.created",
        &account_id,
        at,
        serde_json::json!({ "session_id": n.id, "via": s.via }),
    );
    tx.audit(&audit);
    let unread = unread_notices(tx.conn, &account_id).await?;
    Ok(SignedIn::Opened {
        account_id,
        created,
        unread,
    })
}

impl PgStore {
    /// After a commit that changed what a session check of the account
    /// answers: its cached sessions go here at once, and this returns once
    /// no other node can serve them either.
    pub(super) async fn settle(&self, account_id: Option<&str>) {
        match account_id {
            Some(id) => self.sessions.forget_account(id),
            // An audit without an account cannot name whose sessions changed.
            None => self.sessions.forget_all(),
        }
        self.watch.fence().await;
    }
}
