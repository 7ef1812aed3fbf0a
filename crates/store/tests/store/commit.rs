//! The commit of a bind, rebind or unbind (`RebindStore::commit_rebind`) on
//! a real database: a pending change commits once; the credential is
//! swapped with its attestation and openid; a rebind (not a plain bind)
//! revokes the other sessions and is recorded; the account's other changes,
//! codes and OAuth flows end; the audit events, the text notices and the
//! account notice are written; and every refusal changes nothing at all.

use std::collections::BTreeSet;

use serde_json::json;
use shiming_domain::rebind::{LimitRefusal, RebindLimits, YEAR_SECS};
use shiming_domain::{AccountState, ApprovalState, ChangeRefused, CodePurpose, CredentialKind, Nature, RealNameStatus};
use shiming_store::*;

use crate::common::{intact_events, on_every_backend, session, session_ids, store, Db, Dump};

use CredentialKind::{Phone, Wechat};

const ACC: &str = "acc";
/// Another account, whose sessions, codes, flows and changes no commit of `ACC` touches.
const OTHER: &str = "other";
const LIMITS: RebindLimits = RebindLimits {
    cooldown_secs: 100,
    max_person_changes_per_year: 1,
};
/// When the world is set up; a change lives `TTL` seconds from its opening.
const START: i64 = 1_000;
const TTL: i64 = 600;

fn person(tag: &str) -> NewPerson {
    NewPerson {
        person_hash: tag.as_bytes().to_vec(),
        name_sealed: format!("name of {tag}").into_bytes(),
        id_number_sealed: format!("id number of {tag}").into_bytes(),
    }
}

/// A credential whose lookup hash is `value`, attesting the person `tag`
/// (if any); a WeChat comes with its nickname and openid.
fn credential(kind: CredentialKind, value: &str, tag: Option<&str>) -> NewCredential {
    let wechat = kind == Wechat;
    NewCredential {
        display_sealed: wechat.then(|| format!("nickname of {value}").into_bytes()),
        attestation: tag.map(|tag| NewAttestation {
            person: person(tag),
            source: if wechat { "wechat" } else { "carrier" },
        }),
        app_openid: wechat.then(|| AppOpenid {
            appid: "app".into(),
            openid_sealed: format!("openid of {value}").into_bytes(),
        }),
        ..NewCredential::bare(kind, value.as_bytes().to_vec(), format!("sealed {value}").into_bytes())
    }
}

fn outcome(
    replaces: Option<i64>,
    person_changes: bool,
    status_after: RealNameStatus,
    nature_after: Nature,
) -> ExpectedOutcome {
    ExpectedOutcome {
        replaces,
        person_changes,
        status_after,
        nature_after,
    }
}

/// A commit of `ACC` confirmed in the session `ses`, without a pending change.
fn commit(kind: CredentialKind, new: Option<NewCredential>, expected: ExpectedOutcome, at: i64) -> RebindCommit {
    let event = match (expected.replaces, &new) {
        (_, None) => "credential.unbound",
        (Some(_), Some(_)) => "credential.rebound",
        (None, Some(_)) => "credential.bound",
    };
    RebindCommit {
        pending_id: None,
        account_id: ACC.into(),
        keep_session: "ses".into(),
        kind,
        new,
        expected,
        limits: LIMITS,
        notices: vec![
            NewNotice {
                phone_sealed: b"the old phone".to_vec(),
                text_sealed: format!("{event} at {at}, to the old phone").into_bytes(),
            },
            NewNotice {
                phone_sealed: b"the new phone".to_vec(),
                text_sealed: format!("{event} at {at}, to the new phone").into_bytes(),
            },
        ],
        admin_notice: NewAccountNotice {
            kind: "enterprise.member_realname_changed",
            credential: CredentialKind::Phone,
            masked_sealed: b"member".to_vec(),
        },
        approval: None,
        account_notice: NewAccountNotice {
            kind: event,
            credential: kind,
            masked_sealed: format!("masked, at {at}").into_bytes(),
        },
        at,
    }
}

/// Two accounts with sessions, codes, OAuth flows, and an open change of
/// the other account:
/// - `ACC`, enterprise, holds the phone `p-old` attesting the person A, and
///   the sessions `ses` (the one that confirms), `ses-2` and `ses-3`; a
///   step-up code of `ses`, a phone-change code of `ses-2`, a bind flow of `ses`;
/// - `OTHER`, personal, holds `p-other` attesting Z, the session
///   `other-ses`, a step-up code, a rebind flow and an open phone change;
/// - a sign-in code for `p-old` and a sign-in flow, of no account.
struct World {
    db: Db,
    s: std::sync::Arc<dyn Store>,
    /// The credential id of `p-old`.
    phone: i64,
    /// The open change of `OTHER`.
    other_change: i64,
}

