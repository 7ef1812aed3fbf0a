use std::sync::LazyLock;

use async_trait::async_trait;
use shiming_domain::{InvitationState, Policy, RealNameStatus};

use super::enterprises::{lock_enterprise, standing_of};
use super::rebind::insert_notice;
use super::{write, PgStore, Tx};
use crate::members::{refuse_answer, refuse_closed, refuse_invite, refuse_unless_admin};
use crate::rows::{self, INVITATION_COLUMNS, JOINING_COLUMNS};
use crate::{
    InvitationAnswer, InvitationOutcome, InvitationRecord, InvitationStore, NewInvitation, Result, Revocation,
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

    async fn revoke_invitation(&self, r: Revocation) -> Result<InvitationOutcome> {
        let r = &r;
        write!(self, |tx| revoke(tx, r).await?)
    }
}

async fn create(tx: &mut Tx<'_>, i: &NewInvitation) -> Result<InvitationOutcome> {
    lock_enterprise(tx, &i.enterprise_id).await?;
    let actor = standing_of(tx, &i.enterprise_id, &i.actor).await?;
    let already_member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN credentials c ON c.account_id = m.account_id \
         WHERE m.enterprise_id = $1 AND c.kind = 'phone' AND c.lookup_hash = $2)",
    )
    .bind(&i.enterprise_id)
    .bind(&i.phone_hash)
    .fetch_one(&mut *tx.conn)
    .await?;
    if let Some(refused) = refuse_invite(actor, i.role, already_member) {
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
    insert_notice(tx, &i.notice, i.at).await?;
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
    let joining = match a.accept {
        // Under the enterprise's lock: the policy as it stands when joining.
        true => {
            lock_enterprise(tx, &enterprise_id).await?;
            Some(joining(tx, &id, &a.account_id).await?)
        }
        false => None,
    };
    if let Some(refused) = refuse_answer(&state, expires_at, a.at, joining)? {
        return Ok(refused);
    }
    let state = if a.accept {
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

/// The policy of the invitation's enterprise and the answerer's real-name
/// status.
async fn joining(tx: &mut Tx<'_>, invitation_id: &str, account_id: &str) -> Result<(Policy, RealNameStatus)> {
    static READ: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {JOINING_COLUMNS} FROM invitations i JOIN enterprises e ON e.id = i.enterprise_id \
             JOIN credentials c ON c.account_id = $2 AND c.kind = 'phone' WHERE i.id = $1"
        )
    });
    let row = sqlx::query(READ.as_str())
        .bind(invitation_id)
        .bind(account_id)
        .fetch_one(&mut *tx.conn)
        .await?;
    rows::joining(&row)
}

async fn revoke(tx: &mut Tx<'_>, r: &Revocation) -> Result<InvitationOutcome> {
    lock_enterprise(tx, &r.enterprise_id).await?;
    if let Some(refused) = refuse_unless_admin(
        standing_of(tx, &r.enterprise_id, &r.actor).await?.as_ref(),
        InvitationOutcome::ActorNotMember,
        InvitationOutcome::Refused,
    ) {
        return Ok(refused);
    }
    let found: Option<(String, i64)> =
        sqlx::query_as("SELECT state, expires_at FROM invitations WHERE id = $1 AND enterprise_id = $2")
            .bind(&r.invitation_id)
            .bind(&r.enterprise_id)
            .fetch_optional(&mut *tx.conn)
            .await?;
    let Some((state, expires_at)) = found else {
        return Ok(InvitationOutcome::NotFound);
    };
    if let Some(closed) = refuse_closed(&state, expires_at, r.at)? {
        return Ok(closed);
    }
    close(tx, &r.invitation_id, InvitationState::Revoked, r.at, &r.actor).await?;
    tx.audit(&r.audit);
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
