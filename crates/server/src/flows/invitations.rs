//! Invitations to join an enterprise, by phone: an admin sends one (a code
//! and a link, by text message), and the holder of that phone, signed in
//! with it, accepts or declines it. The code alone is worth nothing: an
//! invitation is found only for an account whose bound phone it was sent
//! to, so a forwarded or guessed link tells anyone else nothing, not even
//! which enterprise it is from.

use serde_json::json;
use shiming_domain::{ChangeRefused, CredentialKind, InvitationState, Phone, Role};
use shiming_store::{
    AuditDraft, InvitationAnswer, InvitationOutcome, InvitationRecord, Membership, NewInvitation, NewNotice, RateLimit,
};
use shiming_vault::random_hex;

use super::rebind::{NOTICE_PHONE, NOTICE_TEXT};
use super::security::{open_parsed, open_phone, phone_hash};
use crate::error::{ApiError, ApiResult};
use crate::session::Authenticated;
use crate::state::AppState;

/// Seal context of an invited phone number.
const INVITED_PHONE: &str = "invitation.phone";

/// A sent invitation, with its code: shown once, to the admin who sent it.
pub struct Sent {
    pub invitation: InvitationRecord,
    pub code: String,
    pub link: String,
}

/// Where an invitation's link leads: the page that shows it to the invitee.
pub fn link(state: &AppState, code: &str) -> String {
    format!("{}/invitations/{code}", state.config.public_url())
}

/// The role asked for: `member` when none.
pub fn parse_role(raw: Option<&str>) -> ApiResult<Role> {
    match raw.map(Role::parse) {
        None => Ok(Role::Member),
        Some(Some(Role::Owner)) => Err(ChangeRefused::OwnerByTransferOnly.into()),
        Some(Some(role)) => Ok(role),
        Some(None) => Err(ApiError::InvalidRequest("role is admin or member".into())),
    }
}

/// Maps what the store decided to the caller's answer.
fn outcome(o: InvitationOutcome) -> ApiResult<()> {
    match o {
        InvitationOutcome::Done => Ok(()),
        InvitationOutcome::ActorNotMember => Err(ApiError::NotFound("enterprise")),
        InvitationOutcome::AlreadyMember => Err(ApiError::AlreadyMember),
        InvitationOutcome::NotFound => Err(ApiError::NotFound("invitation")),
        InvitationOutcome::Expired => Err(ApiError::InvitationExpired),
        InvitationOutcome::Closed(s) => Err(ApiError::InvitationClosed(s.as_str())),
        InvitationOutcome::Refused(r) => Err(r.into()),
    }
}

/// Invites `phone` to the enterprise as `role`, and sends the text message.
/// The caller is `membership`'s account, active.
pub async fn invite(
    state: &AppState,
    who: &Authenticated,
    membership: &Membership,
    phone: &Phone,
    role: Role,
) -> ApiResult<Sent> {
    membership.role.may_invite(role)?;
    let cfg = &state.config.enterprises;
    let at = state.now();
    let code = random_hex(16);
    let link = link(state, &code);
    let hash = phone_hash(&state.vault, phone);
    let text = format!(
        "【shiming】「{name}」邀请您加入企业，请在 7 天内用本号码登录后打开 {link} 接受。\
         \"{name}\" invites you to join it on shiming: sign in with this number and open {link}",
        name = membership.name,
    );
    let invitation = InvitationRecord {
        id: format!("inv_{}", random_hex(16)),
        enterprise_id: membership.enterprise_id.clone(),
        enterprise_name: membership.name.clone(),
        phone_hash: hash.clone(),
        phone_sealed: state.vault.seal(INVITED_PHONE, phone.e164().as_bytes()),
        role,
        invited_by: who.account_id.clone(),
        created_at: at,
        expires_at: at + cfg.invitation_ttl_secs,
        state: InvitationState::Pending,
        closed_at: None,
    };
    let details = json!({
        "enterprise_id": invitation.enterprise_id,
        "invitation_id": invitation.id,
        "role": role,
        "phone": phone.masked(),
    });
    let limit = |bucket: &str, key: Vec<u8>, limit| RateLimit {
        bucket: bucket.into(),
        key,
        window: 86_400,
        limit,
        now: at,
    };
    let new = NewInvitation {
        id: invitation.id.clone(),
        enterprise_id: invitation.enterprise_id.clone(),
        actor: who.account_id.clone(),
        code_hash: code_hash(state, &code),
        phone_hash: hash.clone(),
        phone_sealed: invitation.phone_sealed.clone(),
        role,
        at,
        expires_at: invitation.expires_at,
        notice: NewNotice {
            phone_sealed: state.vault.seal(NOTICE_PHONE, phone.e164().as_bytes()),
            text_sealed: state.vault.seal(NOTICE_TEXT, text.as_bytes()),
        },
        audit: AuditDraft::new("enterprise.invited", &who.account_id, at, details),
        limits: vec![
            limit(
                "invitation_enterprise",
                invitation.enterprise_id.as_bytes().to_vec(),
                cfg.invitations_per_enterprise_per_day,
            ),
            limit("invitation_phone", hash, cfg.invitations_per_phone_per_day),
        ],
    };
    outcome(state.store.create_invitation(new).await?)?;
    Ok(Sent { invitation, code, link })
}