impl World {
    async fn new(backend: Backend) -> World {
        let (db, s) = store(backend).await;
        for (id, nature, phone, tag) in [
            (ACC, Nature::Enterprise, "p-old", "A"),
            (OTHER, Nature::Personal, "p-other", "Z"),
        ] {
            let account = NewAccount {
                id: id.into(),
                nature,
                audit: AuditDraft::new("account.created", id, 100, json!({})),
            };
            s.create_account(account, credential(Phone, phone, Some(tag)), 100)
                .await
                .unwrap();
        }
        for (account, id) in [(ACC, "ses"), (ACC, "ses-2"), (ACC, "ses-3"), (OTHER, "other-ses")] {
            session(&s, account, id, 100_000).await;
        }
        for (account, session, purpose, phone) in [
            (Some(ACC), Some("ses"), CodePurpose::StepUp, "p-old"),
            (Some(ACC), Some("ses-2"), CodePurpose::PhoneChange, "p-next"),
            (Some(OTHER), Some("other-ses"), CodePurpose::StepUp, "p-other"),
            (None, None, CodePurpose::Login, "p-old"),
        ] {
            let code = NewCode {
                account_id: account.map(Into::into),
                session_id: session.map(Into::into),
                phone_hash: phone.as_bytes().to_vec(),
                purpose,
                code_hash: b"code".to_vec(),
                created_at: START,
                expires_at: 100_000,
                outbox: None,
                opens: None,
            };
            s.issue_code(code, &[]).await.unwrap();
        }
        for (state, purpose, account, session) in [
            ("acc-flow", "bind", Some(ACC), Some("ses")),
            ("other-flow", "rebind", Some(OTHER), Some("other-ses")),
            ("login-flow", "login", None, None),
        ] {
            let flow = OAuthFlow {
                state_hash: state.as_bytes().to_vec(),
                browser_hash: b"browser".to_vec(),
                purpose: purpose.into(),
                account_id: account.map(Into::into),
                session_id: session.map(Into::into),
                created_at: START,
                expires_at: 100_000,
            };
            s.create_oauth_flow(flow, &[]).await.unwrap();
        }
        let other_change = s
            .open_change(NewPendingChange {
                account_id: OTHER.into(),
                session_id: "other-ses".into(),
                credential: credential(Phone, "p-other-next", Some("Z")),
                created_at: START,
                expires_at: START + TTL,
            })
            .await
            .unwrap();
        let phone = s
            .account_view(ACC)
            .await
            .unwrap()
            .unwrap()
            .credential(Phone)
            .unwrap()
            .id;
        World {
            db,
            s,
            phone,
            other_change,
        }
    }

    /// `ACC` managed by `ent_a`, owned by `OTHER`, whose policy has
    /// `rebind_approval`.
    async fn managed_by_ent_a(&self) {
        for sql in [
            "INSERT INTO enterprises (id, name, created_at, policy) VALUES ('ent_a', 'A', 1, '{\"rebind_approval\":true}')",
            "INSERT INTO memberships (enterprise_id, account_id, role, joined_at) VALUES ('ent_a', 'other', 'owner', 1)",
            "INSERT INTO memberships (enterprise_id, account_id, role, joined_at, manages) VALUES ('ent_a', 'acc', 'member', 2, TRUE)",
        ] {
            self.db.exec(sql).await;
        }
    }

    /// The id of `ACC`'s credential of `kind`.
    async fn id_of(&self, kind: CredentialKind) -> i64 {
        self.view().await.credential(kind).unwrap().id
    }

    async fn view(&self) -> AccountView {
        self.s.account_view(ACC).await.unwrap().unwrap()
    }

    /// Opens a change of `ACC` to `new` in `session` at `at`.
    async fn open(&self, session: &str, new: NewCredential, at: i64) -> i64 {
        self.s
            .open_change(NewPendingChange {
                account_id: ACC.into(),
                session_id: session.into(),
                credential: new,
                created_at: at,
                expires_at: at + TTL,
            })
            .await
            .unwrap()
    }

    async fn prove(&self, id: i64, expected: ExpectedOutcome, at: i64) {
        let proof = Proof {
            preview_sealed: b"the preview".to_vec(),
            expected,
            at,
        };
        assert!(self.s.prove_change(id, None, &proof).await.unwrap());
    }

    /// Opens a change to `new` in `ses` and proves it at `at` with the
    /// preview `expected`; returns its confirmation, at `at` too, as the
    /// server builds it: with the credential the pending change holds.
    async fn proven(&self, new: NewCredential, expected: ExpectedOutcome, at: i64) -> RebindCommit {
        let kind = new.kind;
        let id = self.open("ses", new, at).await;
        self.prove(id, expected, at).await;
        let pending = self.s.pending_change(ACC, "ses", kind, at).await.unwrap().unwrap();
        assert_eq!(pending.id, id);
        RebindCommit {
            pending_id: Some(id),
            ..commit(kind, Some(pending.credential), expected, at)
        }
    }

    /// The phone `p-old` (A) to `p-new` (B) on the enterprise account without
    /// WeChat: a person change, verified as B, personal after.
    async fn rebind_phone_to_b(&self, at: i64) -> RebindCommit {
        let expected = outcome(Some(self.phone), true, RealNameStatus::Verified, Nature::Personal);
        self.proven(credential(Phone, "p-new", Some("B")), expected, at).await
    }

    /// A first WeChat, of A like the phone: a plain bind.
    fn bind_wechat_of_a(&self, at: i64) -> RebindCommit {
        let expected = outcome(None, false, RealNameStatus::Verified, Nature::Enterprise);
        commit(Wechat, Some(credential(Wechat, "w-1", Some("A"))), expected, at)
    }

    /// Commits `c`. When it is refused, checks that the database is the
    /// same, row for row, before and after, and returns the refusal; when
    /// it commits, returns `Err` with the sessions it revoked.
    async fn refused(&self, c: RebindCommit) -> std::result::Result<StoreError, u64> {
        let before = self.db.dump().await;
        let err = match self.s.commit_rebind(c).await {
            Ok(revoked) => return Err(revoked),
            Err(err) => err,
        };
        assert_unchanged(&before, &self.db.dump().await, &format!("{err:?}"));
        Ok(err)
    }

    /// The events appended after `seq`, oldest first.
    async fn events_after(&self, seq: i64) -> Vec<AuditRecord> {
        let mut events: Vec<_> = self
            .s
            .audit_of(ACC, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.seq > seq)
            .collect();
        events.reverse();
        events
    }
}

fn assert_unchanged(before: &Dump, after: &Dump, what: &str) {
    let tables: BTreeSet<_> = before.keys().chain(after.keys()).collect();
    let changed: Vec<_> = tables
        .into_iter()
        .filter(|t| before.get(*t) != after.get(*t))
        .map(|t| (t, before.get(t), after.get(t)))
        .collect();
    assert!(
        changed.is_empty(),
        "{what} changed (table, before, after): {changed:#?}"
    );
}

