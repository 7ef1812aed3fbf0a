//! Enterprises and their members: creation with its owner (within its
//! limit), renaming and policy by the owner and admins only (decided in the
//! write), the members' pages, and the changes to memberships: leaving
//! (never the owner; not at all under a closed policy), removal, roles and
//! the ownership's transfer, each refused change changing nothing.

use std::sync::Arc;

use serde_json::json;
use shiming_domain::{
    derive_real_name, AccountState, ChangeRefused, InvitationState, MemberChange, Nature, Policy, PolicyPatch,
    RealNameStatus, Role,
};
use shiming_store::*;

use crate::common::{account, bind, on_every_backend, phone, store, wechat, Db};

fn audit(kind: &'static str, who: &str) -> AuditDraft {
    AuditDraft::new(kind, who, 10, json!({ "enterprise_id": "ent_1" }))
}

/// `ent_1`, owned by `owner`, with `admin` and `member` joined after.
async fn enterprise(db: &Db, s: &Arc<dyn Store>) {
    for (id, p) in [
        ("owner", b"p-o"),
        ("admin", b"p-a"),
        ("member", b"p-m"),
        ("outsider", b"p-x"),
    ] {
        s.create_account(account(id), phone(p), 1).await.unwrap();
    }
    s.create_enterprise(NewEnterprise {
        id: "ent_1".into(),
        name: "示例科技".into(),
        owner: "owner".into(),
        at: 5,
        audit: audit("enterprise.created", "owner"),
        limits: vec![],
    })
    .await
    .unwrap();
    for (who, role, at) in [("admin", "admin", 6), ("member", "member", 6)] {
        db.exec(&format!(
            "INSERT INTO memberships (enterprise_id, account_id, role, joined_at) VALUES ('ent_1', '{who}', '{role}', {at})"
        ))
        .await;
    }
}

async fn creation_makes_its_creator_the_owner(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let owner = s.membership("ent_1", "owner").await.unwrap().unwrap();
    assert_eq!(
        owner,
        Membership {
            enterprise_id: "ent_1".into(),
            name: "示例科技".into(),
            created_at: 5,
            policy: Policy::default(),
            role: Role::Owner,
            joined_at: 5,
            manages: false,
            person_changed: false,
            suspended: false,
            frozen: false,
            real_name: RealNameStatus::Unverified,
        }
    );
    assert_eq!(s.memberships_of("owner").await.unwrap(), [owner]);
    assert!(s.membership("ent_1", "outsider").await.unwrap().is_none());
    assert!(s.membership("ent_2", "owner").await.unwrap().is_none());
    assert!(s.memberships_of("outsider").await.unwrap().is_empty());
    // One owner per enterprise, by constraint.
    let second = db
        .raw
        .try_exec("UPDATE memberships SET role = 'owner' WHERE account_id = 'admin'")
        .await;
    assert!(second.is_err(), "a second owner was stored");
}

async fn creation_is_refused_whole_past_its_limit(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let limit = RateLimit {
        bucket: "enterprise_create".into(),
        key: b"owner".to_vec(),
        window: 86_400,
        limit: 1,
        now: 20,
    };
    let create = |id: &str| NewEnterprise {
        id: id.into(),
        name: "又一家".into(),
        owner: "owner".into(),
        at: 20,
        audit: audit("enterprise.created", "owner"),
        limits: vec![limit.clone()],
    };
    s.create_enterprise(create("ent_2")).await.unwrap();
    let before = db.dump().await;
    match s.create_enterprise(create("ent_3")).await {
        Err(StoreError::RateLimited { bucket, .. }) => assert_eq!(bucket, "enterprise_create"),
        other => panic!("{other:?}"),
    }
    assert_eq!(db.dump().await, before, "a refused creation changed something");
    assert!(s.membership("ent_3", "owner").await.unwrap().is_none());
}

fn update(id: &str, actor: &str, name: Option<&str>, policy: PolicyPatch) -> EnterpriseUpdate {
    EnterpriseUpdate {
        id: id.into(),
        actor: actor.into(),
        name: name.map(Into::into),
        policy,
        audit: vec![audit("enterprise.renamed", actor)],
    }
}

