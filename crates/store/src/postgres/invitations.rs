use std::sync::LazyLock;

use async_trait::async_trait;
use shiming_domain::InvitationState;

use super::enterprises::role_of;
use super::{write, PgStore, Tx};
use crate::members::{refuse_closed, refuse_invite, refuse_unless_admin};
use crate::rows::{self, INVITATION_COLUMNS};
use crate::{
    AuditDraft, InvitationAnswer, InvitationOutcome, InvitationRecord, InvitationStore, NewInvitation, Result,
};

#[async_trait]
impl InvitationStore for PgStore {
    async fn create_invitation(&self, i: NewInvitation) -> Result<InvitationOutcome> {
        let i = &i;
        write!(self, |tx| create(tx, i).await?)
    }

    async fn invitation_by_code(&self, code_hash: &[u8]) -> Result<Option<InvitationRecord>> {
        static ONE: LazyLock<String> = LazyLock::new(|| format!("SELECT {INVITATION_COLUMNS} WHERE i.code_hash = $1"));
        let row = sqlx::query(ONE.as_str())
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::invitation).transpose()
    }

    async fn open_invitations(&self, enterprise_id: &str, now: i64, limit: u32) -> Result<Vec<InvitationRecord>> {
        static OPEN: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {INVITATION_COLUMNS} WHERE i.enterprise_id = $1 AND i.state = 'pending' AND i.expires_at > $2 \
                 ORDER BY i.created_at DESC, i.id LIMIT $3"
            )
        });
        let found = sqlx::query(OPEN.as_str())
            .bind(enterprise_id)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::invitation).collect()
    }

    async fn answer_invitation(&self, a: InvitationAnswer) -> Result<InvitationOutcome> {
        let a = &a;
        write!(self, |tx| answer(tx, a).await?)
    }

    async fn revoke_invitation(
        &self,
        enterprise_id: &str,
        actor: &str,
        invitation_id: &str,
        at: i64,
        audit: AuditDraft,
    ) -> Result<InvitationOutcome> {
        let audit = &audit;
        write!(self, |tx| revoke(tx, enterprise_id, actor, invitation_id, at, audit)
            .await?)
    }
}

/// Locks the enterprise, so that its invitations and membership changes
/// are made one at a time.
async fn lock_enterprise(tx: &mut Tx<'_>, enterprise_id: &str) -> Result<()> {
    sqlx::query("SELECT 1 FROM enterprises WHERE id = $1 FOR UPDATE")
        .bind(enterprise_id)
        .execute(&mut *tx.conn)
        .await?;
    Ok(())
}

async fn create(tx: &mut Tx<'_>, i: &NewInvitation) -> Result<InvitationOutcome> {
    lock_enterprise(tx, &i.enterprise_id).await?;
    let actor = role_of(tx, &i.enterprise_id, &i.actor).await?;
    let already_member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN credentials c ON c.account_id = m.account_id \
         WHERE m.enterprise_id = $1 AND c.kind = 'phone' AND c.lookup_hash = $2)",
    )
    .bind(&i.enterprise_id)
    .bind(&i.phone_hash)
    .fetch_one(&mut *tx.conn)
    .await?;
    if let Some(refused) = refuse_invite(actor.as_deref(), i.role, already_member)? {
        return Ok(refused);
    }
    tx.limit(&i.limits);
    sqlx::query(
        "UPDATE invitations SET state = 'revoked', closed_at = $1, closed_by = $2 \
         WHERE enterprise_id = $3 AND phone_hash = $4 AND state = 'pending'",
    )
    .bind(i.at)
    .bind(&i.actor)
    .bind(&i.enterprise_id)
    .bind(&i.phone_hash)
    .execute(&mut *tx.conn)
    .await?;
    sqlx::query(
        "INSERT INTO invitations (id, enterprise_id, code_hash, phone_hash, phone_sealed, display_name_sealed, \
         role, invited_by, created_at, expires_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')",
    )
    .bind(&i.id)
    .bind(&i.enterprise_id)
    .bind(&i.code_hash)
    .bind(&i.phone_hash)
    .bind(&i.phone_sealed)
    .bind(&i.display_name_sealed)
    .bind(i.role.as_str())
    .bind(&i.actor)
    .bind(i.at)
    .bind(i.expires_at)
    .execute(&mut *tx.conn)
    .await?;
    sqlx::query("INSERT INTO notices (phone_sealed, text_sealed, created_at) VALUES ($1, $2, $3)")
        .bind(&i.notice.phone_sealed)
        .bind(&i.notice.text_sealed)
        .bind(i.at)
        .execute(&mut *tx.conn)
        .await?;
    tx.audit(&i.audit);
    Ok(InvitationOutcome::Done)
}