fn kinds(events: &[AuditRecord]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

async fn a_confirmed_change_commits_once(backend: Backend) {
    let w = World::new(backend).await;
    let confirm = w.rebind_phone_to_b(START + 10).await;
    assert_eq!(w.s.commit_rebind(confirm.clone()).await.unwrap(), 2);
    assert_eq!(w.view().await.credential(Phone).unwrap().value_sealed, b"sealed p-new");
    let again = RebindCommit {
        at: START + 11,
        ..confirm
    };
    let err = w.refused(again).await;
    assert!(matches!(err, Ok(StoreError::Conflict(_))), "{err:?}");
}

async fn a_change_unproven_expired_ended_or_of_another_account_commits_nothing(backend: Backend) {
    let w = World::new(backend).await;
    let expected = outcome(Some(w.phone), true, RealNameStatus::Verified, Nature::Personal);
    let confirm = |id, at| RebindCommit {
        pending_id: Some(id),
        ..commit(Phone, Some(credential(Phone, "p-new", Some("B"))), expected, at)
    };

    let unproven = w.open("ses", credential(Phone, "p-new", Some("B")), START).await;
    let err = w.refused(confirm(unproven, START + 10)).await;
    assert!(matches!(err, Ok(StoreError::Conflict(_))), "unproven: {err:?}");

    let expiring = w.open("ses", credential(Phone, "p-new", Some("B")), START).await;
    w.prove(expiring, expected, START + 1).await;
    let err = w.refused(confirm(expiring, START + TTL)).await;
    assert!(matches!(err, Ok(StoreError::Conflict(_))), "expired: {err:?}");

    let ended = w.open("ses", credential(Phone, "p-new", Some("B")), START).await;
    w.prove(ended, expected, START + 1).await;
    w.open("ses", credential(Phone, "p-newer", Some("B")), START + 2).await;
    let err = w.refused(confirm(ended, START + 10)).await;
    assert!(
        matches!(err, Ok(StoreError::Conflict(_))),
        "ended by a newer one: {err:?}"
    );

    w.prove(w.other_change, expected, START + 1).await;
    let err = w.refused(confirm(w.other_change, START + 10)).await;
    assert!(matches!(err, Ok(StoreError::Conflict(_))), "another account's: {err:?}");
}

async fn a_rebind_swaps_the_credential_with_its_attestation(backend: Backend) {
    let w = World::new(backend).await;
    let at = START + 10;
    w.s.commit_rebind(w.rebind_phone_to_b(at).await).await.unwrap();

    let view = w.view().await;
    assert_eq!(view.credentials.len(), 1);
    let phone = view.credential(Phone).unwrap();
    assert_ne!(phone.id, w.phone);
    assert_eq!(
        (phone.value_sealed.as_slice(), phone.bound_at),
        (&b"sealed p-new"[..], at)
    );
    let attestation = phone.attestation.as_ref().expect("the new phone attests B");
    assert_eq!(attestation.person.person_hash, b"B");
    assert_eq!(attestation.person.name_sealed, b"name of B");
    assert_eq!(attestation.person.id_number_sealed, b"id number of B");
    assert_eq!((attestation.source.as_str(), attestation.verified_at), ("carrier", at));
    assert_eq!(view.realname_person_hash.as_deref(), Some(&b"B"[..]));
    assert_eq!(view.nature, Nature::Personal, "the real-name person changed");

    assert_eq!(w.s.account_by_credential(Phone, b"p-old").await.unwrap(), None);
    assert_eq!(
        w.s.account_by_credential(Phone, b"p-new").await.unwrap().as_deref(),
        Some(ACC)
    );
    let old = format!("credential_id = {}", w.phone);
    assert_eq!(
        w.db.count("attestations", &old).await,
        0,
        "the old attestation went with it"
    );
    assert_eq!(
        w.db.count("persons", &format!("person_hash = {}", w.db.raw.blob(b"A")))
            .await,
        1,
        "the person A stays known"
    );
}

async fn a_wechat_rebind_swaps_the_identity_with_its_nickname_and_openid(backend: Backend) {
    let w = World::new(backend).await;
    w.s.commit_rebind(w.bind_wechat_of_a(START + 10)).await.unwrap();
    let first = w.id_of(Wechat).await;

    let expected = outcome(Some(first), false, RealNameStatus::Verified, Nature::Enterprise);
    let confirm = w
        .proven(credential(Wechat, "w-2", Some("A")), expected, START + 200)
        .await;
    w.s.commit_rebind(confirm).await.unwrap();

    let view = w.view().await;
    let wechat = view.credential(Wechat).unwrap();
    assert_eq!(wechat.value_sealed, b"sealed w-2");
    assert_eq!(wechat.display_sealed.as_deref(), Some(&b"nickname of w-2"[..]));
    let attestation = wechat.attestation.as_ref().unwrap();
    assert_eq!(
        (attestation.person.person_hash.as_slice(), attestation.source.as_str()),
        (&b"A"[..], "wechat")
    );
    assert_eq!(view.credential(Phone).unwrap().id, w.phone, "the phone stays");
    let openids: Vec<(i64, String, Vec<u8>)> =
        w.db.raw
            .rows("SELECT credential_id, appid, openid_sealed FROM credential_openids")
            .await;
    assert_eq!(openids, [(wechat.id, "app".to_owned(), b"openid of w-2".to_vec())]);
    assert_eq!(w.s.account_by_credential(Wechat, b"w-1").await.unwrap(), None);
}

async fn a_rebind_or_unbind_revokes_the_other_sessions_and_a_plain_bind_none(backend: Backend) {
    let w = World::new(backend).await;
    let all = ["ses", "ses-2", "ses-3"];
    assert_eq!(w.s.commit_rebind(w.bind_wechat_of_a(START + 10)).await.unwrap(), 0);
    assert_eq!(session_ids(&w.s, ACC).await, all, "a plain bind revokes none");

    let expected = outcome(
        Some(w.id_of(Wechat).await),
        false,
        RealNameStatus::Verified,
        Nature::Enterprise,
    );
    let confirm = w
        .proven(credential(Wechat, "w-2", Some("A")), expected, START + 200)
        .await;
    assert_eq!(w.s.commit_rebind(confirm).await.unwrap(), 2);
    assert_eq!(session_ids(&w.s, ACC).await, ["ses"], "the confirming session stays");
    assert_eq!(session_ids(&w.s, OTHER).await, ["other-ses"]);

    session(&w.s, ACC, "ses-4", 100_000).await;
    let expected = outcome(
        Some(w.id_of(Wechat).await),
        false,
        RealNameStatus::Verified,
        Nature::Enterprise,
    );
    assert_eq!(
        w.s.commit_rebind(commit(Wechat, None, expected, START + 400))
            .await
            .unwrap(),
        1
    );
    assert_eq!(session_ids(&w.s, ACC).await, ["ses"]);
    assert_eq!(session_ids(&w.s, OTHER).await, ["other-ses"]);
}

async fn a_commit_ends_the_accounts_other_changes_codes_and_oauth_flows(backend: Backend) {
    let w = World::new(backend).await;
    w.open("ses-2", credential(Phone, "p-next", Some("A")), START).await;
    assert!(w
        .s
        .pending_change(ACC, "ses-2", Phone, START + 5)
        .await
        .unwrap()
        .is_some());
    w.s.commit_rebind(w.bind_wechat_of_a(START + 10)).await.unwrap();

    let now = START + 20;
    let holder = |account_id: &str, session_id: &str| {
        Some(CodeHolder {
            account_id: account_id.into(),
            session_id: session_id.into(),
        })
    };
    // A try of a wrong code finds a live code (Wrong) or none (NoCode).
    let try_of = |phone: &'static str, purpose, holder| CodeTry {
        phone_hash: phone.as_bytes().to_vec(),
        purpose,
        holder,
        typed_hash: b"wrong".to_vec(),
        now,
        max_attempts: 5,
        limits: Vec::new(),
        then: Vec::new(),
    };
    let live = |tried: Tried| matches!(tried, Tried::Wrong { .. });
    let step_up = |phone: &'static str, who| w.s.take_try(try_of(phone, CodePurpose::StepUp, who));
    // The account's own: ended.
    assert!(w.s.pending_change(ACC, "ses-2", Phone, now).await.unwrap().is_none());
    assert!(!live(step_up("p-old", holder(ACC, "ses")).await.unwrap()));
    let change_code =
        w.s.take_try(try_of("p-next", CodePurpose::PhoneChange, holder(ACC, "ses-2")));
    assert!(!live(change_code.await.unwrap()));
    assert!(w
        .s
        .take_oauth_flow(b"acc-flow", b"browser", now)
        .await
        .unwrap()
        .is_none());
    // Another account's, or nobody's: live.
    assert!(w
        .s
        .pending_change(OTHER, "other-ses", Phone, now)
        .await
        .unwrap()
        .is_some());
    assert!(live(step_up("p-other", holder(OTHER, "other-ses")).await.unwrap()));
    let sign_in_code = w.s.take_try(try_of("p-old", CodePurpose::Login, None));
    assert!(live(sign_in_code.await.unwrap()));
    for flow in ["other-flow", "login-flow"] {
        let taken = w.s.take_oauth_flow(flow.as_bytes(), b"browser", now).await.unwrap();
        assert!(taken.is_some(), "{flow}");
    }
}