const CLOSED: PolicyPatch = PolicyPatch {
    members_may_leave: Some(false),
    realname_required: None,
    rebind_approval: None,
    notify_realname_changes: None,
};

fn all_members() -> MemberFilter {
    MemberFilter::default()
}

async fn only_the_owner_and_admins_rename_and_set_the_policy(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let before = db.dump().await;
    for (who, refused) in [
        ("member", Changed::Refused(ChangeRefused::AdminRequired)),
        ("outsider", Changed::ActorNotMember),
    ] {
        let outcome = s.update_enterprise(update("ent_1", who, Some("taken"), CLOSED)).await;
        assert_eq!(outcome.unwrap(), refused, "{who}");
    }
    assert_eq!(
        s.update_enterprise(update("ent_2", "owner", Some("taken"), CLOSED))
            .await
            .unwrap(),
        Changed::ActorNotMember
    );
    assert_eq!(db.dump().await, before, "a refused update changed something");
    for (who, name) in [("admin", "示例集团"), ("owner", "示例控股")] {
        assert_eq!(
            s.update_enterprise(update("ent_1", who, Some(name), PolicyPatch::default()))
                .await
                .unwrap(),
            Changed::Done
        );
        assert_eq!(s.membership("ent_1", "member").await.unwrap().unwrap().name, name);
    }
    assert_eq!(db.count("audit_events", "kind = 'enterprise.renamed'").await, 2);
    // The policy alone: the name stays.
    assert_eq!(
        s.update_enterprise(update("ent_1", "admin", None, CLOSED))
            .await
            .unwrap(),
        Changed::Done
    );
    let seen = s.membership("ent_1", "member").await.unwrap().unwrap();
    assert_eq!((seen.name.as_str(), seen.policy.members_may_leave), ("示例控股", false));
}

async fn members_come_by_joining_time_a_page_at_a_time(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let all = s.members("ent_1", &all_members(), None, 10).await.unwrap();
    let order: Vec<(&str, Role)> = all.iter().map(|m| (m.account_id.as_str(), m.role)).collect();
    assert_eq!(
        order,
        [("owner", Role::Owner), ("admin", Role::Admin), ("member", Role::Member)]
    );
    assert!(all
        .iter()
        .all(|m| m.account_nature == Nature::Personal && m.account_state == AccountState::Active));
    let first = s.members("ent_1", &all_members(), None, 2).await.unwrap();
    let last = &first[1];
    let cursor = MemberCursor {
        joined_at: last.joined_at,
        account_id: last.account_id.clone(),
    };
    let rest = s.members("ent_1", &all_members(), Some(&cursor), 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].account_id, "member");
    assert!(s.members("ent_2", &all_members(), None, 10).await.unwrap().is_empty());
}

/// Makes `account`'s credential of `kind` attest a person of its own
/// (`person`), in SQL.
async fn attest(db: &Db, backend: Backend, account: &str, kind: &str, person: &str) {
    let blob = match backend {
        Backend::Sqlite => "X'07'",
        Backend::Postgres => "'\\x07'::bytea",
    };
    db.exec(&format!(
        "INSERT INTO persons (person_hash, name_sealed, id_number_sealed, created_at) \
         SELECT '{person}', {blob}, {blob}, 1 WHERE NOT EXISTS (SELECT 1 FROM persons WHERE person_hash = '{person}')"
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO attestations (credential_id, person_id, source, verified_at) \
         SELECT c.id, p.id, 'carrier', 1 FROM credentials c, persons p \
         WHERE c.account_id = '{account}' AND c.kind = '{kind}' AND p.person_hash = '{person}'"
    ))
    .await;
}

