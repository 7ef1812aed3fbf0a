use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use shiming_domain::InvitationState;

use super::codes::take_limits;
use super::enterprises::standing_of;
use super::rebind::insert_notice;
use super::worker::Tx;
use super::{append_audit, SqliteStore};
use crate::members::{refuse_answer, refuse_closed, refuse_invite, refuse_unless_admin};
use crate::rows::{self, INVITATION_COLUMNS, JOINING_COLUMNS};
use crate::{
    InvitationAnswer, InvitationOutcome, InvitationRecord, InvitationStore, NewInvitation, Result, Revocation,
};

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn create_invitation(&self, i: NewInvitation) -> Result<InvitationOutcome> {
        self.db
            .write(move |tx| {
                let actor = standing_of(tx, &i.enterprise_id, &i.actor)?;
                let already_member: bool = tx
                    .conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN credentials c ON c.account_id = m.account_id \
                         WHERE m.enterprise_id = ? AND c.kind = 'phone' AND c.lookup_hash = ?)",
                    )?
                    .query_row(params![i.enterprise_id, i.phone_hash], |r| r.get(0))?;
                if let Some(refused) = refuse_invite(actor, i.role, already_member) {
                    return Ok(refused);
                }
                take_limits(tx, &i.limits)?;
                tx.conn
                    .prepare_cached(
                        "UPDATE invitations SET state = 'revoked', closed_at = ?, closed_by = ? \
                         WHERE enterprise_id = ? AND phone_hash = ? AND state = 'pending'",
                    )?
                    .execute(params![i.at, i.actor, i.enterprise_id, i.phone_hash])?;
                tx.conn
                    .prepare_cached(
                        "INSERT INTO invitations (id, enterprise_id, code_hash, phone_hash, phone_sealed, \
                         display_name_sealed, role, invited_by, created_at, expires_at, state) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    )?
                    .execute(params![
                        i.id,
                        i.enterprise_id,
                        i.code_hash,
                        i.phone_hash,
                        i.phone_sealed,
                        i.display_name_sealed,
                        i.role.as_str(),
                        i.actor,
                        i.at,
                        i.expires_at
                    ])?;
                insert_notice(tx, &i.notice, i.at)?;
                append_audit(tx, &i.audit)?;
                Ok(InvitationOutcome::Done)
            })
            .await
    }

    async fn invitation_by_code(&self, code_hash: &[u8]) -> Result<Option<InvitationRecord>> {
        static ONE: LazyLock<String> = LazyLock::new(|| format!("SELECT {INVITATION_COLUMNS} WHERE i.code_hash = ?"));
        self.db.read(|conn| {
            conn.prepare_cached(ONE.as_str())?
                .query_row([code_hash], |r| Ok(rows::invitation(r)))
                .optional()?
                .transpose()
        })
    }

    async fn open_invitations(&self, enterprise_id: &str, now: i64, limit: u32) -> Result<Vec<InvitationRecord>> {
        static OPEN: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {INVITATION_COLUMNS} WHERE i.enterprise_id = ? AND i.state = 'pending' AND i.expires_at > ? \
                 ORDER BY i.created_at DESC, i.id LIMIT ?"
            )
        });
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(OPEN.as_str())?;
            let found = stmt.query_map(params![enterprise_id, now, limit], |r| Ok(rows::invitation(r)))?;
            found.map(|r| r?).collect()
        })
    }

    async fn answer_invitation(&self, a: InvitationAnswer) -> Result<InvitationOutcome> {
        self.db
            .write(move |tx| {
                // Found only when sent to the phone the account holds.
                static FIND: LazyLock<String> = LazyLock::new(|| {
                    format!(
                        "SELECT i.id, i.state, i.expires_at, {JOINING_COLUMNS} FROM invitations i \
                         JOIN credentials c ON c.lookup_hash = i.phone_hash AND c.kind = 'phone' \
                         JOIN enterprises e ON e.id = i.enterprise_id \
                         WHERE i.code_hash = ? AND c.account_id = ?"
                    )
                });
                let found = tx
                    .conn
                    .prepare_cached(FIND.as_str())?
                    .query_row(params![a.code_hash, a.account_id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get(2)?,
                            rows::joining(r),
                        ))
                    })
                    .optional()?;
                let Some((id, state, expires_at, joining)) = found else {
                    return Ok(InvitationOutcome::NotFound);
                };
                if let Some(refused) = refuse_answer(&state, expires_at, a.at, a.accept.then_some(joining?))? {
                    return Ok(refused);
                }
                let state = if a.accept {
                    // A member already (by another invitation) keeps the role they have.
                    tx.conn
                        .prepare_cached(
                            "INSERT INTO memberships (enterprise_id, account_id, role, joined_at, display_name_sealed) \
                             SELECT enterprise_id, ?, role, ?, display_name_sealed FROM invitations WHERE id = ? \
                             ON CONFLICT DO NOTHING",
                        )?
                        .execute(params![a.account_id, a.at, id])?;
                    InvitationState::Accepted
                } else {
                    InvitationState::Declined
                };
                close(tx, &id, state, a.at, &a.account_id)?;
                append_audit(tx, &a.audit)?;
                Ok(InvitationOutcome::Done)
            })
            .await
    }

    async fn revoke_invitation(&self, r: Revocation) -> Result<InvitationOutcome> {
        self.db
            .write(move |tx| {
                if let Some(refused) = refuse_unless_admin(
                    standing_of(tx, &r.enterprise_id, &r.actor)?.as_ref(),
                    InvitationOutcome::ActorNotMember,
                    InvitationOutcome::Refused,
                ) {
                    return Ok(refused);
                }
                let found: Option<(String, i64)> = tx
                    .conn
                    .prepare_cached("SELECT state, expires_at FROM invitations WHERE id = ? AND enterprise_id = ?")?
                    .query_row([&r.invitation_id, &r.enterprise_id], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()?;
                let Some((state, expires_at)) = found else {
                    return Ok(InvitationOutcome::NotFound);
                };
                if let Some(closed) = refuse_closed(&state, expires_at, r.at)? {
                    return Ok(closed);
                }
                close(tx, &r.invitation_id, InvitationState::Revoked, r.at, &r.actor)?;
                append_audit(tx, &r.audit)?;
                Ok(InvitationOutcome::Done)
            })
            .await
    }
}

fn close(tx: &Tx<'_>, id: &str, state: InvitationState, at: i64, by: &str) -> Result<()> {
    tx.conn
        .prepare_cached("UPDATE invitations SET state = ?, closed_at = ?, closed_by = ? WHERE id = ?")?
        .execute(params![state.as_str(), at, by, id])?;
    Ok(())
}
