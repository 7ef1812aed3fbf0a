//! Invitations to join an enterprise, by phone, and members provisioned by
//! an admin. An admin sends an invitation (a code and a link, by text
//! message), and the holder of that phone, signed in with it, accepts or
//! declines it; or an admin adds a member by phone, which creates an
//! account of nature `enterprise` managed by the enterprise when the
//! number has none, and invites the number when it has one.
//!
//! The code alone is worth nothing: an invitation is found only for an
//! account whose bound phone it was sent to, so a forwarded or guessed link
//! tells anyone else nothing, not even which enterprise it is from.

use serde_json::json;
use shiming_domain::{ChangeRefused, CredentialKind, DisplayName, Nature, Phone, Role};
use shiming_store::{
    AuditDraft, InvitationAnswer, InvitationOutcome, InvitationRecord, Membership, NewInvitation, NewManagedMember,
    Provisioned, RateLimit, Revocation, StoreError,
};
use shiming_vault::random_hex;

use super::accounts::new_account;
use super::rebind::notice;
use super::security::{open_parsed, open_phone, phone_credential, phone_hash, DISPLAY_NAME, INVITED_PHONE};
use crate::error::{ApiError, ApiResult};
use crate::session::Authenticated;
use crate::state::AppState;

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

/// The limits on texting a phone on an enterprise's behalf: per enterprise,
/// and per phone across all enterprises.
fn texting_limits(state: &AppState, enterprise_id: &str, phone_hash: &[u8], at: i64) -> Vec<RateLimit> {
    let cfg = &state.config.enterprises;
    let limit = |bucket: &str, key: &[u8], limit| RateLimit {
        bucket: bucket.into(),
        key: key.to_vec(),
        window: 86_400,
        limit,
        now: at,
    };
    vec![
        limit(
            "invitation_enterprise",
            enterprise_id.as_bytes(),
            cfg.invitations_per_enterprise_per_day,
        ),
        limit("invitation_phone", phone_hash, cfg.invitations_per_phone_per_day),
    ]
}

/// Invites `phone` to the enterprise as `role` (to be known there as
/// `display_name`, when given), and sends the text message. The caller is
/// `membership`'s account, active.
pub async fn invite(
    state: &AppState,
    who: &Authenticated,
    membership: &Membership,
    phone: &Phone,
    role: Role,
    display_name: Option<&DisplayName>,
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
    let id = format!("inv_{}", random_hex(16));
    let details = json!({
        "enterprise_id": membership.enterprise_id,
        "invitation_id": id,
        "role": role,
        "phone": phone.masked(),
    });
    let new = NewInvitation {
        id,
        enterprise_id: membership.enterprise_id.clone(),
        actor: who.account_id.clone(),
        code_hash: code_hash(state, &code),
        limits: texting_limits(state, &membership.enterprise_id, &hash, at),
        phone_hash: hash,
        phone_sealed: state.vault.seal(INVITED_PHONE, phone.e164().as_bytes()),
        display_name_sealed: display_name.map(|n| seal_display_name(state, n)),
        role,
        at,
        expires_at: at + cfg.invitation_ttl_secs,
        notice: notice(state, phone, &text),
        audit: AuditDraft::new("enterprise.invited", &who.account_id, at, details),
    };
    let invitation = new.record(&membership.name);
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
    let revocation = Revocation {
        enterprise_id: enterprise_id.to_owned(),
        actor: who.account_id.clone(),
        invitation_id: invitation_id.to_owned(),
        at,
        audit,
    };
    outcome(state.store.revoke_invitation(revocation).await?)
}

/// The invited phone number, masked.
pub fn masked_phone(state: &AppState, invitation: &InvitationRecord) -> ApiResult<String> {
    Ok(open_parsed(&state.vault, INVITED_PHONE, &invitation.phone_sealed, Phone::parse)?.masked())
}

fn seal_display_name(state: &AppState, name: &DisplayName) -> Vec<u8> {
    state.vault.seal(DISPLAY_NAME, name.as_str().as_bytes())
}

/// What adding a member by phone did.
pub enum Added {
    /// A new account of nature `enterprise`, managed by the enterprise.
    Provisioned { account_id: String },
    /// The number has an account: it is invited instead.
    Invited(Box<Sent>),
}

/// `POST /api/v1/enterprises/{id}/members`: provisions an account for a
/// phone that has none, or invites the phone that has one. The caller is
/// `membership`'s account, active and administering the enterprise.
pub async fn add_member(
    state: &AppState,
    who: &Authenticated,
    membership: &Membership,
    phone: &Phone,
    display_name: &DisplayName,
) -> ApiResult<Added> {
    let at = state.now();
    let credential = phone_credential(&state.vault, phone);
    let via = format!("enterprise {}", membership.enterprise_id);
    let account = new_account(&credential, &via, Nature::Enterprise, at);
    let account_id = account.id.clone();
    let text = format!(
        "【shiming】「{name}」已为您开通企业账号，请用本号码登录 {url}/login 并完成实名认证。\
         \"{name}\" opened a shiming account for you: sign in with this number at {url}/login",
        name = membership.name,
        url = state.config.public_url(),
    );
    let details = json!({
        "enterprise_id": membership.enterprise_id,
        "member": account_id,
        "phone": phone.masked(),
    });
    let member = NewManagedMember {
        enterprise_id: membership.enterprise_id.clone(),
        actor: who.account_id.clone(),
        limits: texting_limits(state, &membership.enterprise_id, &credential.lookup_hash, at),
        phone: credential,
        account,
        display_name_sealed: seal_display_name(state, display_name),
        at,
        notice: notice(state, phone, &text),
        audit: AuditDraft::new("enterprise.member_provisioned", &who.account_id, at, details),
    };
    match state.store.provision_member(member).await {
        Ok(Provisioned::Done) => Ok(Added::Provisioned { account_id }),
        Ok(Provisioned::ActorNotMember) => Err(ApiError::NotFound("enterprise")),
        Ok(Provisioned::Refused(refused)) => Err(refused.into()),
        // The number has an account (or got one meanwhile): an invitation.
        Ok(Provisioned::PhoneTaken) | Err(StoreError::CredentialInUse) => {
            invite(state, who, membership, phone, Role::Member, Some(display_name))
                .await
                .map(|sent| Added::Invited(Box::new(sent)))
        }
        Err(e) => Err(e.into()),
    }
}