/// The members list derives each member's real-name status in SQL, to read
/// and filter a page in one query: exactly as the domain derives it.
async fn the_members_list_derives_real_names_as_the_domain_does(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    // (account, the person its phone attests, the person its WeChat attests)
    let cases = [
        ("r_none", None, None),
        ("r_phone", Some("pB"), None),
        ("r_same", Some("pC"), Some("pC")),
        ("r_diff", Some("pD"), Some("pE")),
        ("r_wechat", None, Some("pF")),
    ];
    for (i, (id, on_phone, on_wechat)) in cases.iter().enumerate() {
        s.create_account(account(id), phone(id.as_bytes()), 1).await.unwrap();
        s.commit_rebind(bind(id, wechat(format!("w-{id}").as_bytes())))
            .await
            .unwrap();
        for (kind, person) in [("phone", on_phone), ("wechat", on_wechat)] {
            if let Some(person) = person {
                attest(&db, backend, id, kind, person).await;
            }
        }
        db.exec(&format!(
            "INSERT INTO memberships (enterprise_id, account_id, role, joined_at) VALUES ('ent_1', '{id}', 'member', {})",
            100 + i
        ))
        .await;
    }
    let page = s.members("ent_1", &all_members(), None, 20).await.unwrap();
    for (id, on_phone, on_wechat) in cases {
        let seen = page.iter().find(|m| m.account_id == id).unwrap();
        let derived = derive_real_name(on_phone, on_wechat).status;
        assert_eq!(seen.real_name, derived, "{id}");
        assert_eq!(
            seen.person_name_sealed.is_some(),
            derived != RealNameStatus::Unverified,
            "{id}"
        );
        let standing = s.membership("ent_1", id).await.unwrap().unwrap();
        assert_eq!(standing.real_name, derived, "{id}");
        let filter = MemberFilter {
            real_name: Some(derived),
            ..all_members()
        };
        let matching = s.members("ent_1", &filter, None, 20).await.unwrap();
        assert!(matching.iter().all(|m| m.real_name == derived));
        assert!(matching.iter().any(|m| m.account_id == id), "{id}");
    }
}

fn request(actor: &str, target: &str, change: MemberChange) -> MemberChangeRequest {
    MemberChangeRequest {
        enterprise_id: "ent_1".into(),
        actor: actor.into(),
        target: target.into(),
        change,
        reason_sealed: None,
        audit: audit("enterprise.changed", actor),
    }
}

async fn leave(s: &Arc<dyn Store>, who: &str) -> Changed {
    s.change_member(request(who, who, MemberChange::Leave)).await.unwrap()
}

async fn roles(s: &Arc<dyn Store>) -> Vec<(String, Role)> {
    let all = s.members("ent_1", &all_members(), None, 10).await.unwrap();
    all.into_iter().map(|m| (m.account_id, m.role)).collect()
}

async fn the_owner_cannot_leave_and_others_leave_once(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let before = db.dump().await;
    assert_eq!(
        leave(&s, "owner").await,
        Changed::Refused(ChangeRefused::OwnerMustTransfer)
    );
    assert_eq!(leave(&s, "outsider").await, Changed::ActorNotMember);
    assert_eq!(db.dump().await, before, "a refused leave changed something");
    for who in ["admin", "member"] {
        assert_eq!(leave(&s, who).await, Changed::Done);
        assert_eq!(leave(&s, who).await, Changed::ActorNotMember);
        assert!(s.membership("ent_1", who).await.unwrap().is_none());
    }
    assert_eq!(db.count("audit_events", "kind = 'enterprise.changed'").await, 2);
    assert_eq!(roles(&s).await, [("owner".to_owned(), Role::Owner)]);
}

async fn a_closed_policy_keeps_members_from_leaving_but_not_from_removal(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    assert_eq!(
        s.update_enterprise(update("ent_1", "owner", None, CLOSED))
            .await
            .unwrap(),
        Changed::Done
    );
    let before = db.dump().await;
    for who in ["admin", "member"] {
        assert_eq!(leave(&s, who).await, Changed::Refused(ChangeRefused::LeaveForbidden));
    }
    assert_eq!(db.dump().await, before, "a refused leave changed something");
    let removed = s
        .change_member(request("admin", "member", MemberChange::Remove))
        .await
        .unwrap();
    assert_eq!(removed, Changed::Done);
    assert!(s.membership("ent_1", "member").await.unwrap().is_none());
}