async fn rebinds_are_recorded_for_rebinds_only(backend: Backend) {
    let w = World::new(backend).await;
    let (t1, t2, t3, t4) = (START + 10, START + 200, START + 400, START + 600);
    w.s.commit_rebind(w.bind_wechat_of_a(t1)).await.unwrap();
    assert!(w.s.rebinds_since(ACC, 0).await.unwrap().is_empty(), "a plain bind");

    let expected = outcome(
        Some(w.id_of(Wechat).await),
        false,
        RealNameStatus::Verified,
        Nature::Enterprise,
    );
    let confirm = w.proven(credential(Wechat, "w-2", Some("A")), expected, t2).await;
    w.s.commit_rebind(confirm).await.unwrap();
    assert_eq!(
        w.s.rebinds_since(ACC, 0).await.unwrap(),
        [(t2, false)],
        "the same person"
    );

    let expected = outcome(
        Some(w.id_of(Wechat).await),
        false,
        RealNameStatus::Verified,
        Nature::Enterprise,
    );
    w.s.commit_rebind(commit(Wechat, None, expected, t3)).await.unwrap();
    assert_eq!(
        w.s.rebinds_since(ACC, 0).await.unwrap(),
        [(t2, false), (t3, false)],
        "an unbind"
    );

    w.s.commit_rebind(w.rebind_phone_to_b(t4).await).await.unwrap();
    assert_eq!(
        w.s.rebinds_since(ACC, 0).await.unwrap(),
        [(t2, false), (t3, false), (t4, true)],
        "a person change"
    );
    assert!(w.s.rebinds_since(OTHER, 0).await.unwrap().is_empty());
}

