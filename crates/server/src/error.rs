//! The one error type on the wire. Every refusal is `{"error": {"code",
//! "message"}}`; the status of each code is decided here and nowhere else.
//! docs/errors.md lists the codes; they are a public contract.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use shiming_domain::rebind::LimitRefusal;
use shiming_domain::{ChangeRefused, CodeFormatError, EnterpriseNameError, IdNumberError, NameError, PhoneError};
use shiming_providers::realname::VerifierError;
use shiming_providers::sms::SmsError;
use shiming_providers::wechat::WechatError;
use shiming_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidPhone(#[from] PhoneError),
    #[error("{0}")]
    InvalidIdNumber(#[from] IdNumberError),
    #[error("{0}")]
    InvalidName(#[from] NameError),
    #[error("{0}")]
    InvalidCode(#[from] CodeFormatError),
    #[error("{0}")]
    InvalidEnterpriseName(#[from] EnterpriseNameError),
    #[error("{0}")]
    InvalidDisplayName(EnterpriseNameError),
    #[error("{}", code_incorrect_message(*.left))]
    CodeIncorrect {
        /// Tries left, told only to the session the code serves.
        left: Option<u32>,
    },
    #[error("no code is waiting for this number: it expired, was used, or was never sent; request a new one")]
    CodeExpired,
    #[error("too many wrong codes: this code no longer works; request a new one")]
    TooManyAttempts,
    #[error("too many requests; try again in {retry_after} seconds")]
    RateLimited { retry_after: i64 },
    #[error("sign in first")]
    Unauthenticated,
    #[error("this service does not create accounts by sign-in; ask your administrator for an account")]
    RegistrationClosed,
    #[error("this account is {0} and cannot do that")]
    AccountRestricted(&'static str),
    #[error("verifying a real name needs your explicit consent to process your ID number: send \"consent\": true")]
    ConsentRequired,
    #[error("the carrier does not confirm this name and ID number for the bound phone")]
    RealnameMismatch,
    #[error("the real name of an account cannot be edited; it changes only by rebinding the phone or WeChat to credentials verified for another person")]
    RealnameNotEditable,
    #[error("bind a phone number first")]
    NoPhoneBound,
    #[error(
        "this sign-in round trip is unknown, expired, used already, or was started in another browser; start again"
    )]
    OAuthStateInvalid,
    #[error("WeChat authorization was refused")]
    WechatDenied,
    #[error("{0}; start again")]
    WechatCodeInvalid(&'static str),
    #[error("WeChat did not grant the permission this needs")]
    WechatScopeNotGranted,
    #[error("WeChat is unavailable; try again later")]
    WechatUnavailable,
    #[error("WeChat sign-in is not configured on this service")]
    WechatNotConfigured,
    #[error("WeChat's real-name check is not configured on this service (wechat.realname = \"city_service\"): verify the real name with the bound phone")]
    WechatRealnameOff,
    #[error("this WeChat has no real name at WeChat (it has not opened WeChat Pay under a name and ID number): verify the real name with the bound phone")]
    WechatNotRealnamed,
    #[error("this WeChat is bound to no account: sign in by phone first, then bind WeChat in Account & Security")]
    WechatNotBound,
    #[error("this credential is bound to another account")]
    CredentialInUse,
    #[error("this account has one already; rebinding is a separate, verified procedure")]
    AlreadyBound,
    #[error("confirm it is you first: step up with a code to your bound phone (or WeChat re-authorization)")]
    StepUpRequired,
    #[error("{0}")]
    StepUpUnavailable(&'static str),
    #[error("the new credential must itself be real-name verified")]
    CredentialNotVerified,
    #[error("that is the credential bound now")]
    NoChange,
    #[error("this change expired or was used; start again")]
    FlowExpired,
    #[error("confirm that you accept the consequences: send \"accept_consequences\": true")]
    ConsequencesNotAccepted,
    #[error("{0}")]
    RebindLimit(String, i64),
    #[error(
        "what the preview showed no longer holds, and nothing was changed: read the preview again and confirm again"
    )]
    PreviewChanged,
    #[error("this account has no WeChat bound; bind one instead")]
    NoWechatBound,
    #[error("this is not the WeChat bound to the account")]
    WrongIdentity,
    #[error("the account would be left without any credential")]
    LastCredential,
    #[error("give the name and id_number of the new phone's holder (both; they may be left out only when the account has a real name already)")]
    PersonIncomplete,
    #[error("only the enterprise's owner and admins can do that")]
    EnterpriseAdminRequired,
    #[error("only the enterprise's owner can do that")]
    EnterpriseOwnerRequired,
    #[error("the owner's membership ends only after handing the ownership to another member")]
    OwnerMustTransfer,
    #[error("this enterprise's policy does not let members leave by themselves; an admin can remove you")]
    LeaveForbidden,
    #[error("your membership of this enterprise is suspended until an admin approves you again")]
    MembershipSuspended,
    #[error("an admin of this enterprise froze your membership")]
    MembershipFrozen,
    #[error("this enterprise asks its members to be real-name verified: verify your real name first")]
    RealNameRequired,
    #[error("that phone number is bound to a member of this enterprise already")]
    AlreadyMember,
    #[error("this invitation has expired; ask for a new one")]
    InvitationExpired,
    #[error("this invitation was {0} already")]
    InvitationClosed(&'static str),
    #[error("this rebind was {0} already")]
    ApprovalClosed(&'static str),
    #[error("an admin does not approve their own rebind: another admin, or the owner, does")]
    OwnApproval,
    #[error("the enterprise that manages this account approves the changes of its bindings, and an unbind cannot wait for an approval")]
    UnbindNeedsApproval,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the request body is larger than this service accepts")]
    PayloadTooLarge,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("the text message could not be sent; try again later")]
    SmsDeliveryFailed,
    #[error("the real-name verifier is unavailable; try again later")]
    VerifierUnavailable,
    #[error("the database is unavailable; try again later")]
    StorageUnavailable,
    #[error("something went wrong on our side")]
    Internal(String),
}

impl From<ChangeRefused> for ApiError {
    fn from(refused: ChangeRefused) -> Self {
        match refused {
            ChangeRefused::AdminRequired => ApiError::EnterpriseAdminRequired,
            ChangeRefused::OwnerRequired => ApiError::EnterpriseOwnerRequired,
            ChangeRefused::OwnerMustTransfer => ApiError::OwnerMustTransfer,
            ChangeRefused::LeaveForbidden => ApiError::LeaveForbidden,
            ChangeRefused::ActorFrozen => ApiError::MembershipFrozen,
            ChangeRefused::ActorSuspended => ApiError::MembershipSuspended,
            ChangeRefused::RealNameRequired => ApiError::RealNameRequired,
            ChangeRefused::OwnApproval => ApiError::OwnApproval,
            ChangeRefused::OwnerByTransferOnly => {
                ApiError::InvalidRequest("ownership is handed on with POST /api/v1/enterprises/{id}/transfer".into())
            }
        }
    }
}

/// The message of `code_incorrect`. Without `left` it is the one answer an
/// anonymous caller gets for every failed sign-in code, waiting or not.
fn code_incorrect_message(left: Option<u32>) -> String {
    match left {
        Some(left) => format!("the code is wrong; {left} tries left before it stops working"),
        None => "the code is wrong, expired or used up: check it, or request a new one".into(),
    }
}

impl ApiError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            InvalidJson(_) => "invalid_json",
            InvalidRequest(_) => "invalid_request",
            InvalidPhone(_) => "invalid_phone",
            InvalidIdNumber(_) => "invalid_id_number",
            InvalidName(_) => "invalid_name",
            InvalidCode(_) => "invalid_code",
            InvalidEnterpriseName(_) => "invalid_enterprise_name",
            InvalidDisplayName(_) => "invalid_display_name",
            CodeIncorrect { .. } => "code_incorrect",
            CodeExpired => "code_expired",
            TooManyAttempts => "too_many_attempts",
            RateLimited { .. } => "rate_limited",
            Unauthenticated => "unauthenticated",
            RegistrationClosed => "registration_closed",
            AccountRestricted(_) => "account_restricted",
            ConsentRequired => "consent_required",
            RealnameMismatch => "realname_mismatch",
            RealnameNotEditable => "realname_not_editable",
            NoPhoneBound => "no_phone_bound",
            OAuthStateInvalid => "oauth_state_invalid",
            WechatDenied => "wechat_denied",
            WechatCodeInvalid(_) => "wechat_code_invalid",
            WechatScopeNotGranted => "wechat_scope_not_granted",
            WechatUnavailable => "wechat_unavailable",
            WechatNotConfigured => "wechat_not_configured",
            WechatRealnameOff => "wechat_realname_not_configured",
            WechatNotRealnamed => "wechat_not_realnamed",
            WechatNotBound => "wechat_not_bound",
            CredentialInUse => "credential_in_use",
            AlreadyBound => "already_bound",
            StepUpRequired => "step_up_required",
            StepUpUnavailable(_) => "step_up_unavailable",
            CredentialNotVerified => "credential_not_verified",
            NoChange => "no_change",
            FlowExpired => "flow_expired",
            ConsequencesNotAccepted => "consequences_not_accepted",
            RebindLimit(..) => "rebind_limit",
            PreviewChanged => "preview_changed",
            LastCredential => "last_credential",
            NoWechatBound => "no_wechat_bound",
            WrongIdentity => "wrong_identity",
            PersonIncomplete => "person_incomplete",
            EnterpriseAdminRequired => "enterprise_admin_required",
            EnterpriseOwnerRequired => "enterprise_owner_required",
            OwnerMustTransfer => "owner_must_transfer",
            LeaveForbidden => "leave_forbidden",
            AlreadyMember => "already_member",
            MembershipSuspended => "membership_suspended",
            MembershipFrozen => "membership_frozen",
            RealNameRequired => "realname_required",
            InvitationExpired => "invitation_expired",
            InvitationClosed(_) => "invitation_closed",
            ApprovalClosed(_) => "approval_closed",
            OwnApproval => "own_approval",
            UnbindNeedsApproval => "unbind_needs_approval",
            NotFound(_) => "not_found",
            MethodNotAllowed => "method_not_allowed",
            PayloadTooLarge => "payload_too_large",
            SmsDeliveryFailed => "sms_delivery_failed",
            VerifierUnavailable => "verifier_unavailable",
            StorageUnavailable => "storage_unavailable",
            Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            InvalidJson(_)
            | InvalidRequest(_)
            | InvalidPhone(_)
            | InvalidIdNumber(_)
            | InvalidName(_)
            | InvalidCode(_)
            | InvalidEnterpriseName(_)
            | InvalidDisplayName(_)
            | CodeIncorrect { .. }
            | CodeExpired
            | ConsentRequired => StatusCode::BAD_REQUEST,
            OAuthStateInvalid | WechatDenied | WechatCodeInvalid(_) => StatusCode::BAD_REQUEST,
            WechatScopeNotGranted | WechatNotBound => StatusCode::FORBIDDEN,
            WechatNotConfigured | WechatRealnameOff => StatusCode::NOT_FOUND,
            WechatNotRealnamed => StatusCode::UNPROCESSABLE_ENTITY,
            CredentialInUse | AlreadyBound => StatusCode::CONFLICT,
            WechatUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Unauthenticated => StatusCode::UNAUTHORIZED,
            RegistrationClosed | AccountRestricted(_) => StatusCode::FORBIDDEN,
            StepUpRequired => StatusCode::FORBIDDEN,
            StepUpUnavailable(_) | NoChange | LastCredential | NoWechatBound | PreviewChanged | WrongIdentity => {
                StatusCode::CONFLICT
            }
            CredentialNotVerified => StatusCode::UNPROCESSABLE_ENTITY,
            FlowExpired => StatusCode::GONE,
            ConsequencesNotAccepted | PersonIncomplete => StatusCode::BAD_REQUEST,
            RebindLimit(..) => StatusCode::TOO_MANY_REQUESTS,
            EnterpriseAdminRequired
            | EnterpriseOwnerRequired
            | LeaveForbidden
            | MembershipSuspended
            | MembershipFrozen
            | RealNameRequired
            | OwnApproval
            | UnbindNeedsApproval => StatusCode::FORBIDDEN,
            OwnerMustTransfer | AlreadyMember | InvitationClosed(_) | ApprovalClosed(_) => StatusCode::CONFLICT,
            InvitationExpired => StatusCode::GONE,
            NotFound(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RealnameNotEditable | NoPhoneBound => StatusCode::CONFLICT,
            RealnameMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            TooManyAttempts | RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            SmsDeliveryFailed => StatusCode::BAD_GATEWAY,
            VerifierUnavailable | StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            // The detail stays in the log; the client learns only that it failed.
            tracing::error!(error = %detail, "internal error");
        }
        let body = serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } });
        let mut resp = (self.status(), Json(body)).into_response();
        if let ApiError::RateLimited { retry_after } | ApiError::RebindLimit(_, retry_after) = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RateLimited { retry_after, .. } => ApiError::RateLimited { retry_after },
            StoreError::CredentialInUse => ApiError::CredentialInUse,
            StoreError::AlreadyBound => ApiError::AlreadyBound,
            StoreError::LastCredential => ApiError::LastCredential,
            StoreError::PreviewChanged => ApiError::PreviewChanged,
            StoreError::RebindLimit(refusal) => refusal.into(),
            StoreError::AccountRestricted(state) => ApiError::AccountRestricted(state.as_str()),
            StoreError::Refused(refused) => refused.into(),
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "the database is unavailable");
                ApiError::StorageUnavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<LimitRefusal> for ApiError {
    fn from(r: LimitRefusal) -> Self {
        let why = match r {
            LimitRefusal::Cooldown { .. } => "rebinds of one account need a pause between them; try again later".into(),
            LimitRefusal::YearlyCap { max, .. } => {
                format!("the real-name person of an account changes at most {max} times in 365 days")
            }
        };
        ApiError::RebindLimit(why, r.retry_after())
    }
}

