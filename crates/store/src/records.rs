//! What goes in and out of the store: ids, keyed hashes, sealed blobs, times.

use shiming_domain::rebind::RebindLimits;
use shiming_domain::{
    AccountState, ApprovalState, ChangeRefused, CodePurpose, CredentialKind, InvitationState, MemberChange, MemberFlag,
    Nature, Policy, PolicyPatch, RealNameStatus, Role, Seat,
};

/// An audit event to append in the same transaction as the change it records.
/// `details` holds ids, keyed hashes and masked values only.
#[derive(Debug, Clone)]
pub struct AuditDraft {
    pub kind: &'static str,
    pub at: i64,
    pub account_id: Option<String>,
    pub details: serde_json::Value,
}

impl AuditDraft {
    pub fn new(kind: &'static str, account_id: &str, at: i64, details: serde_json::Value) -> Self {
        AuditDraft {
            kind,
            at,
            account_id: Some(account_id.to_owned()),
            details,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub account_id: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: String,
    pub nature: Nature,
    pub audit: AuditDraft,
}

#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    pub lookup_hash: Vec<u8>,
    pub value_sealed: Vec<u8>,
    /// What Account & Security shows of it besides the masked value (a WeChat nickname).
    pub display_sealed: Option<Vec<u8>>,
    /// What it attests, when it came with a real-name claim.
    pub attestation: Option<NewAttestation>,
    /// The identity's openid in the app it was proven through (WeChat).
    pub app_openid: Option<AppOpenid>,
}

impl NewCredential {
    /// A credential that comes with nothing but its value.
    pub fn bare(kind: CredentialKind, lookup_hash: Vec<u8>, value_sealed: Vec<u8>) -> Self {
        NewCredential {
            kind,
            lookup_hash,
            value_sealed,
            display_sealed: None,
            attestation: None,
            app_openid: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewAttestation {
    pub person: NewPerson,
    /// Who attested: `carrier`, `wechat`.
    pub source: &'static str,
}

#[derive(Debug, Clone)]
pub struct AppOpenid {
    pub appid: String,
    pub openid_sealed: Vec<u8>,
}

/// An OAuth round trip in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFlow {
    pub state_hash: Vec<u8>,
    pub browser_hash: Vec<u8>,
    /// `login` or `bind`.
    pub purpose: String,
    /// The account a `bind` (or `rebind`, `step_up`) flow serves.
    pub account_id: Option<String>,
    /// The session it serves, where it matters.
    pub session_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewPerson {
    pub person_hash: Vec<u8>,
    pub name_sealed: Vec<u8>,
    pub id_number_sealed: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct PersonRecord {
    pub id: i64,
    pub person_hash: Vec<u8>,
    pub name_sealed: Vec<u8>,
    pub id_number_sealed: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Attestation {
    pub person: PersonRecord,
    pub source: String,
    pub verified_at: i64,
}

#[derive(Debug, Clone)]
pub struct CredentialRecord {
    pub id: i64,
    pub kind: CredentialKind,
    pub value_sealed: Vec<u8>,
    pub display_sealed: Option<Vec<u8>>,
    pub bound_at: i64,
    pub attestation: Option<Attestation>,
}

#[derive(Debug, Clone)]
pub struct AccountView {
    pub id: String,
    pub nature: Nature,
    pub state: AccountState,
    pub created_at: i64,
    /// The person the real name last named, kept through unbinds.
    pub realname_person_hash: Option<Vec<u8>>,
    pub credentials: Vec<CredentialRecord>,
}

impl AccountView {
    pub fn credential(&self, kind: CredentialKind) -> Option<&CredentialRecord> {
        self.credentials.iter().find(|c| c.kind == kind)
    }
}

/// A sign-in with a proven credential: what
/// [`SessionStore::sign_in`](crate::SessionStore::sign_in) does in one
/// transaction.
#[derive(Debug, Clone)]
pub struct SignIn {
    /// The code that proves the credential, tried and used up here.
    pub code: Option<CodeTry>,
    pub account: SignInAccount,
    pub session: NewSession,
    /// How the session was opened (`phone`, `wechat`), for its audit event.
    pub via: &'static str,
}

/// The account a sign-in opens its session on.
#[derive(Debug, Clone)]
pub enum SignInAccount {
    /// The account the credential is bound to; when none, `create` (when
    /// registration is open) is created holding it.
    ByCredential {
        credential: Box<NewCredential>,
        create: Option<NewAccount>,
    },
    /// An account known already.
    Known(String),
}

/// One try of a typed code (see [`crate::CodeStore::take_try`]). Owned, so
/// that a commit the code proves (a sign-in, a step-up) tries it in its own
/// transaction.
#[derive(Debug, Clone)]
pub struct CodeTry {
    pub phone_hash: Vec<u8>,
    pub purpose: CodePurpose,
    pub holder: Option<CodeHolder>,
    /// The typed code's hash, made as the code's own was.
    pub typed_hash: Vec<u8>,
    pub now: i64,
    pub max_attempts: u32,
    /// Taken before the try is counted; given back when the code is used up
    /// (a try that matched does not count against them).
    pub limits: Vec<RateLimit>,
    /// Taken once the code is used up (a check the code is the licence
    /// for); a refusal leaves the code used up, as a check made after its
    /// use would, and is answered in [`Tried::UsedUp`].
    pub then: Vec<RateLimit>,
}

/// What a try found.
#[derive(Debug)]
pub enum Tried {
    /// No live code for the phone, purpose and holder: none was sent, or it
    /// expired, was used (by a parallel request, say), replaced, or burnt
    /// by its tries.
    NoCode,
    /// Not the code; the tries counted on it so far, this one included.
    Wrong { attempts: u32 },
    /// The code, used up; then the try's `then` limits taken, or refused.
    UsedUp {
        then: std::result::Result<(), crate::StoreError>,
    },
}

/// What a step-up did.
#[derive(Debug)]
pub enum SteppedUp {
    Granted,
    /// Its code was not used up (or the check it licenses was refused).
    CodeRefused(Tried),
}

/// What a sign-in did.
#[derive(Debug)]
pub enum SignedIn {
    /// A session is open on the account.
    Opened {
        account_id: String,
        created: bool,
        /// The account's unread notices, this sign-in's included.
        unread: u64,
    },
    /// The code was not used up (wrong, used meanwhile, expired): nothing
    /// was done but counting the try.
    CodeRefused(Tried),
    /// No account holds the credential, and none was to be created; the
    /// code is used up.
    NoAccount,
    /// The account is not active: no session; the code is used up.
    Restricted(AccountState),
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub token_hash: [u8; 32],
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The credential it signs in with, and the notice its first sign-in to
    /// the account leaves.
    pub signed_in_with: Option<SignedInWith>,
}

#[derive(Debug, Clone)]
pub struct SignedInWith {
    pub lookup_hash: Vec<u8>,
    pub notice: NewAccountNotice,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub account_id: String,
    pub account_state: AccountState,
    pub account_nature: Nature,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// Until when the session is privileged by a step-up.
    pub step_up_until: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewCode {
    /// The account the code serves (step-up, phone change); none for sign-in.
    pub account_id: Option<String>,
    /// The session of that account it serves: no other session can use or burn it.
    pub session_id: Option<String>,
    pub phone_hash: Vec<u8>,
    pub purpose: CodePurpose,
    pub code_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The message carrying the code, for the development outbox: stored in
    /// the code's own transaction, so that the outbox holds a code's text
    /// exactly when the code was issued.
    pub outbox: Option<OutboxMessage>,
    /// The pending change the code is sent to prove (a phone change's new
    /// phone), opened in the code's transaction: a code that its limits
    /// refuse opens none.
    pub opens: Option<NewPendingChange>,
}

/// Whom a code serves: one session of one account (step-up, phone change).
/// Sign-in codes serve nobody yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeHolder {
    pub account_id: String,
    pub session_id: String,
}

/// One sliding-window limit: at most `limit` hits of `key` in `bucket`
/// within `window` seconds before `now`.
#[derive(Debug, Clone)]
pub struct RateLimit {
    pub bucket: String,
    pub key: Vec<u8>,
    pub window: i64,
    pub limit: u32,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub phone_hash: Vec<u8>,
    pub phone_sealed: Vec<u8>,
    pub text_sealed: Vec<u8>,
    pub sent_at: i64,
}

/// A credential change between its start and its confirmation.
#[derive(Debug, Clone)]
pub struct NewPendingChange {
    pub account_id: String,
    pub session_id: String,
    /// The credential to bind, with the person it is to attest.
    pub credential: NewCredential,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct PendingChange {
    pub id: i64,
    /// The credential to bind; its attestation is the person it attests.
    pub credential: NewCredential,
    /// Set once possession was proven: the preview shown then.
    pub proof: Option<Proof>,
    pub expires_at: i64,
}

/// What proving a pending change showed: the preview as shown (sealed JSON)
/// and the outcome the confirm must still find true.
#[derive(Debug, Clone)]
pub struct Proof {
    pub preview_sealed: Vec<u8>,
    pub expected: ExpectedOutcome,
    pub at: i64,
}

/// What a commit was previewed (or decided) to do. The commit transaction
/// derives it again from what it reads and refuses with
/// [`StoreError::PreviewChanged`] when anything differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedOutcome {
    /// The credential of the kind that is replaced or removed (`None`: none).
    pub replaces: Option<i64>,
    pub person_changes: bool,
    pub status_after: RealNameStatus,
    pub nature_after: Nature,
}

/// A change of one credential to commit in one transaction: a bind, a
/// rebind, or an unbind.
#[derive(Debug, Clone)]
pub struct RebindCommit {
    /// The pending change it confirms: used up, once.
    pub pending_id: Option<i64>,
    pub account_id: String,
    /// The session that confirms; on a rebind every other session of the account goes.
    pub keep_session: String,
    pub kind: CredentialKind,
    /// The credential replacing it; `None` unbinds.
    pub new: Option<NewCredential>,
    pub expected: ExpectedOutcome,
    pub limits: RebindLimits,
    /// Text messages to queue (to the old phone, the new one).
    pub notices: Vec<NewNotice>,
    /// What the account's own notices say of it.
    pub account_notice: NewAccountNotice,
    /// What the notices of the owner and admins of the account's enterprises
    /// say when the commit changes its real name (where their policy asks).
    pub admin_notice: NewAccountNotice,
    /// An admin's approval this commit carries out, when the managing
    /// enterprise's policy asks for one.
    pub approval: Option<Approving>,
    pub at: i64,
}

/// An admin approving, by committing it, a rebind that waits for approval.
#[derive(Debug, Clone)]
pub struct Approving {
    pub approval_id: String,
    pub enterprise_id: String,
    pub approver: String,
    /// The asking session (the commit's `keep_session`) counts as live if
    /// seen since then: the server's idle timeout before the commit.
    pub seen_since: i64,
    pub audit: AuditDraft,
}

/// A request for the approval of the rebind of pending change `pending_id`,
/// by the enterprise that manages the account.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub id: String,
    pub enterprise_id: String,
    pub account_id: String,
    /// The session that asks: the one whose change it is, and that a
    /// commit keeps.
    pub session_id: String,
    pub pending_id: i64,
    pub kind: CredentialKind,
    pub at: i64,
    /// The pending change waits until then for its approval.
    pub expires_at: i64,
    pub audit: AuditDraft,
}

/// A request for an enterprise's approval of a rebind, with the change it
/// waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub id: String,
    pub enterprise_id: String,
    pub account_id: String,
    /// The session that asked: the one a commit keeps.
    pub session_id: String,
    /// The change it waits on; `None` once swept (expired).
    pub pending_id: Option<i64>,
    pub kind: CredentialKind,
    pub state: ApprovalState,
    pub requested_at: i64,
    /// Until then the change may be approved.
    pub expires_at: i64,
    pub decided_at: Option<i64>,
    pub reason_sealed: Option<Vec<u8>>,
    /// Its change is still there, and neither used nor ended.
    pub change_open: bool,
    /// The session that asked, while there is one: when it expires, and
    /// when it was last seen.
    pub session: Option<(i64, i64)>,
    /// The enterprise still manages the account.
    pub managed: bool,
    /// The name the enterprise knows the member by (sealed), while a member.
    pub display_name_sealed: Option<Vec<u8>>,
}

impl ApprovalRecord {
    /// Whether it still waits, and may be approved, at `live.now`:
    /// pending, its change open and unexpired, the session that asked
    /// still live, and the account still managed by the enterprise.
    pub fn waits(&self, live: Liveness) -> bool {
        self.state == ApprovalState::Pending
            && self.change_open
            && self.expires_at > live.now
            && self
                .session
                .is_some_and(|(expires_at, seen_at)| live.holds(expires_at, seen_at))
            && self.managed
    }
}

/// When a session is live: at `now`, unexpired and seen since `seen_since`
/// (the server's idle timeout before `now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub now: i64,
    pub seen_since: i64,
}

impl Liveness {
    /// Whether a session expiring at `expires_at`, last seen at `seen_at`,
    /// is live.
    pub fn holds(&self, expires_at: i64, seen_at: i64) -> bool {
        expires_at > self.now && seen_at >= self.seen_since
    }
}

/// An admin denying a rebind that waits for approval, with the reason.
#[derive(Debug, Clone)]
pub struct Denial {
    pub approval_id: String,
    pub enterprise_id: String,
    pub actor: String,
    pub reason_sealed: Vec<u8>,
    pub at: i64,
    pub audit: AuditDraft,
    /// What the member's own notices say of it.
    pub notice: NewAccountNotice,
}

/// What a decision on an approval did, decided in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Done,
    /// The actor is no member (any more), or there is no such enterprise.
    ActorNotMember,
    Refused(ChangeRefused),
    /// No such approval in this enterprise.
    NotFound,
    Closed(ApprovalState),
    /// Its change is gone: expired, or ended by another commit.
    Gone,
}

#[derive(Debug, Clone)]
pub struct NewNotice {
    pub phone_sealed: Vec<u8>,
    pub text_sealed: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Notice {
    pub id: i64,
    pub phone_sealed: Vec<u8>,
    pub text_sealed: Vec<u8>,
    pub attempts: u32,
}

/// How sending a claimed notice went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeDelivery {
    Sent {
        at: i64,
    },
    /// Not sent: counts an attempt; the notice waits until `retry_at`.
    Failed {
        retry_at: i64,
    },
}

/// A notice in the account's own list (Account & Security), which reaches a
/// WeChat-only account too.
#[derive(Debug, Clone)]
pub struct NewAccountNotice {
    /// `credential.bound`, `credential.rebound`, `credential.unbound`,
    /// `sign_in.new_credential`.
    pub kind: &'static str,
    pub credential: CredentialKind,
    /// The masked credential, sealed: masked values are personal data too.
    pub masked_sealed: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct AccountNotice {
    pub id: i64,
    pub kind: String,
    pub credential: CredentialKind,
    pub masked_sealed: Vec<u8>,
    pub at: i64,
    pub read: bool,
}

/// What a node's secrets make of one fixed text (see `Maintenance::key_check`):
/// the text sealed under the encryption key, its keyed hash under the
/// pepper, and its MAC under the audit key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub sealed: Vec<u8>,
    pub peppered: Vec<u8>,
    pub audit_mac: Vec<u8>,
    pub created_at: i64,
}

/// An enterprise to create, with its creator as its owner.
#[derive(Debug, Clone)]
pub struct NewEnterprise {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub at: i64,
    pub audit: AuditDraft,
    /// Taken in the creating transaction: refused whole when one is full.
    pub limits: Vec<RateLimit>,
}

/// A change to an enterprise itself, by `actor`, who must administer it.
#[derive(Debug, Clone)]
pub struct EnterpriseUpdate {
    pub id: String,
    pub actor: String,
    pub name: Option<String>,
    pub policy: PolicyPatch,
    /// One event per aspect changed.
    pub audit: Vec<AuditDraft>,
}

/// A change to `target`'s membership by `actor` (the same account when
/// leaving).
#[derive(Debug, Clone)]
pub struct MemberChangeRequest {
    pub enterprise_id: String,
    pub actor: String,
    pub target: String,
    pub change: MemberChange,
    /// Why a member is frozen, sealed (`Freeze` only).
    pub reason_sealed: Option<Vec<u8>>,
    pub audit: AuditDraft,
}

/// An account's membership of an enterprise, with the enterprise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub enterprise_id: String,
    pub name: String,
    pub created_at: i64,
    pub policy: Policy,
    pub role: Role,
    pub joined_at: i64,
    /// The enterprise manages the account (it provisioned it).
    pub manages: bool,
    /// A rebind changed the account's real-name person while the
    /// enterprise managed it.
    pub person_changed: bool,
    /// The membership is suspended (after `person_changed`) until an admin
    /// approves it again.
    pub suspended: bool,
    /// An admin froze the member within the enterprise.
    pub frozen: bool,
    /// The account's real-name status, derived from its credentials.
    pub real_name: RealNameStatus,
}

impl Membership {
    /// The member's seat, to decide what they may do there.
    pub fn seat(&self) -> Seat {
        Seat {
            role: self.role,
            frozen: self.frozen,
            suspended: self.suspended,
            real_name: self.real_name,
        }
    }
}

/// A member as the enterprise's members list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub account_id: String,
    pub role: Role,
    pub joined_at: i64,
    pub account_nature: Nature,
    pub account_state: AccountState,
    /// The enterprise manages the account (it provisioned it).
    pub manages: bool,
    pub display_name_sealed: Option<Vec<u8>>,
    pub person_changed: bool,
    pub suspended: bool,
    pub frozen: bool,
    pub frozen_reason_sealed: Option<Vec<u8>>,
    pub real_name: RealNameStatus,
    /// The name of the person the real name shows, sealed: shown masked.
    pub person_name_sealed: Option<Vec<u8>>,
}