async fn a_commit_appends_its_audit_events_to_an_intact_chain(backend: Backend) {
    let w = World::new(backend).await;
    let (t1, t2, t3) = (START + 10, START + 200, START + 400);
    let seq = intact_events(&w.s).await;
    w.s.commit_rebind(w.rebind_phone_to_b(t1).await).await.unwrap();
    let events = w.events_after(seq).await;
    assert_eq!(kinds(&events), ["credential.rebound", "realname.changed"]);
    assert!(events
        .iter()
        .all(|e| e.at == t1 && e.account_id.as_deref() == Some(ACC)));
    assert_eq!(
        events[0].details,
        json!({
            "credential": "phone",
            "old_lookup_hash": hex::encode("p-old"),
            "new_lookup_hash": hex::encode("p-new"),
            "attested": true,
            "person_changes": true,
            "nature_before": "enterprise",
            "nature_after": "personal",
        })
    );
    assert_eq!(
        events[1].details,
        json!({
            "person_hash_before": hex::encode("A"),
            "person_hash_after": hex::encode("B"),
            "status_before": "verified",
            "status_after": "verified",
            "via": "phone",
        })
    );
    assert_eq!(intact_events(&w.s).await, seq + 2);

    // A WeChat of B, like the phone: bound, and the real name stays.
    let expected = outcome(None, false, RealNameStatus::Verified, Nature::Personal);
    w.s.commit_rebind(commit(Wechat, Some(credential(Wechat, "w-1", Some("B"))), expected, t2))
        .await
        .unwrap();
    let events = w.events_after(seq + 2).await;
    assert_eq!(kinds(&events), ["credential.bound"]);
    assert_eq!(events[0].details["old_lookup_hash"], json!(null));
    assert_eq!(intact_events(&w.s).await, seq + 3);

    let expected = outcome(
        Some(w.id_of(Wechat).await),
        false,
        RealNameStatus::Verified,
        Nature::Personal,
    );
    w.s.commit_rebind(commit(Wechat, None, expected, t3)).await.unwrap();
    let events = w.events_after(seq + 3).await;
    assert_eq!(kinds(&events), ["credential.unbound"]);
    assert_eq!(events[0].details["new_lookup_hash"], json!(null));
    assert_eq!(events[0].details["old_lookup_hash"], json!(hex::encode("w-1")));
    assert_eq!(intact_events(&w.s).await, seq + 4);
}

/// phone_sealed, text_sealed, created_at, claimed_until, attempts, sent_at.
type QueuedNotice = (Vec<u8>, Vec<u8>, i64, Option<i64>, i64, Option<i64>);

async fn a_commit_queues_its_text_notices_and_the_account_notice(backend: Backend) {
    let w = World::new(backend).await;
    let at = START + 10;
    let confirm = w.rebind_phone_to_b(at).await;
    let owed = confirm.notices.clone();
    w.s.commit_rebind(confirm).await.unwrap();

    let queued: Vec<QueuedNotice> =
        w.db.raw
            .rows(
                "SELECT phone_sealed, text_sealed, created_at, claimed_until, CAST(attempts AS BIGINT), sent_at \
             FROM notices ORDER BY id",
            )
            .await;
    let expected: Vec<_> = owed
        .iter()
        .map(|n| (n.phone_sealed.clone(), n.text_sealed.clone(), at, None, 0, None))
        .collect();
    assert_eq!(queued, expected, "queued, unclaimed, untried, unsent");
    let claimed = w.s.claim_notices(at, 60, 10).await.unwrap();
    let texts: Vec<_> = claimed.iter().map(|n| n.text_sealed.clone()).collect();
    assert_eq!(texts, owed.iter().map(|n| n.text_sealed.clone()).collect::<Vec<_>>());

    let notices = w.s.account_notices(ACC, 10).await.unwrap();
    assert_eq!(notices.len(), 1);
    let n = &notices[0];
    assert_eq!(
        (n.kind.as_str(), n.credential, n.masked_sealed.as_slice(), n.at, n.read),
        (
            "credential.rebound",
            Phone,
            format!("masked, at {at}").as_bytes(),
            at,
            false
        )
    );
    assert_eq!(w.s.unread_notices(ACC).await.unwrap(), 1);
    assert!(w.s.account_notices(OTHER, 10).await.unwrap().is_empty());
}

async fn a_preview_that_no_longer_holds_is_refused_and_changes_nothing(backend: Backend) {
    let w = World::new(backend).await;
    // Proven as if the real-name person stayed: it does not, B is another.
    let stale = outcome(Some(w.phone), false, RealNameStatus::Verified, Nature::Enterprise);
    let confirm = w.proven(credential(Phone, "p-new", Some("B")), stale, START + 10).await;
    let id = confirm.pending_id;
    let err = w.refused(confirm).await;
    assert!(matches!(err, Ok(StoreError::PreviewChanged)), "{err:?}");
    let open = w.s.pending_change(ACC, "ses", Phone, START + 11).await.unwrap();
    assert_eq!(open.map(|p| p.id), id, "the pending change stays open");
}

async fn an_account_not_active_is_refused_and_nothing_changes(backend: Backend) {
    for state in [AccountState::Frozen, AccountState::Banned, AccountState::Deleted] {
        let w = World::new(backend).await;
        let confirm = w.rebind_phone_to_b(START + 10).await;
        w.db.exec(&format!(
            "UPDATE accounts SET state = '{}' WHERE id = '{ACC}'",
            state.as_str()
        ))
        .await;
        let err = w.refused(confirm).await;
        assert!(
            matches!(err, Ok(StoreError::AccountRestricted(s)) if s == state),
            "{err:?}"
        );
    }
}