impl From<SmsError> for ApiError {
    fn from(e: SmsError) -> Self {
        tracing::warn!(error = %e, "SMS not sent");
        ApiError::SmsDeliveryFailed
    }
}

impl From<VerifierError> for ApiError {
    fn from(e: VerifierError) -> Self {
        tracing::warn!(error = %e, "real-name verifier failed");
        ApiError::VerifierUnavailable
    }
}

impl From<WechatError> for ApiError {
    fn from(e: WechatError) -> Self {
        match e {
            WechatError::InvalidCode => ApiError::WechatCodeInvalid("WeChat says the authorization code is invalid"),
            WechatError::CodeUsed => ApiError::WechatCodeInvalid("WeChat says the authorization code was used already"),
            WechatError::CodeExpired => ApiError::WechatCodeInvalid("WeChat says the authorization code expired"),
            WechatError::ScopeNotGranted => ApiError::WechatScopeNotGranted,
            other => {
                tracing::warn!(error = %other, "WeChat call failed");
                ApiError::WechatUnavailable
            }
        }
    }
}

impl From<shiming_vault::VaultError> for ApiError {
    fn from(e: shiming_vault::VaultError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    //! The codes and statuses of the code against the table of
    //! docs/errors.md, in both directions.

    use std::collections::{BTreeMap, HashSet};
    use std::mem::discriminant;

    use super::*;

    /// The page that documents the codes, as built into this test.
    const ERRORS_MD: &str = include_str!("../../../docs/errors.md");

    /// One value of every variant. Each arm of the `match`, which has no
    /// wildcard, names the variant that follows: adding a variant to
    /// [`ApiError`] fails to compile here until it gets an arm, and it is
    /// checked once an arm leads to it (and a documented code with no
    /// variant leading to it fails the test below).
    fn one_of_each() -> Vec<ApiError> {
        use ApiError::*;
        let mut all = vec![InvalidJson(String::new())];
        loop {
            let next = match all.last().expect("starts with one") {
                InvalidJson(_) => InvalidRequest(String::new()),
                InvalidRequest(_) => InvalidPhone(PhoneError::NotE164),
                InvalidPhone(_) => InvalidIdNumber(IdNumberError::Format),
                InvalidIdNumber(_) => InvalidName(NameError::Length),
                InvalidName(_) => InvalidCode(CodeFormatError),
                InvalidCode(_) => InvalidEnterpriseName(EnterpriseNameError::Length),
                InvalidEnterpriseName(_) => InvalidDisplayName(EnterpriseNameError::Control),
                InvalidDisplayName(_) => CodeIncorrect { left: Some(1) },
                CodeIncorrect { .. } => CodeExpired,
                CodeExpired => TooManyAttempts,
                TooManyAttempts => RateLimited { retry_after: 1 },
                RateLimited { .. } => Unauthenticated,
                Unauthenticated => RegistrationClosed,
                RegistrationClosed => AccountRestricted("frozen"),
                AccountRestricted(_) => ConsentRequired,
                ConsentRequired => RealnameMismatch,
                RealnameMismatch => RealnameNotEditable,
                RealnameNotEditable => NoPhoneBound,
                NoPhoneBound => OAuthStateInvalid,
                OAuthStateInvalid => WechatDenied,
                WechatDenied => WechatCodeInvalid("invalid"),
                WechatCodeInvalid(_) => WechatScopeNotGranted,
                WechatScopeNotGranted => WechatUnavailable,
                WechatUnavailable => WechatNotConfigured,
                WechatNotConfigured => WechatRealnameOff,
                WechatRealnameOff => WechatNotRealnamed,
                WechatNotRealnamed => WechatNotBound,
                WechatNotBound => CredentialInUse,
                CredentialInUse => AlreadyBound,
                AlreadyBound => StepUpRequired,
                StepUpRequired => StepUpUnavailable("no phone"),
                StepUpUnavailable(_) => CredentialNotVerified,
                CredentialNotVerified => NoChange,
                NoChange => FlowExpired,
                FlowExpired => ConsequencesNotAccepted,
                ConsequencesNotAccepted => RebindLimit("cool-down".into(), 1),
                RebindLimit(..) => PreviewChanged,
                PreviewChanged => NoWechatBound,
                NoWechatBound => WrongIdentity,
                WrongIdentity => LastCredential,
                LastCredential => PersonIncomplete,
                PersonIncomplete => EnterpriseAdminRequired,
                EnterpriseAdminRequired => EnterpriseOwnerRequired,
                EnterpriseOwnerRequired => OwnerMustTransfer,
                OwnerMustTransfer => LeaveForbidden,
                LeaveForbidden => MembershipSuspended,
                MembershipSuspended => MembershipFrozen,
                MembershipFrozen => RealNameRequired,
                RealNameRequired => AlreadyMember,
                AlreadyMember => InvitationExpired,
                InvitationExpired => InvitationClosed("accepted"),
                InvitationClosed(_) => ApprovalClosed("denied"),
                ApprovalClosed(_) => OwnApproval,
                OwnApproval => UnbindNeedsApproval,
                UnbindNeedsApproval => NotFound("route"),
                NotFound(_) => PayloadTooLarge,
                PayloadTooLarge => MethodNotAllowed,
                MethodNotAllowed => SmsDeliveryFailed,
                SmsDeliveryFailed => VerifierUnavailable,
                VerifierUnavailable => StorageUnavailable,
                StorageUnavailable => Internal(String::new()),
                Internal(_) => break,
            };
            let seen: HashSet<_> = all.iter().map(discriminant).collect();
            assert!(!seen.contains(&discriminant(&next)), "{next:?} listed twice");
            all.push(next);
        }
        all
    }

    /// Code to status, of every variant.
    fn in_code() -> BTreeMap<&'static str, u16> {
        let mut codes = BTreeMap::new();
        for e in one_of_each() {
            let status = e.status().as_u16();
            if let Some(other) = codes.insert(e.code(), status) {
                assert_eq!(other, status, "`{}` has two statuses", e.code());
            }
        }
        codes
    }

