//! Storage of shiming behind small async traits, one per area, implemented
//! for embedded SQLite and for PostgreSQL (shared by several nodes) without
//! touching the domain or the HTTP layer.
//!
//! The store never sees personal data in the clear: callers hand it sealed
//! values and keyed hashes. Every multi-step change is one method, and so one
//! transaction, here.

mod backend;
mod chain;
mod copy;
mod error;
mod limits;
mod members;
pub mod plan;
pub mod postgres;
mod records;
mod rows;
mod session_cache;
pub mod sqlite;

use async_trait::async_trait;
use shiming_domain::{AccountState, CredentialKind};

pub use backend::{migrate_schema, open, open_existing, redacted, Backend, StoreTuning};
pub use chain::{ChainHead, ChainHeadError, ChainReport, NextEvent, GENESIS, KEYED_SWITCH};
pub use copy::{copy, Copied};
pub use error::StoreError;
pub use postgres::{PgStore, PgTuning};
pub use records::*;
pub use session_cache::SessionCache;
pub use sqlite::{Durability, SqliteStore, SqliteTuning};

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait AccountStore {
    /// Creates an account holding one credential, and audits it. A credential
    /// bound elsewhere already fails with [`StoreError::CredentialInUse`].
    async fn create_account(&self, account: NewAccount, credential: NewCredential, at: i64) -> Result<()>;

    async fn account_by_credential(&self, kind: CredentialKind, lookup_hash: &[u8]) -> Result<Option<String>>;

    /// The account with its credentials and what they attest, for the
    /// Account & Security view and the real-name derivation.
    async fn account_view(&self, account_id: &str) -> Result<Option<AccountView>>;

    /// Freezes, bans, deletes or reactivates the account, and audits it; false
    /// when there is no such account. The account's sessions see it at their
    /// next check.
    async fn set_account_state(&self, account_id: &str, state: AccountState, audit: AuditDraft) -> Result<bool>;

    /// Stores `person` (once per person hash) as what `credential_id` attests,
    /// provided the credential is still bound to `account_id`, attests no one
    /// yet, and the account names no other person (re-checked in the
    /// transaction); audits it. Otherwise [`StoreError::Conflict`].
    async fn attest(
        &self,
        account_id: &str,
        credential_id: i64,
        person: NewPerson,
        source: &'static str,
        at: i64,
        audit: AuditDraft,
    ) -> Result<()>;
}

#[async_trait]
pub trait SessionStore {
    /// Signs in, in one transaction: uses up the code that proved the
    /// credential (nothing is done when it is used or expired), finds the
    /// credential's account or creates the one given, and, when the account
    /// is active, opens the session and audits it. The first sign-in with a
    /// credential new to the account (`session.signed_in_with`) leaves the
    /// account a notice.
    async fn sign_in(&self, sign_in: SignIn) -> Result<SignedIn>;

    /// The session check: from the store's [`SessionCache`], else one indexed
    /// lookup by the token's SHA-256.
    async fn session_by_token(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>>;

    /// Writes batched last-seen times.
    async fn touch_sessions(&self, seen: &[(String, i64)]) -> Result<()>;

    async fn sessions_of(&self, account_id: &str) -> Result<Vec<SessionRecord>>;

    /// Privileges the session until `until` (a step-up), trying and using up
    /// the code that proves it in the same transaction; when the code is
    /// refused, only its try is counted.
    async fn step_up(
        &self,
        session_id: &str,
        until: i64,
        code: Option<CodeTry>,
        audit: AuditDraft,
    ) -> Result<SteppedUp>;

    /// Revokes one of the account's sessions; false when it has no such session.
    async fn revoke_session(&self, account_id: &str, session_id: &str, audit: AuditDraft) -> Result<bool>;

    /// Revokes every session of the account but `keep`; returns how many.
    async fn revoke_other_sessions(&self, account_id: &str, keep: &str, audit: AuditDraft) -> Result<u64>;
}

#[async_trait]
pub trait CodeStore {
    /// Takes the rate limits and stores a new code in one transaction; earlier
    /// live codes of the same phone and purpose stop working. Returns its id.
    async fn issue_code(&self, code: NewCode, limits: &[RateLimit]) -> Result<i64>;

    /// Drops a code whose message could not be sent, and gives back the
    /// rate-limit hits its issuing took (nothing reached the person).
    async fn discard_code(&self, id: i64, limits: &[RateLimit]) -> Result<()>;

    /// Counts one try on the newest code of the phone and purpose (issued for
    /// the try's holder, or for nobody) that is unexpired, unconsumed and not
    /// burnt, compares the typed code's hash with it, and answers what it
    /// found. Atomic: a parallel burst of tries is counted exactly, and each
    /// try is counted before it is compared, so no more than `max_attempts`
    /// guesses are ever compared with a code. The try's `limits` are taken
    /// first, in the same transaction (no room: [`StoreError::RateLimited`],
    /// and no try is counted). A match is used up in the same transaction,
    /// which then takes [`CodeTry::then`].
    async fn take_try(&self, code_try: CodeTry) -> Result<Tried>;
}

#[async_trait]
pub trait OAuthStore {
    /// Takes the rate limits and stores a new flow in one transaction.
    async fn create_oauth_flow(&self, flow: OAuthFlow, limits: &[RateLimit]) -> Result<()>;