fn code_hash(state: &AppState, code: &str) -> Vec<u8> {
    state.vault.keyed_hash("invitation", code).to_vec()
}

/// The invitation of `code`, when it was sent to the phone the caller's
/// account holds; 404 otherwise, as for no invitation.
pub async fn for_me(state: &AppState, who: &Authenticated, code: &str) -> ApiResult<InvitationRecord> {
    let missing = || ApiError::NotFound("invitation");
    // A code is 32 hex digits: anything else is no one's, without a lookup.
    if code.len() != 32 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    let found = state
        .store
        .invitation_by_code(&code_hash(state, code))
        .await?
        .ok_or_else(missing)?;
    let view = state.store.account_view(&who.account_id).await?.ok_or_else(missing)?;
    let mine = match view.credential(CredentialKind::Phone) {
        Some(c) => phone_hash(&state.vault, &open_phone(&state.vault, &c.value_sealed)?) == found.phone_hash,
        None => false,
    };
    if !mine {
        return Err(missing());
    }
    Ok(found)
}

/// Accepts or declines the invitation of `code` for the caller; the store
/// decides again, in its transaction, that it is theirs and open.
pub async fn answer(state: &AppState, who: &Authenticated, code: &str, accept: bool) -> ApiResult<InvitationRecord> {
    let invitation = for_me(state, who, code).await?;
    let at = state.now();
    let kind = if accept {
        "enterprise.joined"
    } else {
        "enterprise.invitation_declined"
    };
    let details = json!({
        "enterprise_id": invitation.enterprise_id,
        "invitation_id": invitation.id,
        "role": invitation.role,
    });
    let answer = InvitationAnswer {
        code_hash: code_hash(state, code),
        account_id: who.account_id.clone(),
        accept,
        at,
        audit: AuditDraft::new(kind, &who.account_id, at, details),
    };
    outcome(state.store.answer_invitation(answer).await?)?;
    Ok(invitation)
}

/// Revokes an open invitation of the enterprise.
pub async fn revoke(state: &AppState, who: &Authenticated, enterprise_id: &str, invitation_id: &str) -> ApiResult<()> {
    let at = state.now();
    let details = json!({ "enterprise_id": enterprise_id, "invitation_id": invitation_id });
    let audit = AuditDraft::new("enterprise.invitation_revoked", &who.account_id, at, details);
    let revoked = state
        .store
        .revoke_invitation(enterprise_id, &who.account_id, invitation_id, at, audit)
        .await?;
    outcome(revoked)
}

/// The invited phone number, masked.
pub fn masked_phone(state: &AppState, invitation: &InvitationRecord) -> ApiResult<String> {
    Ok(open_parsed(&state.vault, INVITED_PHONE, &invitation.phone_sealed, Phone::parse)?.masked())
}