/// Which members a page holds: those matching every filter given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberFilter {
    pub role: Option<Role>,
    pub real_name: Option<RealNameStatus>,
    pub flag: Option<MemberFlag>,
}

/// A filter's values as the words the store binds.
pub(crate) struct FilterWords {
    pub role: Option<&'static str>,
    pub real_name: Option<&'static str>,
    pub flag: Option<&'static str>,
}

impl MemberFilter {
    pub(crate) fn words(&self) -> FilterWords {
        FilterWords {
            role: self.role.map(Role::as_str),
            real_name: self.real_name.map(RealNameStatus::as_str),
            flag: self.flag.map(MemberFlag::as_str),
        }
    }
}

/// Where a members list goes on: after this member (by `joined_at`, then
/// account id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCursor {
    pub joined_at: i64,
    pub account_id: String,
}

impl MemberCursor {
    /// The bound a page's query starts after: before every member when none.
    pub(crate) fn start(after: Option<&MemberCursor>) -> (i64, &str) {
        after.map_or((i64::MIN, ""), |c| (c.joined_at, c.account_id.as_str()))
    }
}

/// The platform's operator freezing a member of an enterprise (with the
/// reason, sealed), or lifting the freeze (`None`).
#[derive(Debug, Clone)]
pub struct OperatorFreeze {
    pub enterprise_id: String,
    pub account_id: String,
    pub reason_sealed: Option<Vec<u8>>,
    pub audit: AuditDraft,
}