    /// Consumes the flow of `state_hash` started by `browser_hash`, if it is
    /// unexpired and unused: atomically, so a state works once.
    async fn take_oauth_flow(&self, state_hash: &[u8], browser_hash: &[u8], now: i64) -> Result<Option<OAuthFlow>>;
}

#[async_trait]
pub trait RebindStore {
    /// Opens a pending change; earlier open changes of the account end.
    async fn open_change(&self, change: NewPendingChange) -> Result<i64>;

    /// The session's open, unexpired change of `kind`.
    async fn pending_change(
        &self,
        account_id: &str,
        session_id: &str,
        kind: CredentialKind,
        now: i64,
    ) -> Result<Option<PendingChange>>;

    /// Records that possession of the new credential was proven, with the
    /// preview shown, and the person it attests when `person` says so (a
    /// WeChat whose real name was checked after its round trip); false when
    /// the change is no longer open.
    async fn prove_change(&self, id: i64, person: Option<NewPerson>, proof: &Proof) -> Result<bool>;

    /// When the account's committed rebinds happened since `since`, and
    /// whether each changed the real-name person.
    async fn rebinds_since(&self, account_id: &str, since: i64) -> Result<Vec<(i64, bool)>>;

    /// Commits a bind, rebind or unbind in one transaction. It uses up the
    /// pending change, reads the account and decides by [`plan::plan`]: the
    /// state, the outcome previewed, the last credential, the limits. Then it
    /// swaps the credential, applies the nature and the real-name person,
    /// and on a rebind revokes every other session and records it; ends every
    /// other open change, code and OAuth flow of the account; appends the
    /// audits, the text notices and the account notice. Returns the sessions
    /// revoked. [`StoreError::Conflict`] when the pending change is gone;
    /// [`StoreError::CredentialInUse`] when the new credential was bound
    /// elsewhere meanwhile; the plan's refusals otherwise.
    async fn commit_rebind(&self, commit: RebindCommit) -> Result<u64>;

    /// Claims up to `limit` unsent notices for `lease` seconds.
    async fn claim_notices(&self, now: i64, lease: i64, limit: u32) -> Result<Vec<Notice>>;

    /// Marks a claimed notice sent, or counts a failed attempt and holds the
    /// notice back until its retry time.
    async fn finish_notice(&self, id: i64, delivery: NoticeDelivery) -> Result<()>;
}

/// Enterprises and their members. Each change decides who may make it in
/// its own transaction.
#[async_trait]
pub trait EnterpriseStore {
    /// Creates the enterprise with its creator as its owner, and audits it,
    /// when its limits have room.
    async fn create_enterprise(&self, enterprise: NewEnterprise) -> Result<()>;

    /// Renames the enterprise and changes its policy when the actor
    /// administers it now (its owner or an admin, neither frozen nor
    /// suspended), and audits it; otherwise says why not.
    async fn update_enterprise(&self, update: EnterpriseUpdate) -> Result<Changed>;

    /// The account's membership of the enterprise; `None` when it is no
    /// member, as when there is no such enterprise.
    async fn membership(&self, enterprise_id: &str, account_id: &str) -> Result<Option<Membership>>;

    /// The enterprises the account is a member of, oldest membership first.
    async fn memberships_of(&self, account_id: &str) -> Result<Vec<Membership>>;

    /// Up to `limit` members of the enterprise matching `filter`, by
    /// `joined_at` then account id, after `after`.
    async fn members(
        &self,
        enterprise_id: &str,
        filter: &MemberFilter,
        after: Option<&MemberCursor>,
        limit: u32,
    ) -> Result<Vec<MemberRecord>>;

    /// Makes the change to a membership and audits it, when the roles of
    /// the actor and the member and the enterprise's policy allow it, and
    /// the actor's membership is neither frozen nor suspended (but to
    /// leave); the changes of one enterprise are made one at a time.
    async fn change_member(&self, request: MemberChangeRequest) -> Result<Changed>;

    /// Creates an account of nature `enterprise` for a phone that has none,
    /// a member managed by the enterprise, queues its text and audits it,
    /// when the actor administers the enterprise and the limits have room.
    async fn provision_member(&self, member: NewManagedMember) -> Result<Provisioned>;

    /// Freezes the member (with the reason, sealed) or lifts the freeze
    /// (`None`), as the platform's operator, whom no role of the enterprise
    /// binds; audits it. False when the account is no member.
    async fn freeze_as_operator(&self, freeze: OperatorFreeze) -> Result<bool>;
}

/// Approvals of the rebinds of managed accounts, by the managing
/// enterprise's admins. Approving is a commit carrying its [`Approving`].
#[async_trait]
pub trait ApprovalStore {
    /// Asks the enterprise to approve the proven, open pending change, and
    /// keeps the change open until `expires_at`; audits it. The request of
    /// that change when there is one already. [`StoreError::Conflict`] when
    /// the change is used, expired or gone.
    async fn request_approval(&self, approval: NewApproval) -> Result<ApprovalRecord>;