async fn admins_remove_members_and_the_owner_removes_admins(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let remove = |actor: &'static str, target: &'static str| {
        let s = s.clone();
        async move {
            s.change_member(request(actor, target, MemberChange::Remove))
                .await
                .unwrap()
        }
    };
    let before = db.dump().await;
    assert_eq!(
        remove("member", "admin").await,
        Changed::Refused(ChangeRefused::AdminRequired)
    );
    // A member learns nothing of who is a member by trying to remove them.
    assert_eq!(
        remove("member", "outsider").await,
        Changed::Refused(ChangeRefused::AdminRequired)
    );
    assert_eq!(
        remove("admin", "owner").await,
        Changed::Refused(ChangeRefused::OwnerMustTransfer)
    );
    assert_eq!(remove("outsider", "member").await, Changed::ActorNotMember);
    assert_eq!(remove("admin", "outsider").await, Changed::TargetNotMember);
    assert_eq!(db.dump().await, before, "a refused removal changed something");
    assert_eq!(remove("owner", "admin").await, Changed::Done);
    assert_eq!(remove("owner", "member").await, Changed::Done);
    assert_eq!(roles(&s).await, [("owner".to_owned(), Role::Owner)]);
}

async fn the_owner_gives_roles_and_hands_the_ownership_on(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let change = |actor: &'static str, target: &'static str, change| {
        let s = s.clone();
        async move { s.change_member(request(actor, target, change)).await.unwrap() }
    };
    let before = db.dump().await;
    let promote = MemberChange::SetRole(Role::Admin);
    assert_eq!(
        change("admin", "member", promote).await,
        Changed::Refused(ChangeRefused::OwnerRequired)
    );
    let transfer = MemberChange::TransferOwnership;
    assert_eq!(
        change("admin", "member", transfer).await,
        Changed::Refused(ChangeRefused::OwnerRequired)
    );
    let crown = MemberChange::SetRole(Role::Owner);
    assert_eq!(
        change("owner", "member", crown).await,
        Changed::Refused(ChangeRefused::OwnerByTransferOnly)
    );
    assert_eq!(change("owner", "outsider", transfer).await, Changed::TargetNotMember);
    assert_eq!(db.dump().await, before, "a refused change changed something");

    assert_eq!(change("owner", "member", promote).await, Changed::Done);
    assert_eq!(
        change("owner", "admin", MemberChange::SetRole(Role::Member)).await,
        Changed::Done
    );
    assert_eq!(change("owner", "member", transfer).await, Changed::Done);
    assert_eq!(
        roles(&s).await,
        [
            ("owner".to_owned(), Role::Admin),
            ("admin".to_owned(), Role::Member),
            ("member".to_owned(), Role::Owner),
        ]
    );
    // The former owner is an admin now, and may leave.
    assert_eq!(leave(&s, "owner").await, Changed::Done);
}

async fn two_transfers_at_once_hand_the_ownership_on_once(backend: Backend) {
    for _ in 0..10 {
        let (db, s) = store(backend).await;
        enterprise(&db, &s).await;
        let transfer = |target: &'static str| {
            let s = s.clone();
            tokio::spawn(async move {
                s.change_member(request("owner", target, MemberChange::TransferOwnership))
                    .await
            })
        };
        let (a, b) = (transfer("admin"), transfer("member"));
        let mut outcomes = [a.await.unwrap().unwrap(), b.await.unwrap().unwrap()];
        outcomes.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(
            outcomes,
            [Changed::Done, Changed::Refused(ChangeRefused::OwnerRequired)]
        );
        let owners = roles(&s).await.into_iter().filter(|(_, r)| *r == Role::Owner).count();
        assert_eq!(owners, 1);
    }
}

fn invitation(id: &str, code: &[u8], phone_hash: &[u8], at: i64) -> NewInvitation {
    NewInvitation {
        id: id.into(),
        enterprise_id: "ent_1".into(),
        actor: "admin".into(),
        code_hash: code.to_vec(),
        phone_hash: phone_hash.to_vec(),
        phone_sealed: vec![7],
        display_name_sealed: None,
        role: Role::Member,
        at,
        expires_at: at + 100,
        notice: NewNotice {
            phone_sealed: vec![7],
            text_sealed: vec![8],
        },
        audit: audit("enterprise.invited", "admin"),
        limits: vec![],
    }
}