async fn answer(tx: &mut Tx<'_>, a: &InvitationAnswer) -> Result<InvitationOutcome> {
    // Found only when sent to the phone the account holds; locked, so that
    // one answer closes it.
    let found: Option<(String, String, String, i64)> = sqlx::query_as(
        "SELECT i.id, i.enterprise_id, i.state, i.expires_at FROM invitations i \
         JOIN credentials c ON c.lookup_hash = i.phone_hash AND c.kind = 'phone' \
         WHERE i.code_hash = $1 AND c.account_id = $2 FOR UPDATE OF i",
    )
    .bind(&a.code_hash)
    .bind(&a.account_id)
    .fetch_optional(&mut *tx.conn)
    .await?;
    let Some((id, enterprise_id, state, expires_at)) = found else {
        return Ok(InvitationOutcome::NotFound);
    };
    if let Some(closed) = refuse_closed(&state, expires_at, a.at)? {
        return Ok(closed);
    }
    let state = if a.accept {
        lock_enterprise(tx, &enterprise_id).await?;
        // A member already (by another invitation) keeps the role they have.
        sqlx::query(
            "INSERT INTO memberships (enterprise_id, account_id, role, joined_at, display_name_sealed) \
             SELECT enterprise_id, $1, role, $2, display_name_sealed FROM invitations WHERE id = $3 \
             ON CONFLICT DO NOTHING",
        )
        .bind(&a.account_id)
        .bind(a.at)
        .bind(&id)
        .execute(&mut *tx.conn)
        .await?;
        InvitationState::Accepted
    } else {
        InvitationState::Declined
    };
    close(tx, &id, state, a.at, &a.account_id).await?;
    tx.audit(&a.audit);
    Ok(InvitationOutcome::Done)
}

async fn revoke(
    tx: &mut Tx<'_>,
    enterprise_id: &str,
    actor: &str,
    invitation_id: &str,
    at: i64,
    audit: &AuditDraft,
) -> Result<InvitationOutcome> {
    lock_enterprise(tx, enterprise_id).await?;
    if let Some(refused) = refuse_unless_admin(
        role_of(tx, enterprise_id, actor).await?.as_deref(),
        InvitationOutcome::ActorNotMember,
        InvitationOutcome::Refused,
    )? {
        return Ok(refused);
    }
    let found: Option<(String, i64)> =
        sqlx::query_as("SELECT state, expires_at FROM invitations WHERE id = $1 AND enterprise_id = $2")
            .bind(invitation_id)
            .bind(enterprise_id)
            .fetch_optional(&mut *tx.conn)
            .await?;
    let Some((state, expires_at)) = found else {
        return Ok(InvitationOutcome::NotFound);
    };
    if let Some(closed) = refuse_closed(&state, expires_at, at)? {
        return Ok(closed);
    }
    close(tx, invitation_id, InvitationState::Revoked, at, actor).await?;
    tx.audit(audit);
    Ok(InvitationOutcome::Done)
}

async fn close(tx: &mut Tx<'_>, id: &str, state: InvitationState, at: i64, by: &str) -> Result<()> {
    sqlx::query("UPDATE invitations SET state = $1, closed_at = $2, closed_by = $3 WHERE id = $4")
        .bind(state.as_str())
        .bind(at)
        .bind(by)
        .bind(id)
        .execute(&mut *tx.conn)
        .await?;
    Ok(())
}