    /// The enterprise's approval of that id.
    async fn approval(&self, enterprise_id: &str, approval_id: &str) -> Result<Option<ApprovalRecord>>;

    /// The enterprise's approvals that still wait ([`ApprovalRecord::waits`]),
    /// oldest first.
    async fn open_approvals(&self, enterprise_id: &str, live: Liveness, limit: u32) -> Result<Vec<ApprovalRecord>>;

    /// The account's approvals, newest first.
    async fn approvals_of(&self, account_id: &str, limit: u32) -> Result<Vec<ApprovalRecord>>;

    /// Denies a waiting approval when the actor administers the enterprise
    /// now: its change ends, the member is told; audited.
    async fn deny_approval(&self, denial: Denial) -> Result<Decided>;
}

/// Invitations to join an enterprise, by phone.
#[async_trait]
pub trait InvitationStore {
    /// Stores the invitation, queues its text message and audits it, when
    /// the actor may invite as its role, the phone is no member's, and the
    /// limits have room. Earlier open invitations of the enterprise to the
    /// same phone are revoked: the newest code is the one that works.
    async fn create_invitation(&self, invitation: NewInvitation) -> Result<InvitationOutcome>;

    async fn invitation_by_code(&self, code_hash: &[u8]) -> Result<Option<InvitationRecord>>;

    /// The enterprise's open invitations (pending, unexpired at `now`),
    /// newest first.
    async fn open_invitations(&self, enterprise_id: &str, now: i64, limit: u32) -> Result<Vec<InvitationRecord>>;

    /// Accepts (the account joins with the invitation's role) or declines
    /// an open invitation sent to the phone the account holds.
    async fn answer_invitation(&self, answer: InvitationAnswer) -> Result<InvitationOutcome>;

    /// Revokes an open invitation of the enterprise when the actor
    /// administers it.
    async fn revoke_invitation(&self, revocation: Revocation) -> Result<InvitationOutcome>;
}

/// The account's own notices (Account & Security).
#[async_trait]
pub trait AccountNoticeStore {
    /// The account's notices, newest first.
    async fn account_notices(&self, account_id: &str, limit: u32) -> Result<Vec<AccountNotice>>;

    async fn unread_notices(&self, account_id: &str) -> Result<u64>;

    /// Marks every notice of the account read; returns how many were unread.
    async fn read_notices(&self, account_id: &str, at: i64) -> Result<u64>;
}

#[async_trait]
pub trait RateStore {
    /// Counts one hit in every limit when all of them have room; otherwise
    /// counts nothing and fails with [`StoreError::RateLimited`].
    async fn take(&self, limits: &[RateLimit]) -> Result<()>;
}

#[async_trait]
pub trait OutboxStore {
    async fn push_outbox(&self, message: OutboxMessage) -> Result<()>;

    /// Messages newest first, all or one phone's.
    async fn outbox(&self, phone_hash: Option<&[u8]>, limit: u32) -> Result<Vec<OutboxMessage>>;
}

#[async_trait]
pub trait AuditStore {
    async fn audit_of(&self, account_id: &str, limit: u32) -> Result<Vec<AuditRecord>>;

    /// The events whose details name the enterprise, newest first, up to
    /// `limit` of those before `before` (a `seq`), when given.
    async fn enterprise_audit(&self, enterprise_id: &str, before: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>>;

    /// Recomputes the whole chain; with `recorded`, a head recorded outside
    /// the database, also checks that the chain still holds that event.
    async fn verify_chain(&self, recorded: Option<ChainHead>) -> Result<ChainReport>;
}

#[async_trait]
pub trait Maintenance {
    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;

    /// The key check the database holds; when it holds none yet, `proposed`
    /// becomes it (of nodes starting together, one's is kept).
    async fn key_check(&self, proposed: KeyCheck) -> Result<KeyCheck>;

    /// Deletes what expired by `now` (sessions, codes, pending changes, OAuth
    /// flows), notices sent or given up, and rate hits older than `horizon`.
    async fn sweep(&self, now: i64, horizon: i64) -> Result<()>;
}

/// Everything the service needs from storage.
pub trait Store:
    AccountStore
    + SessionStore
    + EnterpriseStore
    + InvitationStore
    + ApprovalStore
    + CodeStore
    + OAuthStore
    + RebindStore
    + AccountNoticeStore
    + RateStore
    + OutboxStore
    + AuditStore
    + Maintenance
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: AccountStore
        + SessionStore
        + EnterpriseStore
        + InvitationStore
        + ApprovalStore
        + CodeStore
        + OAuthStore
        + RebindStore
        + AccountNoticeStore
        + RateStore
        + OutboxStore
        + AuditStore
        + Maintenance
        + Send
        + Sync
{
}