/// What a change to a membership did, decided in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Done,
    /// The actor is no member (any more), or there is no such enterprise.
    ActorNotMember,
    /// The member acted on is no member (any more).
    TargetNotMember,
    Refused(ChangeRefused),
}

/// An invitation to create, with the text message that carries it to the
/// phone.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub id: String,
    pub enterprise_id: String,
    /// Who invites: the owner or an admin, as `Role::may_invite` says.
    pub actor: String,
    pub code_hash: Vec<u8>,
    pub phone_hash: Vec<u8>,
    pub phone_sealed: Vec<u8>,
    /// The member's name in the enterprise once they accept, sealed.
    pub display_name_sealed: Option<Vec<u8>>,
    pub role: Role,
    pub at: i64,
    pub expires_at: i64,
    pub notice: NewNotice,
    pub audit: AuditDraft,
    /// Taken in the inviting transaction: refused whole when one is full.
    pub limits: Vec<RateLimit>,
}

impl NewInvitation {
    /// The invitation as it is stored once created, in the enterprise
    /// named `enterprise_name`.
    pub fn record(&self, enterprise_name: &str) -> InvitationRecord {
        InvitationRecord {
            id: self.id.clone(),
            enterprise_id: self.enterprise_id.clone(),
            enterprise_name: enterprise_name.to_owned(),
            phone_hash: self.phone_hash.clone(),
            phone_sealed: self.phone_sealed.clone(),
            display_name_sealed: self.display_name_sealed.clone(),
            role: self.role,
            invited_by: self.actor.clone(),
            created_at: self.at,
            expires_at: self.expires_at,
            state: InvitationState::Pending,
            closed_at: None,
        }
    }
}

