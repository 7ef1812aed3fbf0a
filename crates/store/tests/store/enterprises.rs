//! Enterprises and their members: creation with its owner, renaming by the
//! owner and admins only (decided in the write), the members' pages, and
//! leaving (never the owner).

use std::sync::Arc;

use serde_json::json;
use shiming_domain::{AccountState, Nature, Role};
use shiming_store::*;

use crate::common::{account, on_every_backend, phone, store, Db};

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
            role: Role::Owner,
            joined_at: 5,
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

async fn only_the_owner_and_admins_rename(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let before = db.dump().await;
    for who in ["member", "outsider"] {
        assert!(!s
            .rename_enterprise("ent_1", who, "taken", audit("enterprise.renamed", who))
            .await
            .unwrap());
    }
    assert!(!s
        .rename_enterprise("ent_2", "owner", "taken", audit("enterprise.renamed", "owner"))
        .await
        .unwrap());
    assert_eq!(db.dump().await, before, "a refused rename changed something");
    for (who, name) in [("admin", "示例集团"), ("owner", "示例控股")] {
        assert!(s
            .rename_enterprise("ent_1", who, name, audit("enterprise.renamed", who))
            .await
            .unwrap());
        assert_eq!(s.membership("ent_1", "member").await.unwrap().unwrap().name, name);
    }
    assert_eq!(db.count("audit_events", "kind = 'enterprise.renamed'").await, 2);
}

async fn members_come_by_joining_time_a_page_at_a_time(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let all = s.members("ent_1", None, 10).await.unwrap();
    let order: Vec<(&str, Role)> = all.iter().map(|m| (m.account_id.as_str(), m.role)).collect();
    assert_eq!(
        order,
        [("owner", Role::Owner), ("admin", Role::Admin), ("member", Role::Member)]
    );
    assert!(all
        .iter()
        .all(|m| m.account_nature == Nature::Personal && m.account_state == AccountState::Active));
    let first = s.members("ent_1", None, 2).await.unwrap();
    let last = &first[1];
    let cursor = MemberCursor {
        joined_at: last.joined_at,
        account_id: last.account_id.clone(),
    };
    let rest = s.members("ent_1", Some(&cursor), 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].account_id, "member");
    assert!(s.members("ent_2", None, 10).await.unwrap().is_empty());
}

async fn the_owner_cannot_leave_and_others_leave_once(backend: Backend) {
    let (db, s) = store(backend).await;
    enterprise(&db, &s).await;
    let before = db.dump().await;
    let left = s
        .leave_enterprise("ent_1", "owner", audit("enterprise.left", "owner"))
        .await
        .unwrap();
    assert_eq!(left, Left::OwnerMustTransfer);
    let left = s
        .leave_enterprise("ent_1", "outsider", audit("enterprise.left", "outsider"))
        .await
        .unwrap();
    assert_eq!(left, Left::NotMember);
    assert_eq!(db.dump().await, before, "a refused leave changed something");
    for who in ["admin", "member"] {
        assert_eq!(
            s.leave_enterprise("ent_1", who, audit("enterprise.left", who))
                .await
                .unwrap(),
            Left::Left
        );
        assert_eq!(
            s.leave_enterprise("ent_1", who, audit("enterprise.left", who))
                .await
                .unwrap(),
            Left::NotMember
        );
        assert!(s.membership("ent_1", who).await.unwrap().is_none());
    }
    assert_eq!(db.count("audit_events", "kind = 'enterprise.left'").await, 2);
    let ids: Vec<String> = s
        .members("ent_1", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.account_id)
        .collect();
    assert_eq!(ids, ["owner"]);
}

on_every_backend!(
    creation_makes_its_creator_the_owner,
    only_the_owner_and_admins_rename,
    members_come_by_joining_time_a_page_at_a_time,
    the_owner_cannot_leave_and_others_leave_once,
);