    /// Code to status, from the rows `| `code` | status | when |` of the
    /// table under "## The codes"; every row of that table must be one.
    fn in_docs(page: &str) -> BTreeMap<String, u16> {
        let section = page
            .split("\n## ")
            .find(|s| s.starts_with("The codes\n"))
            .expect("docs/errors.md has a section \"## The codes\"");
        let mut rows = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'));
        let header: Vec<_> = rows.next().expect("a table").split('|').map(str::trim).collect();
        assert_eq!(header, ["", "code", "HTTP", "when", ""], "the table's header");
        assert!(rows.next().is_some_and(|l| l.starts_with("|---")), "the header's rule");
        let mut codes = BTreeMap::new();
        for row in rows {
            let cells: Vec<_> = row.splitn(4, '|').map(str::trim).collect();
            let code = cells
                .get(1)
                .and_then(|c| c.strip_prefix('`')?.strip_suffix('`'))
                .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
                .unwrap_or_else(|| panic!("a row of the codes table without a `code`: {row}"));
            let status = cells
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("a row of the codes table without a status: {row}"));
            assert!(
                codes.insert(code.to_owned(), status).is_none(),
                "`{code}` documented twice"
            );
        }
        assert!(!codes.is_empty(), "the codes table has rows");
        codes
    }

    #[test]
    fn every_code_is_documented_with_its_status() {
        let docs = in_docs(ERRORS_MD);
        for (code, status) in in_code() {
            match docs.get(code) {
                None => panic!("`{code}` ({status}) is not in the table of docs/errors.md"),
                Some(documented) => assert_eq!(
                    *documented, status,
                    "`{code}` answers {status}, docs/errors.md says {documented}"
                ),
            }
        }
    }

    #[test]
    fn every_documented_code_exists() {
        let codes = in_code();
        for (code, status) in in_docs(ERRORS_MD) {
            assert!(
                codes.contains_key(code.as_str()),
                "docs/errors.md documents `{code}` ({status}), which no ApiError answers"
            );
        }
    }

    #[test]
    fn the_table_parser_refuses_what_it_cannot_read() {
        let page =
            |rows: &str| format!("# E\n\n## The codes\n\n| code | HTTP | when |\n|---|---|---|\n{rows}\n## Next\n");
        let read = in_docs(&page("| `a_b` | 409 | x |\n| `c` | 400 | y \\| z |\n"));
        assert_eq!(read, BTreeMap::from([("a_b".to_owned(), 409), ("c".to_owned(), 400)]));
        for bad in [
            "| a_b | 409 | x |",
            "| `a_b` | conflict | x |",
            "| `a_b` | 409 | x |\n| `a_b` | 409 | y |",
        ] {
            let text = page(&format!("{bad}\n"));
            assert!(std::panic::catch_unwind(|| in_docs(&text)).is_err(), "read {bad:?}");
        }
    }
}
