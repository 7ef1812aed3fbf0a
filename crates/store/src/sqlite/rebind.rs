use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use shiming_domain::rebind::YEAR_SECS;
use shiming_domain::{AccountState, CredentialKind, Nature};

use super::accounts::insert_credential;
use super::approvals::settle_approval;
use super::notices::insert_account_notice;
use super::worker::Tx;
use super::{append_audit, SqliteStore};
use crate::error::word;
use crate::members::notified;
use crate::plan::{self, HeldCredential, Snapshot};
use crate::rows;
use crate::{
    NewNotice, NewPendingChange, NewPerson, Notice, NoticeDelivery, PendingChange, Proof, RebindCommit, RebindStore,
    Result, StoreError,
};

/// What the commit transaction reads of the account before it decides.
fn snapshot(tx: &Tx<'_>, account_id: &str, now: i64) -> Result<Snapshot> {
    let (state, nature, realname_person_hash): (String, String, Option<Vec<u8>>) = tx
        .conn
        .prepare_cached("SELECT state, nature, realname_person_hash FROM accounts WHERE id = ?")?
        .query_row([account_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or(StoreError::Conflict("the account is gone"))?;
    let mut stmt = tx.conn.prepare_cached(
        "SELECT c.id, c.kind, c.lookup_hash, p.person_hash FROM credentials c \
         LEFT JOIN attestations a ON a.credential_id = c.id LEFT JOIN persons p ON p.id = a.person_id \
         WHERE c.account_id = ?",
    )?;
    let mut rows = stmt.query([account_id])?;
    let mut credentials = Vec::new();
    while let Some(r) = rows.next()? {
        credentials.push(HeldCredential {
            id: r.get(0)?,
            kind: word(CredentialKind::parse, r.get(1)?)?,
            lookup_hash: r.get(2)?,
            person_hash: r.get(3)?,
        });
    }
    let rebinds = tx
        .conn
        .prepare_cached("SELECT at, person_changed FROM rebinds WHERE account_id = ? AND at > ?")?
        .query_map(params![account_id, now - YEAR_SECS], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Snapshot {
        state: word(AccountState::parse, state)?,
        nature: word(Nature::parse, nature)?,
        realname_person_hash,
        credentials,
        rebinds,
    })
}

#[async_trait]
impl RebindStore for SqliteStore {
    async fn open_change(&self, c: NewPendingChange) -> Result<i64> {
        self.db.write(move |tx| open(tx, &c)).await
    }

    async fn pending_change(
        &self,
        account_id: &str,
        session_id: &str,
        kind: CredentialKind,
        now: i64,
    ) -> Result<Option<PendingChange>> {
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM pending_changes WHERE account_id = ? AND session_id = ? AND kind = ? \
                     AND consumed_at IS NULL AND expires_at > ? ORDER BY id DESC LIMIT 1",
            )?;
            let mut rows = stmt.query(params![account_id, session_id, kind.as_str(), now])?;
            rows.next()?.map(rows::pending_change).transpose()
        })
    }

    async fn prove_change(&self, id: i64, person: Option<NewPerson>, proof: &Proof) -> Result<bool> {
        let proof = proof.clone();
        self.db
            .write(move |tx| {
                let e = &proof.expected;
                let p = person.as_ref();
                // No person given keeps the one the change holds (or none).
                let done = tx
                    .conn
                    .prepare_cached(
                        "UPDATE pending_changes SET proven_at = ?, preview_sealed = ?, expect_replaces = ?, \
                         expect_person_changes = ?, expect_status = ?, expect_nature = ?, \
                         person_hash = COALESCE(?, person_hash), person_name_sealed = COALESCE(?, person_name_sealed), \
                         person_id_sealed = COALESCE(?, person_id_sealed) \
                         WHERE id = ? AND consumed_at IS NULL AND expires_at > ?",
                    )?
                    .execute(params![
                        proof.at,
                        proof.preview_sealed,
                        e.replaces,
                        e.person_changes,
                        e.status_after.as_str(),
                        e.nature_after.as_str(),
                        p.map(|p| &p.person_hash),
                        p.map(|p| &p.name_sealed),
                        p.map(|p| &p.id_number_sealed),
                        id,
                        proof.at
                    ])?;
                Ok(done == 1)
            })
            .await
    }

    async fn rebinds_since(&self, account_id: &str, since: i64) -> Result<Vec<(i64, bool)>> {
        self.db.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT at, person_changed FROM rebinds WHERE account_id = ? AND at > ? ORDER BY at")?
                .query_map(params![account_id, since], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    async fn commit_rebind(&self, c: RebindCommit) -> Result<u64> {
        let account_id = c.account_id.clone();
        let revoked = self.db.write(move |tx| commit(tx, &c)).await?;
        // Sessions revoked, the nature changed: seen by the next check.
        self.forget(Some(&account_id));
        Ok(revoked)
    }

    async fn claim_notices(&self, now: i64, lease: i64, limit: u32) -> Result<Vec<Notice>> {
        self.db
            .write(move |tx| {
                Ok(tx
                    .conn
                    .prepare_cached(
                        "UPDATE notices SET claimed_until = ?1 + ?2 WHERE id IN (SELECT id FROM notices \
                         WHERE sent_at IS NULL AND attempts < 5 AND (claimed_until IS NULL OR claimed_until <= ?1) ORDER BY id LIMIT ?3) \
                         RETURNING id, phone_sealed, text_sealed, attempts",
                    )?
                    .query_map(params![now, lease, limit], |r| {
                        Ok(Notice {
                            id: r.get(0)?,
                            phone_sealed: r.get(1)?,
                            text_sealed: r.get(2)?,
                            attempts: r.get(3)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn finish_notice(&self, id: i64, delivery: NoticeDelivery) -> Result<()> {
        self.db
            .write(move |tx| {
                match delivery {
                    NoticeDelivery::Sent { at } => tx
                        .conn
                        .prepare_cached("UPDATE notices SET sent_at = ?, claimed_until = NULL WHERE id = ?")?
                        .execute(params![at, id])?,
                    // Held back by a claim that runs out at the retry time.
                    NoticeDelivery::Failed { retry_at } => tx
                        .conn
                        .prepare_cached("UPDATE notices SET attempts = attempts + 1, claimed_until = ? WHERE id = ?")?
                        .execute(params![retry_at, id])?,
                };
                Ok(())
            })
            .await
    }
}

/// The commit of a bind, rebind or unbind, inside the writer's transaction.
fn commit(tx: &Tx<'_>, c: &RebindCommit) -> Result<u64> {
    if let Some(pending_id) = c.pending_id {
        // Used up here, in the commit: a double-submitted confirm commits once.
        let taken = tx
            .conn
            .prepare_cached(
                "UPDATE pending_changes SET consumed_at = ?1 \
                 WHERE id = ?2 AND account_id = ?3 AND consumed_at IS NULL AND proven_at IS NOT NULL AND expires_at > ?1",
            )?
            .execute(params![c.at, pending_id, c.account_id])?;
        if taken != 1 {
            return Err(StoreError::Conflict("the pending change is used, expired or gone"));
        }
    }
    let plan = plan::plan(&snapshot(tx, &c.account_id, c.at)?, c)?;
    // After the plan: a change whose preview no longer holds is refused as
    // such, before it asks for (or carries out) an approval.
    settle_approval(tx, c)?;
    if let Some(old) = plan.remove {
        tx.conn
            .prepare_cached("DELETE FROM credentials WHERE id = ?")?
            .execute([old])?;
    }
    if let Some(new) = &c.new {
        insert_credential(tx, &c.account_id, new, c.at)?;
    }
    tx.conn
        .prepare_cached(
            "UPDATE accounts SET nature = ?, realname_person_hash = COALESCE(?, realname_person_hash) WHERE id = ?",
        )?
        .execute(params![plan.nature_after.as_str(), plan.realname_after, c.account_id])?;
    if plan.leaves_management {
        let mut stmt = tx.conn.prepare_cached(plan::PERSON_CHANGED)?;
        let managed: Vec<String> = stmt
            .query_map([&c.account_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        for enterprise_id in managed {
            append_audit(tx, &plan::person_changed_event(&c.account_id, &enterprise_id, c.at))?;
        }
    }
    let revoked = if plan.rebind {
        tx.conn
            .prepare_cached("DELETE FROM sessions WHERE account_id = ? AND id <> ?")?
            .execute(params![c.account_id, c.keep_session])? as u64
    } else {
        0
    };
    // Every other open change, OAuth flow and code of the account ends here.
    for end_open in [
        "UPDATE pending_changes SET consumed_at = ? WHERE account_id = ? AND consumed_at IS NULL",
        "UPDATE oauth_flows SET consumed_at = ? WHERE account_id = ? AND consumed_at IS NULL",
        "UPDATE sms_codes SET consumed_at = ? WHERE account_id = ? AND consumed_at IS NULL",
    ] {
        tx.conn.prepare_cached(end_open)?.execute(params![c.at, c.account_id])?;
    }
    if plan.rebind {
        tx.conn
            .prepare_cached("INSERT INTO rebinds (account_id, kind, person_changed, at) VALUES (?, ?, ?, ?)")?
            .execute(params![c.account_id, c.kind.as_str(), plan.person_changed, c.at])?;
    }
    for audit in &plan.audits {
        append_audit(tx, audit)?;
    }
    for n in &c.notices {
        insert_notice(tx, n, c.at)?;
    }
    insert_account_notice(tx, &c.account_id, &c.account_notice, c.at)?;
    if plan.realname_changed {
        let mut stmt = tx.conn.prepare_cached(plan::MEMBER_OF)?;
        let member_of = stmt
            .query_map([&c.account_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(stmt);
        let n = &c.admin_notice;
        for enterprise_id in notified(member_of)? {
            tx.conn.prepare_cached(plan::NOTIFY_ADMINS)?.execute(params![
                n.kind,
                n.credential.as_str(),
                n.masked_sealed,
                c.at,
                enterprise_id,
                c.account_id
            ])?;
        }
    }
    Ok(revoked)
}

/// Queues a text message, in the caller's transaction.
pub(super) fn insert_notice(tx: &Tx<'_>, n: &NewNotice, at: i64) -> Result<()> {
    tx.conn
        .prepare_cached("INSERT INTO notices (phone_sealed, text_sealed, created_at) VALUES (?, ?, ?)")?
        .execute(params![n.phone_sealed, n.text_sealed, at])?;
    Ok(())
}

/// Opens a pending change in the caller's transaction; returns its id.
pub(super) fn open(tx: &Tx<'_>, c: &NewPendingChange) -> Result<i64> {
    // One change at a time per account: a new start ends the others.
    tx.conn
        .prepare_cached("UPDATE pending_changes SET consumed_at = ? WHERE account_id = ? AND consumed_at IS NULL")?
        .execute(params![c.created_at, c.account_id])?;
    let cred = &c.credential;
    let person = cred.attestation.as_ref().map(|a| &a.person);
    let (appid, openid) = match &cred.app_openid {
        Some(o) => (Some(&o.appid), Some(&o.openid_sealed)),
        None => (None, None),
    };
    Ok(tx
        .conn
        .prepare_cached(
            "INSERT INTO pending_changes (account_id, session_id, kind, new_lookup_hash, new_value_sealed, new_display_sealed, \
             appid, new_openid_sealed, person_hash, person_name_sealed, person_id_sealed, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )?
        .query_row(
            params![
                c.account_id,
                c.session_id,
                cred.kind.as_str(),
                cred.lookup_hash,
                cred.value_sealed,
                cred.display_sealed,
                appid,
                openid,
                person.map(|p| &p.person_hash),
                person.map(|p| &p.name_sealed),
                person.map(|p| &p.id_number_sealed),
                c.created_at,
                c.expires_at
            ],
            |r| r.get(0),
        )?)
}