fn answer(code: &[u8], account: &str, accept: bool, at: i64) -> InvitationAnswer {
    InvitationAnswer {
        code_hash: code.to_vec(),
        account_id: account.into(),
        accept,
        at,
        audit: audit("enterprise.joined", account),
    }
}

async fn an_invitation_is_answered_once_by_the_holder_of_its_phone(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    // `outsider` holds the phone `p-x`; a member's phone cannot be invited.
    let refused = s
        .create_invitation(invitation("inv_0", b"c0", b"p-m", 20))
        .await
        .unwrap();
    assert_eq!(refused, InvitationOutcome::AlreadyMember);
    let mut by_member = invitation("inv_0", b"c0", b"p-x", 20);
    by_member.actor = "member".into();
    let refused = s.create_invitation(by_member).await.unwrap();
    assert_eq!(refused, InvitationOutcome::Refused(ChangeRefused::AdminRequired));
    assert_eq!(db.count("invitations", "1 = 1").await, 0);
    assert_eq!(db.count("notices", "1 = 1").await, 0);

    let sent = s
        .create_invitation(invitation("inv_1", b"c1", b"p-x", 20))
        .await
        .unwrap();
    assert_eq!(sent, InvitationOutcome::Done);
    assert_eq!(db.count("notices", "1 = 1").await, 1, "the text is queued with it");
    // Only the account holding the phone finds it.
    assert_eq!(
        s.answer_invitation(answer(b"c1", "member", true, 21)).await.unwrap(),
        InvitationOutcome::NotFound
    );
    // Two answers at once: one joins, the other finds it closed.
    let go = |accept| {
        let s = s.clone();
        tokio::spawn(async move { s.answer_invitation(answer(b"c1", "outsider", accept, 22)).await })
    };
    let (a, b) = (go(true), go(false));
    let mut outcomes = [a.await.unwrap().unwrap(), b.await.unwrap().unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert!(
        matches!(outcomes, [InvitationOutcome::Closed(_), InvitationOutcome::Done]),
        "{outcomes:?}"
    );
    let seen = s.invitation_by_code(b"c1").await.unwrap().unwrap();
    assert_eq!(
        seen.state == InvitationState::Accepted,
        s.membership("ent_1", "outsider").await.unwrap().is_some()
    );

    // Expired: refused, and no longer listed.
    s.create_invitation(invitation("inv_2", b"c2", b"p-new", 30))
        .await
        .unwrap();
    assert_eq!(s.open_invitations("ent_1", 129, 10).await.unwrap().len(), 1);
    assert!(s.open_invitations("ent_1", 130, 10).await.unwrap().is_empty());
    let revoked = s.revoke_invitation(revocation("inv_2", 130)).await.unwrap();
    assert_eq!(revoked, InvitationOutcome::Expired);
}

fn revocation(invitation_id: &str, at: i64) -> Revocation {
    Revocation {
        enterprise_id: "ent_1".into(),
        actor: "admin".into(),
        invitation_id: invitation_id.into(),
        at,
        audit: audit("enterprise.invitation_revoked", "admin"),
    }
}

/// Frozen or suspended, an admin's membership does nothing but leave: each
/// write reads the flags in its own transaction, whatever a handler saw
/// before.
async fn a_frozen_or_suspended_admin_acts_on_nothing_but_leaving(backend: Backend) {
    for (flag, refused) in [
        ("frozen", ChangeRefused::ActorFrozen),
        ("suspended", ChangeRefused::ActorSuspended),
    ] {
        let (db, s) = store(backend).await;
        enterprise(&db, &s).await;
        s.create_invitation(invitation("inv_1", b"c1", b"p-new", 20))
            .await
            .unwrap();
        db.exec(&format!(
            "UPDATE memberships SET {flag} = TRUE WHERE account_id = 'admin'"
        ))
        .await;
        let before = db.dump().await;
        let removed = s.change_member(request("admin", "member", MemberChange::Remove)).await;
        assert_eq!(removed.unwrap(), Changed::Refused(refused), "{flag}: remove");
        let renamed = s.update_enterprise(update("ent_1", "admin", Some("x"), CLOSED)).await;
        assert_eq!(renamed.unwrap(), Changed::Refused(refused), "{flag}: update");
        let invited = s.create_invitation(invitation("inv_2", b"c2", b"p-other", 21)).await;
        assert_eq!(invited.unwrap(), InvitationOutcome::Refused(refused), "{flag}: invite");
        let revoked = s.revoke_invitation(revocation("inv_1", 22)).await;
        assert_eq!(revoked.unwrap(), InvitationOutcome::Refused(refused), "{flag}: revoke");
        let provisioned = s.provision_member(managed("admin", "acc_new", b"p-new2")).await;
        assert_eq!(provisioned.unwrap(), Provisioned::Refused(refused), "{flag}: provision");
        assert_eq!(db.dump().await, before, "{flag}: a refused write changed something");
        // Leaving stays open, and the owner still acts.
        assert_eq!(leave(&s, "admin").await, Changed::Done, "{flag}: leave");
        assert_eq!(
            s.change_member(request("owner", "member", MemberChange::Remove))
                .await
                .unwrap(),
            Changed::Done
        );
    }
}

fn managed(actor: &str, id: &str, phone_hash: &[u8]) -> NewManagedMember {
    NewManagedMember {
        enterprise_id: "ent_1".into(),
        actor: actor.into(),
        account: NewAccount {
            nature: Nature::Enterprise,
            ..account(id)
        },
        phone: phone(phone_hash),
        display_name_sealed: vec![9],
        at: 30,
        notice: NewNotice {
            phone_sealed: vec![7],
            text_sealed: vec![8],
        },
        audit: audit("enterprise.member_provisioned", actor),
        limits: vec![],
    }
}

/// The platform's operator freezes any member, the owner too, whom no role
/// of the enterprise binds; an account that is no member changes nothing.
async fn the_operator_freezes_any_member_and_no_one_else(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let freeze = |account: &str, reason: Option<Vec<u8>>| OperatorFreeze {
        enterprise_id: "ent_1".into(),
        account_id: account.into(),
        reason_sealed: reason,
        audit: audit("enterprise.member_frozen", account),
    };
    let before = db.dump().await;
    assert!(!s.freeze_as_operator(freeze("outsider", Some(vec![1]))).await.unwrap());
    assert_eq!(db.dump().await, before, "freezing no member changed something");
    assert!(s.freeze_as_operator(freeze("owner", Some(vec![1]))).await.unwrap());
    assert!(s.membership("ent_1", "owner").await.unwrap().unwrap().frozen);
    assert_eq!(
        s.change_member(request("owner", "member", MemberChange::Remove))
            .await
            .unwrap(),
        Changed::Refused(ChangeRefused::ActorFrozen)
    );
    assert!(s.freeze_as_operator(freeze("owner", None)).await.unwrap());
    assert!(!s.membership("ent_1", "owner").await.unwrap().unwrap().frozen);
    assert_eq!(db.count("audit_events", "kind = 'enterprise.member_frozen'").await, 2);
}

on_every_backend!(
    the_operator_freezes_any_member_and_no_one_else,
    the_members_list_derives_real_names_as_the_domain_does,
    a_frozen_or_suspended_admin_acts_on_nothing_but_leaving,
    an_invitation_is_answered_once_by_the_holder_of_its_phone,
    two_transfers_at_once_hand_the_ownership_on_once,
    creation_makes_its_creator_the_owner,
    creation_is_refused_whole_past_its_limit,
    only_the_owner_and_admins_rename_and_set_the_policy,
    members_come_by_joining_time_a_page_at_a_time,
    the_owner_cannot_leave_and_others_leave_once,
    a_closed_policy_keeps_members_from_leaving_but_not_from_removal,
    admins_remove_members_and_the_owner_removes_admins,
    the_owner_gives_roles_and_hands_the_ownership_on,
);