async fn the_rebind_limits_refuse_and_nothing_changes(backend: Backend) {
    let w = World::new(backend).await;
    let at = START + 10;
    w.s.commit_rebind(w.rebind_phone_to_b(at).await).await.unwrap();
    let phone = w.id_of(Phone).await;

    let same_person = outcome(Some(phone), false, RealNameStatus::Verified, Nature::Personal);
    let confirm = w
        .proven(credential(Phone, "p-3", Some("B")), same_person, at + 60)
        .await;
    let err = w.refused(confirm).await;
    assert!(
        matches!(
            err,
            Ok(StoreError::RebindLimit(LimitRefusal::Cooldown { retry_after: 40 }))
        ),
        "{err:?}"
    );

    let another_person = outcome(Some(phone), true, RealNameStatus::Verified, Nature::Personal);
    let confirm = w
        .proven(credential(Phone, "p-4", Some("C")), another_person, at + 200)
        .await;
    let err = w.refused(confirm).await;
    let cap = LimitRefusal::YearlyCap {
        max: 1,
        retry_after: YEAR_SECS - 200,
    };
    assert!(matches!(err, Ok(StoreError::RebindLimit(r)) if r == cap), "{err:?}");

    // Past the cool-down, a rebind that changes no person commits.
    let confirm = w
        .proven(credential(Phone, "p-3", Some("B")), same_person, at + 200)
        .await;
    w.s.commit_rebind(confirm).await.unwrap();
}

async fn unbinding_the_last_credential_is_refused_and_changes_nothing(backend: Backend) {
    let w = World::new(backend).await;
    let expected = outcome(Some(w.phone), false, RealNameStatus::Unverified, Nature::Enterprise);
    let err = w.refused(commit(Phone, None, expected, START + 10)).await;
    assert!(matches!(err, Ok(StoreError::LastCredential)), "{err:?}");
}

async fn a_credential_bound_elsewhere_meanwhile_is_refused_and_changes_nothing(backend: Backend) {
    let w = World::new(backend).await;
    let confirm = w.rebind_phone_to_b(START + 10).await;
    let third = NewAccount {
        id: "third".into(),
        nature: Nature::Personal,
        audit: AuditDraft::new("account.created", "third", START, json!({})),
    };
    w.s.create_account(third, credential(Phone, "p-new", None), START + 5)
        .await
        .unwrap();
    let err = w.refused(confirm).await;
    assert!(matches!(err, Ok(StoreError::CredentialInUse)), "{err:?}");
}

async fn a_code_opens_its_pending_change_only_when_its_limits_let_it_be_issued(backend: Backend) {
    let w = World::new(backend).await;
    let code = |at| NewCode {
        account_id: Some(ACC.into()),
        session_id: Some("ses".into()),
        phone_hash: b"p-next".to_vec(),
        purpose: CodePurpose::PhoneChange,
        code_hash: b"code".to_vec(),
        created_at: at,
        expires_at: at + TTL,
        outbox: None,
        opens: Some(NewPendingChange {
            account_id: ACC.into(),
            session_id: "ses".into(),
            credential: credential(Phone, "p-next", Some("A")),
            created_at: at,
            expires_at: at + TTL,
        }),
    };
    let once = |at| RateLimit {
        bucket: "resend".into(),
        key: b"p-next".to_vec(),
        window: 60,
        limit: 1,
        now: at,
    };
    let open_changes = || {
        w.db.count("pending_changes", "account_id = 'acc' AND consumed_at IS NULL")
    };
    let before = w.db.count("pending_changes", "account_id = 'acc'").await;
    w.s.issue_code(code(START), &[once(START)]).await.unwrap();
    assert_eq!(open_changes().await, 1);
    let pending = w.s.pending_change(ACC, "ses", Phone, START + 1).await.unwrap().unwrap();
    assert!(matches!(
        w.s.issue_code(code(START + 10), &[once(START + 10)]).await,
        Err(StoreError::RateLimited { .. })
    ));
    assert_eq!(
        w.db.count("pending_changes", "account_id = 'acc'").await,
        before + 1,
        "the refused code opened nothing"
    );
    // A code issued later opens a change of its own, which ends the first.
    w.s.issue_code(code(START + 70), &[once(START + 70)]).await.unwrap();
    assert_eq!(open_changes().await, 1);
    let newer =
        w.s.pending_change(ACC, "ses", Phone, START + 71)
            .await
            .unwrap()
            .unwrap();
    assert_ne!(newer.id, pending.id);
}

async fn a_proof_may_give_the_change_its_person_and_a_later_proof_without_one_keeps_it(backend: Backend) {
    let w = World::new(backend).await;
    let at = START + 10;
    let id = w.open("ses", credential(Wechat, "w-new", None), at).await;
    let proof = |at| Proof {
        preview_sealed: b"the preview".to_vec(),
        expected: outcome(None, false, RealNameStatus::Verified, Nature::Personal),
        at,
    };
    let s = &w.s;
    let held = |at| async move { s.pending_change(ACC, "ses", Wechat, at).await.unwrap().unwrap() };
    assert!(w.s.prove_change(id, None, &proof(at)).await.unwrap());
    assert!(
        held(at).await.credential.attestation.is_none(),
        "proven by its round trip alone"
    );

    assert!(w.s.prove_change(id, Some(person("B")), &proof(at + 1)).await.unwrap());
    let attested = held(at + 1)
        .await
        .credential
        .attestation
        .expect("the person checked after");
    assert_eq!(attested.person.person_hash, b"B");
    assert_eq!(attested.person.name_sealed, b"name of B");
    assert_eq!(attested.source, "wechat");

    assert!(w.s.prove_change(id, None, &proof(at + 2)).await.unwrap());
    let kept = held(at + 2).await.credential.attestation.expect("kept");
    assert_eq!(kept.person.id_number_sealed, b"id number of B");
    // A change past its time takes no person.
    assert!(!w.s.prove_change(id, Some(person("C")), &proof(at + TTL)).await.unwrap());
}