/// An open invitation of the enterprise to revoke, by `actor`, who must
/// administer it.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub enterprise_id: String,
    pub actor: String,
    pub invitation_id: String,
    pub at: i64,
    pub audit: AuditDraft,
}

/// An invitation as stored, with its enterprise's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    pub id: String,
    pub enterprise_id: String,
    pub enterprise_name: String,
    pub phone_hash: Vec<u8>,
    pub phone_sealed: Vec<u8>,
    pub display_name_sealed: Option<Vec<u8>>,
    pub role: Role,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// As stored: `Pending` past `expires_at` is expired
    /// ([`InvitationState::at`]).
    pub state: InvitationState,
    pub closed_at: Option<i64>,
}

/// The invitee's answer to an invitation: the account must hold, bound, the
/// phone it was sent to.
#[derive(Debug, Clone)]
pub struct InvitationAnswer {
    pub code_hash: Vec<u8>,
    pub account_id: String,
    pub accept: bool,
    pub at: i64,
    pub audit: AuditDraft,
}

/// What an invitation's creation, answer or revocation did, decided in its
/// transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationOutcome {
    Done,
    /// The actor is no member (any more), or there is no such enterprise.
    ActorNotMember,
    /// The phone is bound to a member of the enterprise already.
    AlreadyMember,
    /// No such invitation (for this account's phone, when answering).
    NotFound,
    Expired,
    /// Answered or revoked already.
    Closed(InvitationState),
    Refused(ChangeRefused),
}

/// An account an admin provisions for a phone number that has none: of
/// nature `enterprise`, managed by the enterprise, a member of it.
#[derive(Debug, Clone)]
pub struct NewManagedMember {
    pub enterprise_id: String,
    /// Who provisions: the owner or an admin.
    pub actor: String,
    pub account: NewAccount,
    pub phone: NewCredential,
    pub display_name_sealed: Vec<u8>,
    pub at: i64,
    /// The text telling the phone's holder that the account exists.
    pub notice: NewNotice,
    pub audit: AuditDraft,
    pub limits: Vec<RateLimit>,
}

/// What provisioning did, decided in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    Done,
    /// The actor is no member (any more), or there is no such enterprise.
    ActorNotMember,
    Refused(ChangeRefused),
    /// The phone has an account already: it gets an invitation instead.
    PhoneTaken,
}