/// Under the policy `rebind_approval` of the enterprise managing `ACC`
/// (`ent_a`, owned by `OTHER`), a rebind commits only carrying an
/// approval, by someone who administers the enterprise as the commit's
/// transaction reads it, once; anything else changes nothing.
async fn a_rebind_waiting_for_approval_commits_only_with_an_admins_approval(backend: Backend) {
    let w = World::new(backend).await;
    w.managed_by_ent_a().await;
    let c = w.rebind_phone_to_b(START).await;
    match w.refused(c.clone()).await {
        Ok(StoreError::ApprovalRequired(enterprise)) => assert_eq!(enterprise, "ent_a"),
        other => panic!("{other:?}"),
    }
    let asked =
        w.s.request_approval(NewApproval {
            id: "rba_1".into(),
            enterprise_id: "ent_a".into(),
            account_id: ACC.into(),
            session_id: "ses".into(),
            pending_id: c.pending_id.unwrap(),
            kind: Phone,
            at: START,
            expires_at: START + 7 * TTL,
            audit: AuditDraft::new("enterprise.rebind_approval_requested", ACC, START, json!({})),
        })
        .await
        .unwrap();
    assert_eq!(
        (asked.state, asked.expires_at),
        (ApprovalState::Pending, START + 7 * TTL)
    );
    let approved_by = |approver: &str| RebindCommit {
        approval: Some(Approving {
            approval_id: "rba_1".into(),
            enterprise_id: "ent_a".into(),
            approver: approver.into(),
            // The sessions were last seen at 1.
            seen_since: 1,
            audit: AuditDraft::new("enterprise.rebind_approved", approver, START, json!({})),
        }),
        ..c.clone()
    };
    // The member itself, then the owner frozen, then with the session that
    // asked idle, revoked, or not the one the commit keeps, then the
    // enterprise no longer managing the account: refused, nothing changes.
    assert!(matches!(
        w.refused(approved_by(ACC)).await,
        Ok(StoreError::Refused(ChangeRefused::OwnApproval))
    ));
    let mut idle = approved_by(OTHER);
    if let Some(a) = idle.approval.as_mut() {
        a.seen_since = 2;
    }
    assert!(matches!(w.refused(idle).await, Ok(StoreError::Conflict(_))));
    let another_session = RebindCommit {
        keep_session: "ses-2".into(),
        ..approved_by(OTHER)
    };
    assert!(matches!(w.refused(another_session).await, Ok(StoreError::Conflict(_))));
    w.db.exec("UPDATE sessions SET expires_at = 0 WHERE id = 'ses'").await;
    assert!(matches!(
        w.refused(approved_by(OTHER)).await,
        Ok(StoreError::Conflict(_))
    ));
    w.db.exec("UPDATE sessions SET expires_at = 100000 WHERE id = 'ses'")
        .await;
    w.db.exec("UPDATE memberships SET manages = FALSE WHERE account_id = 'acc'")
        .await;
    assert!(matches!(
        w.refused(approved_by(OTHER)).await,
        Ok(StoreError::Conflict(_))
    ));
    w.db.exec("UPDATE memberships SET manages = TRUE WHERE account_id = 'acc'")
        .await;
    w.db.exec(&format!(
        "UPDATE memberships SET frozen = TRUE WHERE account_id = '{OTHER}'"
    ))
    .await;
    assert!(matches!(
        w.refused(approved_by(OTHER)).await,
        Ok(StoreError::Refused(ChangeRefused::ActorFrozen))
    ));
    w.db.exec(&format!(
        "UPDATE memberships SET frozen = FALSE WHERE account_id = '{OTHER}'"
    ))
    .await;
    // A second enterprise of ACC's, whose admins are not told of real-name changes.
    let third = NewAccount {
        id: "third".into(),
        nature: Nature::Personal,
        audit: AuditDraft::new("account.created", "third", 100, json!({})),
    };
    w.s.create_account(third, credential(Phone, "p-third", None), 100)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO enterprises (id, name, created_at, policy) VALUES ('ent_b', 'B', 1, '{\"notify_realname_changes\":false}')",
        "INSERT INTO memberships (enterprise_id, account_id, role, joined_at) VALUES ('ent_b', 'third', 'owner', 1)",
        "INSERT INTO memberships (enterprise_id, account_id, role, joined_at) VALUES ('ent_b', 'acc', 'member', 2)",
    ] {
        w.db.exec(sql).await;
    }
    assert!(
        w.refused(approved_by(OTHER)).await.is_err(),
        "the owner's approval commits"
    );
    // The person changed: ent_a's owner is told, ent_b's (whose policy is off) is not.
    let mut told = Vec::new();
    for who in [OTHER, "third"] {
        let all = w.s.account_notices(who, 10).await.unwrap();
        told.push(
            all.iter()
                .filter(|n| n.kind == "enterprise.member_realname_changed")
                .count(),
        );
    }
    assert_eq!(told, [1, 0]);
    let seen = w.s.approval("ent_a", "rba_1").await.unwrap().unwrap();
    assert_eq!(seen.state, ApprovalState::Approved);
    assert!(matches!(
        w.refused(approved_by(OTHER)).await,
        Ok(StoreError::Conflict(_))
    ));
    // The sweep of expired changes keeps the approval, as history.
    w.s.sweep(START + 100 * TTL, 0).await.unwrap();
    let kept = w.s.approval("ent_a", "rba_1").await.unwrap().unwrap();
    assert_eq!(
        (kept.state, kept.pending_id, kept.change_open),
        (ApprovalState::Approved, None, false)
    );
}

/// Under the policy `rebind_approval`, a first bind of the same person goes
/// through, but a first bind of another person waits, and unbinding waits
/// too: unbinding, then binding another WeChat, would be a rebind no admin
/// approved.
async fn under_rebind_approval_a_first_bind_commits_and_an_unbind_waits(backend: Backend) {
    let w = World::new(backend).await;
    w.managed_by_ent_a().await;
    let of_b = outcome(None, true, RealNameStatus::Inconsistent, Nature::Personal);
    let bind_b = commit(Wechat, Some(credential(Wechat, "w-b", Some("B"))), of_b, START + 5);
    match w.refused(bind_b).await {
        Ok(StoreError::ApprovalRequired(enterprise)) => assert_eq!(enterprise, "ent_a"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.s.commit_rebind(w.bind_wechat_of_a(START + 10)).await.unwrap(), 0);
    let expected = outcome(
        Some(w.id_of(Wechat).await),
        false,
        RealNameStatus::Verified,
        Nature::Enterprise,
    );
    let unbind = commit(Wechat, None, expected, START + 20);
    match w.refused(unbind).await {
        Ok(StoreError::ApprovalRequired(enterprise)) => assert_eq!(enterprise, "ent_a"),
        other => panic!("{other:?}"),
    }
}

fn ask(id: &str, pending_id: i64, at: i64, expires_at: i64) -> NewApproval {
    NewApproval {
        id: id.into(),
        enterprise_id: "ent_a".into(),
        account_id: ACC.into(),
        session_id: "ses".into(),
        pending_id,
        kind: Phone,
        at,
        expires_at,
        audit: AuditDraft::new("enterprise.rebind_approval_requested", ACC, at, json!({})),
    }
}

fn denial(actor: &str, at: i64) -> Denial {
    Denial {
        approval_id: "rba_1".into(),
        enterprise_id: "ent_a".into(),
        actor: actor.into(),
        reason_sealed: b"reason".to_vec(),
        at,
        audit: AuditDraft::new("enterprise.rebind_denied", actor, at, json!({})),
        notice: NewAccountNotice {
            kind: "rebind.denied",
            credential: Phone,
            masked_sealed: b"masked".to_vec(),
        },
    }
}

/// Under `rebind_approval`: a stale preview is refused as such, not asked
/// about; asking again keeps the change's expiry; a denial ends the change,
/// once, and only by an admin; a change gone already is denied no more.
async fn a_denial_ends_the_change_once_and_asking_again_keeps_its_expiry(backend: Backend) {
    let w = World::new(backend).await;
    w.managed_by_ent_a().await;
    let c = w.rebind_phone_to_b(START).await;
    let mut stale = c.clone();
    stale.expected.status_after = RealNameStatus::Unverified;
    assert!(matches!(w.refused(stale).await, Ok(StoreError::PreviewChanged)));
    let pending = c.pending_id.unwrap();
    w.s.request_approval(ask("rba_1", pending, START, START + 7 * TTL))
        .await
        .unwrap();
    let again =
        w.s.request_approval(ask("rba_2", pending, START + 1, START + 20 * TTL))
            .await
            .unwrap();
    assert_eq!((again.id.as_str(), again.expires_at), ("rba_1", START + 7 * TTL));
    let open = w.s.pending_change(ACC, "ses", Phone, START + 1).await.unwrap().unwrap();
    assert_eq!(open.expires_at, START + 7 * TTL, "asking again kept the change longer");

    let before = w.db.dump().await;
    let by_member = w.s.deny_approval(denial(ACC, START + 2)).await.unwrap();
    assert_eq!(by_member, Decided::Refused(ChangeRefused::AdminRequired));
    assert_eq!(w.db.dump().await, before, "a refused denial changed something");
    assert_eq!(
        w.s.deny_approval(denial(OTHER, START + 2)).await.unwrap(),
        Decided::Done
    );
    assert_eq!(
        w.s.deny_approval(denial(OTHER, START + 3)).await.unwrap(),
        Decided::Closed(ApprovalState::Denied)
    );
    assert!(
        matches!(w.refused(c).await, Ok(StoreError::Conflict(_))),
        "a denied change commits"
    );
    let told = w.s.account_notices(ACC, 10).await.unwrap();
    assert_eq!(told.iter().filter(|n| n.kind == "rebind.denied").count(), 1);

    // A second change, asked about, then left to expire: denied no more.
    let next = w.open("ses", credential(Phone, "p-newer", Some("B")), START + 10).await;
    w.prove(next, c_expected(&w).await, START + 10).await;
    w.s.request_approval(ask("rba_3", next, START + 10, START + 10 + TTL))
        .await
        .unwrap();
    let late = Denial {
        approval_id: "rba_3".into(),
        ..denial(OTHER, START + 10 + TTL)
    };
    assert_eq!(w.s.deny_approval(late).await.unwrap(), Decided::Gone);
}

/// What proving the phone change to B previews.
async fn c_expected(w: &World) -> ExpectedOutcome {
    outcome(Some(w.phone), true, RealNameStatus::Verified, Nature::Personal)
}

on_every_backend!(
    a_denial_ends_the_change_once_and_asking_again_keeps_its_expiry,
    under_rebind_approval_a_first_bind_commits_and_an_unbind_waits,
    a_rebind_waiting_for_approval_commits_only_with_an_admins_approval,
    a_confirmed_change_commits_once,
    a_change_unproven_expired_ended_or_of_another_account_commits_nothing,
    a_rebind_swaps_the_credential_with_its_attestation,
    a_wechat_rebind_swaps_the_identity_with_its_nickname_and_openid,
    a_rebind_or_unbind_revokes_the_other_sessions_and_a_plain_bind_none,
    a_commit_ends_the_accounts_other_changes_codes_and_oauth_flows,
    rebinds_are_recorded_for_rebinds_only,
    a_commit_appends_its_audit_events_to_an_intact_chain,
    a_commit_queues_its_text_notices_and_the_account_notice,
    a_preview_that_no_longer_holds_is_refused_and_changes_nothing,
    an_account_not_active_is_refused_and_nothing_changes,
    the_rebind_limits_refuse_and_nothing_changes,
    unbinding_the_last_credential_is_refused_and_changes_nothing,
    a_credential_bound_elsewhere_meanwhile_is_refused_and_changes_nothing,
    a_code_opens_its_pending_change_only_when_its_limits_let_it_be_issued,
    a_proof_may_give_the_change_its_person_and_a_later_proof_without_one_keeps_it,
);
