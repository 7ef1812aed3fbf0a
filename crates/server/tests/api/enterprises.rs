//! Enterprises (#18): creating one (within a daily allowance), renaming it
//! and setting its policy, one's enterprises, the members list, leaving,
//! removing members, giving roles and handing the ownership on; and the
//! authorization rules an attacker would try, one test each. Members other
//! than the owner are added in SQL until invitations exist.

use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::{assert_error, enterprise, events_of, spawn_app, spawn_app_with, TestApp};

const OWNER: &str = "+8613900000001";
const MEMBER: &str = "+8613900000002";
const OUTSIDER: &str = "+8613900000003";

async fn create(app: &TestApp, token: &str, name: &str) -> Response {
    app.post_as(token, "/api/v1/enterprises", json!({ "name": name })).await
}

async fn rename(app: &TestApp, token: &str, id: &str, name: &str) -> Response {
    app.patch_as(token, &format!("/api/v1/enterprises/{id}"), json!({ "name": name }))
        .await
}

async fn leave(app: &TestApp, token: &str, id: &str) -> Response {
    app.post_as(token, &format!("/api/v1/enterprises/{id}/leave"), json!({}))
        .await
}

async fn remove(app: &TestApp, token: &str, id: &str, account: &str) -> Response {
    app.delete_as(token, &format!("/api/v1/enterprises/{id}/members/{account}"))
        .await
}

async fn set_role(app: &TestApp, token: &str, id: &str, account: &str, role: &str) -> Response {
    let path = format!("/api/v1/enterprises/{id}/members/{account}");
    app.patch_as(token, &path, json!({ "role": role })).await
}

async fn transfer(app: &TestApp, token: &str, id: &str, account: &str) -> Response {
    let path = format!("/api/v1/enterprises/{id}/transfer");
    app.post_as(token, &path, json!({ "account_id": account })).await
}

/// Makes the account a member of the enterprise, as accepting an invitation
/// will.
async fn add_member(app: &TestApp, enterprise: &str, account: &str, role: &str, joined_at: i64) {
    app.raw()
        .await
        .exec(&format!(
            "INSERT INTO memberships (enterprise_id, account_id, role, joined_at) \
             VALUES ('{enterprise}', '{account}', '{role}', {joined_at})"
        ))
        .await;
}

async fn member_ids(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let page = app.json_as(token, &format!("/api/v1/enterprises/{id}/members")).await;
    let members = page["members"].as_array().unwrap();
    members
        .iter()
        .map(|m| m["account_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_creator_owns_renames_lists_and_cannot_leave_before_handing_on() {
    let app = spawn_app().await;
    let (token, account) = app.sign_in(OWNER).await;
    let r = create(&app, &token, "  示例科技  ").await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "示例科技", "trimmed");
    assert_eq!(created["role"], "owner");
    let id = created["id"].as_str().unwrap();

    let mine = app.json_as(&token, "/api/v1/enterprises").await;
    assert_eq!(mine["enterprises"], json!([created]));
    assert_eq!(app.json_as(&token, &format!("/api/v1/enterprises/{id}")).await, created);

    let r = rename(&app, &token, id, "示例集团").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "示例集团");

    let members = app.json_as(&token, &format!("/api/v1/enterprises/{id}/members")).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    assert_eq!(members["members"][0]["account_id"], account.as_str());
    assert_eq!(members["members"][0]["role"], "owner");
    assert_eq!(members["members"][0]["nature"], "personal");
    assert_eq!(members["members"][0]["state"], "active");
    assert_eq!(members["next"], Value::Null);

    let r = app
        .post_as(&token, &format!("/api/v1/enterprises/{id}/leave"), json!({}))
        .await;
    assert_error(r, 409, "owner_must_transfer").await;
    assert_eq!(member_ids(&app, &token, id).await, [account.as_str()]);

    let audit = app.json_as(&token, "/api/v1/account/audit").await;
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for kind in ["enterprise.created", "enterprise.renamed"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn a_bad_name_is_refused_and_nothing_is_created_or_renamed() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(OWNER).await;
    for bad in ["", "   ", &"企".repeat(65), "a\nb"] {
        assert_error(create(&app, &token, bad).await, 400, "invalid_enterprise_name").await;
    }
    let r = app
        .post_as(&token, "/api/v1/enterprises", json!({ "title": "x" }))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        app.json_as(&token, "/api/v1/enterprises").await["enterprises"],
        json!([])
    );
    assert_eq!(app.rows("enterprises").await, 0);

    let id = enterprise(&app, &token).await;
    assert_error(rename(&app, &token, &id, " ").await, 400, "invalid_enterprise_name").await;
    assert_eq!(
        app.json_as(&token, &format!("/api/v1/enterprises/{id}")).await["name"],
        "示例科技"
    );
}

#[tokio::test]
async fn a_foreign_enterprise_answers_exactly_as_a_missing_one() {
    let app = spawn_app().await;
    let (owner, owner_id) = app.sign_in(OWNER).await;
    let (outsider, _) = app.sign_in(OUTSIDER).await;
    let id = enterprise(&app, &owner).await;
    let missing = format!("ent_{}", "0".repeat(32));
    for target in [id.as_str(), missing.as_str()] {
        let answers = [
            app.get_as(&outsider, &format!("/api/v1/enterprises/{target}")).await,
            app.get_as(&outsider, &format!("/api/v1/enterprises/{target}/members"))
                .await,
            rename(&app, &outsider, target, "taken").await,
            leave(&app, &outsider, target).await,
            remove(&app, &outsider, target, &owner_id).await,
            set_role(&app, &outsider, target, &owner_id, "member").await,
            transfer(&app, &outsider, target, &owner_id).await,
            app.get_as(&outsider, &format!("/api/v1/enterprises/{target}/audit"))
                .await,
            app.get_as(&outsider, &format!("/api/v1/enterprises/{target}/invitations"))
                .await,
        ];
        for r in answers {
            assert_eq!(r.status(), 404);
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                body,
                json!({ "error": { "code": "not_found", "message": "enterprise not found" } })
            );
        }
    }
    assert_eq!(
        app.json_as(&owner, &format!("/api/v1/enterprises/{id}")).await["name"],
        "示例科技"
    );
    assert_eq!(
        app.json_as(&outsider, "/api/v1/enterprises").await["enterprises"],
        json!([])
    );
    assert_eq!(member_ids(&app, &owner, &id).await, [owner_id.as_str()]);
}

#[tokio::test]
async fn a_member_lists_the_members_but_cannot_rename() {
    let app = spawn_app().await;
    let (owner, owner_id) = app.sign_in(OWNER).await;
    let (member, member_id) = app.sign_in(MEMBER).await;
    let id = enterprise(&app, &owner).await;
    add_member(&app, &id, &member_id, "member", 2_000_000_000).await;
    assert_eq!(
        member_ids(&app, &member, &id).await,
        [owner_id.as_str(), member_id.as_str()]
    );
    // Whether an account is frozen, and how it is managed, is for admins.
    let seen = app.json_as(&member, &format!("/api/v1/enterprises/{id}/members")).await;
    for m in seen["members"].as_array().unwrap() {
        assert!(m.get("state").is_none() && m.get("nature").is_none(), "{m}");
    }
    assert_error(
        rename(&app, &member, &id, "taken").await,
        403,
        "enterprise_admin_required",
    )
    .await;
    assert_eq!(
        app.json_as(&owner, &format!("/api/v1/enterprises/{id}")).await["name"],
        "示例科技"
    );
    // An admin may.
    let raw = app.raw().await;
    raw.exec(&format!(
        "UPDATE memberships SET role = 'admin' WHERE account_id = '{member_id}'"
    ))
    .await;
    assert_eq!(rename(&app, &member, &id, "示例集团").await.status(), 200);
}

#[tokio::test]
async fn a_member_who_leaves_loses_access_at_once() {
    let app = spawn_app().await;
    let (owner, owner_id) = app.sign_in(OWNER).await;
    let (member, member_id) = app.sign_in(MEMBER).await;
    let id = enterprise(&app, &owner).await;
    add_member(&app, &id, &member_id, "admin", 2_000_000_000).await;
    assert_eq!(
        app.get_as(&member, &format!("/api/v1/enterprises/{id}")).await.status(),
        200
    );

    let r = app
        .post_as(&member, &format!("/api/v1/enterprises/{id}/leave"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "left": true }));
    for path in [
        format!("/api/v1/enterprises/{id}"),
        format!("/api/v1/enterprises/{id}/members"),
    ] {
        assert_error(app.get_as(&member, &path).await, 404, "not_found").await;
    }
    assert_error(rename(&app, &member, &id, "taken").await, 404, "not_found").await;
    assert_eq!(member_ids(&app, &owner, &id).await, [owner_id.as_str()]);
    // The account itself goes on: signed in, no enterprise.
    assert_eq!(app.json_as(&member, "/api/v1/whoami").await["state"], "active");
    assert_eq!(
        app.json_as(&member, "/api/v1/enterprises").await["enterprises"],
        json!([])
    );
    let r = app
        .post_as(&member, &format!("/api/v1/enterprises/{id}/leave"), json!({}))
        .await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn enterprise_ids_are_random_not_sequential() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(OWNER).await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(enterprise(&app, &token).await);
    }
    for id in &ids {
        let hex = id.strip_prefix("ent_").expect("ent_ and hex");
        assert!(hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }
    // Ids made in a row share no prefix (a counter or a clock would).
    let mut prefixes: Vec<&str> = ids.iter().map(|id| &id[4..10]).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    assert_eq!(prefixes.len(), ids.len(), "{ids:?}");
}

#[tokio::test]
async fn the_members_list_comes_a_page_at_a_time() {
    let app = spawn_app().await;
    let (owner, owner_id) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let mut expected = vec![owner_id];
    for n in 0..5 {
        let (_, account) = app.sign_in(&format!("+86139000001{n:02}")).await;
        // Two members join at the same second: the account id orders them.
        add_member(&app, &id, &account, "member", 2_000_000_000 + n / 2).await;
        expected.push(account);
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/enterprises/{id}/members?limit=2");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let page = app.json_as(&owner, &path).await;
        let members = page["members"].as_array().unwrap();
        assert!(members.len() <= 2);
        seen.extend(members.iter().map(|m| m["account_id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen[0], expected[0], "the owner joined first");
    let (mut seen, mut expected) = (seen, expected);
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected, "each member once");
    for bad in ["limit=0", "limit=201", "limit=x", "after=nonsense"] {
        let r = app
            .get_as(&owner, &format!("/api/v1/enterprises/{id}/members?{bad}"))
            .await;
        assert_error(r, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn enterprises_need_a_session_and_an_active_account() {
    let app = spawn_app().await;
    let r = app.post("/api/v1/enterprises", json!({ "name": "x" })).await;
    assert_error(r, 401, "unauthenticated").await;
    let r = app.http.get(app.url("/api/v1/enterprises")).send().await.unwrap();
    assert_error(r, 401, "unauthenticated").await;

    let (token, account) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &token).await;
    app.set_state(&account, "frozen").await;
    assert_error(create(&app, &token, "另一家").await, 403, "account_restricted").await;
    assert_error(rename(&app, &token, &id, "另一家").await, 403, "account_restricted").await;
    assert_eq!(
        app.json_as(&token, "/api/v1/enterprises").await["enterprises"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn creating_enterprises_is_limited_per_account() {
    let app = spawn_app_with(|c| c.enterprises.creations_per_account_per_day = 2).await;
    let (token, _) = app.sign_in(OWNER).await;
    enterprise(&app, &token).await;
    enterprise(&app, &token).await;
    let r = create(&app, &token, "第三家").await;
    let retry: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    assert_error(r, 429, "rate_limited").await;
    assert_eq!(app.rows("enterprises").await, 2);
    // Per account: another account creates its own.
    let (other, _) = app.sign_in(MEMBER).await;
    enterprise(&app, &other).await;
    // A day later there is room again.
    app.advance(86_400);
    enterprise(&app, &token).await;
}

/// An enterprise of OWNER's with MEMBER in it as `role`: (owner's token,
/// owner's id, member's token, member's id, enterprise id).
async fn with_member(app: &TestApp, role: &str) -> (String, String, String, String, String) {
    let (owner, owner_id) = app.sign_in(OWNER).await;
    let (member, member_id) = app.sign_in(MEMBER).await;
    let id = enterprise(app, &owner).await;
    add_member(app, &id, &member_id, role, 2_000_000_000).await;
    (owner, owner_id, member, member_id, id)
}

#[tokio::test]
async fn a_removed_member_loses_access_at_once() {
    let app = spawn_app().await;
    let (owner, owner_id, member, member_id, id) = with_member(&app, "member").await;
    let (third, third_id) = app.sign_in(OUTSIDER).await;
    add_member(&app, &id, &third_id, "admin", 2_000_000_001).await;
    // A member removes no one; an admin removes members but not the owner.
    assert_error(
        remove(&app, &member, &id, &third_id).await,
        403,
        "enterprise_admin_required",
    )
    .await;
    assert_error(remove(&app, &third, &id, &owner_id).await, 409, "owner_must_transfer").await;
    assert_error(remove(&app, &third, &id, &third_id).await, 400, "invalid_request").await;
    assert_eq!(member_ids(&app, &owner, &id).await.len(), 3);

    let r = remove(&app, &third, &id, &member_id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "removed": true }));
    for path in [
        format!("/api/v1/enterprises/{id}"),
        format!("/api/v1/enterprises/{id}/members"),
    ] {
        assert_error(app.get_as(&member, &path).await, 404, "not_found").await;
    }
    assert_error(leave(&app, &member, &id).await, 404, "not_found").await;
    assert_eq!(
        app.json_as(&member, "/api/v1/enterprises").await["enterprises"],
        json!([])
    );
    // Removed already: the member is not found now.
    let r = remove(&app, &third, &id, &member_id).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "error": { "code": "not_found", "message": "member not found" } })
    );
    assert_eq!(events_of(&app, &third, "enterprise.member_removed").await, 1);
    // The removed account itself goes on.
    assert_eq!(app.json_as(&member, "/api/v1/whoami").await["state"], "active");
}

#[tokio::test]
async fn only_the_owner_makes_admins_and_an_admin_is_removed_by_the_owner_alone() {
    let app = spawn_app().await;
    let (owner, _, member, member_id, id) = with_member(&app, "member").await;
    let (admin, admin_id) = app.sign_in(OUTSIDER).await;
    add_member(&app, &id, &admin_id, "admin", 2_000_000_001).await;
    let r = set_role(&app, &admin, &id, &member_id, "admin").await;
    assert_error(r, 403, "enterprise_owner_required").await;
    let r = set_role(&app, &member, &id, &admin_id, "member").await;
    assert_error(r, 403, "enterprise_admin_required").await;
    assert_error(
        set_role(&app, &owner, &id, &member_id, "owner").await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        set_role(&app, &owner, &id, &member_id, "boss").await,
        400,
        "invalid_request",
    )
    .await;
    // An admin cannot remove another admin.
    let (promoted, promoted_id) = app.sign_in("+8613900000004").await;
    add_member(&app, &id, &promoted_id, "admin", 2_000_000_002).await;
    let r = remove(&app, &admin, &id, &promoted_id).await;
    assert_error(r, 403, "enterprise_owner_required").await;

    let r = set_role(&app, &owner, &id, &member_id, "admin").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "account_id": member_id, "role": "admin" })
    );
    assert_eq!(
        app.json_as(&member, &format!("/api/v1/enterprises/{id}")).await["role"],
        "admin"
    );
    // Now an admin, the former member renames.
    assert_eq!(rename(&app, &member, &id, "示例集团").await.status(), 200);
    assert_eq!(remove(&app, &owner, &id, &promoted_id).await.status(), 200);
    assert_error(
        app.get_as(&promoted, &format!("/api/v1/enterprises/{id}")).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(events_of(&app, &owner, "enterprise.role_changed").await, 1);
}

#[tokio::test]
async fn the_owner_hands_the_ownership_on_after_a_step_up_and_may_then_leave() {
    let app = spawn_app().await;
    let (owner, _, member, member_id, id) = with_member(&app, "member").await;
    // A stolen session alone cannot give the enterprise away.
    assert_error(transfer(&app, &owner, &id, &member_id).await, 403, "step_up_required").await;
    let r = transfer(&app, &member, &id, &member_id).await;
    assert_error(r, 403, "enterprise_owner_required").await;
    app.step_up(&owner, OWNER).await;
    let (_, stranger) = app.sign_in(OUTSIDER).await;
    let r = transfer(&app, &owner, &id, &stranger).await;
    assert_error(r, 404, "not_found").await;

    let r = transfer(&app, &owner, &id, &member_id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "admin");
    assert_eq!(
        app.json_as(&member, &format!("/api/v1/enterprises/{id}")).await["role"],
        "owner"
    );
    let r = transfer(&app, &owner, &id, &member_id).await;
    assert_error(r, 403, "enterprise_owner_required").await;
    assert_error(leave(&app, &member, &id).await, 409, "owner_must_transfer").await;
    assert_eq!(leave(&app, &owner, &id).await.status(), 200);
    let members = app.json_as(&member, &format!("/api/v1/enterprises/{id}/members")).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    assert_eq!(events_of(&app, &owner, "enterprise.ownership_transferred").await, 1);
}

#[tokio::test]
async fn a_policy_can_keep_members_from_leaving_by_themselves() {
    let app = spawn_app().await;
    let (owner, _, member, member_id, id) = with_member(&app, "member").await;
    let path = format!("/api/v1/enterprises/{id}");
    let closed = json!({ "policy": { "members_may_leave": false } });
    assert_error(
        app.patch_as(&member, &path, closed.clone()).await,
        403,
        "enterprise_admin_required",
    )
    .await;
    for bad in [
        json!({}),
        json!({ "policy": { "leave": false } }),
        json!({ "policy": { "members_may_leave": "no" } }),
    ] {
        let r = app.patch_as(&owner, &path, bad.clone()).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    assert_eq!(app.json_as(&member, &path).await["policy"]["members_may_leave"], true);

    let r = app.patch_as(&owner, &path, closed).await;
    assert_eq!(r.status(), 200);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(
        (shown["name"].as_str(), &shown["policy"]),
        (
            Some("示例科技"),
            &json!({ "members_may_leave": false, "realname_required": false, "rebind_approval": false, "notify_realname_changes": true })
        )
    );
    assert_error(leave(&app, &member, &id).await, 403, "leave_forbidden").await;
    assert_eq!(app.json_as(&member, &path).await["role"], "member");
    assert_eq!(events_of(&app, &owner, "enterprise.policy_changed").await, 1);
    // An admin still ends the membership.
    assert_eq!(remove(&app, &owner, &id, &member_id).await.status(), 200);
}

#[tokio::test]
async fn a_frozen_member_loses_access_at_once_until_unfrozen() {
    let app = spawn_app().await;
    let (owner, owner_id, member, member_id, id) = with_member(&app, "member").await;
    let (admin, admin_id) = app.sign_in(OUTSIDER).await;
    add_member(&app, &id, &admin_id, "admin", 2_000_000_001).await;
    let path = |account: &str| format!("/api/v1/enterprises/{id}/members/{account}/freeze");
    let reason = json!({ "reason": "离职交接中 handing over" });
    // Who may: admins freeze members; only the owner freezes admins; no one the owner.
    let r = app.post_as(&member, &path(&admin_id), reason.clone()).await;
    assert_error(r, 403, "enterprise_admin_required").await;
    let r = app.post_as(&admin, &path(&owner_id), reason.clone()).await;
    assert_error(r, 409, "owner_must_transfer").await;
    for bad in [
        json!({ "reason": " " }),
        json!({ "reason": "x".repeat(201) }),
        json!({}),
    ] {
        let r = app.post_as(&admin, &path(&member_id), bad.clone()).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    assert_eq!(
        app.get_as(&member, &format!("/api/v1/enterprises/{id}/members"))
            .await
            .status(),
        200
    );

    let r = app.post_as(&admin, &path(&member_id), reason).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "frozen": true }));
    assert!(
        !app.at_rest().await.windows(8).any(|w| w == b"handing "),
        "the reason is stored plain"
    );
    // At once: the member sees the enterprise (frozen), and may do nothing else there.
    let mine = app.json_as(&member, &format!("/api/v1/enterprises/{id}")).await;
    assert_eq!(mine["frozen"], true);
    let r = app.get_as(&member, &format!("/api/v1/enterprises/{id}/members")).await;
    assert_error(r, 403, "membership_frozen").await;
    let seen = app.json_as(&owner, &format!("/api/v1/enterprises/{id}/members")).await;
    let entry = seen["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["account_id"] == member_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        (entry["flags"].clone(), entry["frozen_reason"].clone()),
        (json!(["frozen"]), json!("离职交接中 handing over"))
    );
    // The account itself is untouched.
    assert_eq!(app.json_as(&member, "/api/v1/whoami").await["state"], "active");
    assert_eq!(events_of(&app, &admin, "enterprise.member_frozen").await, 1);

    let unfreeze = format!("/api/v1/enterprises/{id}/members/{member_id}/unfreeze");
    let r = app.post_as(&admin, &unfreeze, json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "frozen": false }));
    assert_eq!(
        app.get_as(&member, &format!("/api/v1/enterprises/{id}/members"))
            .await
            .status(),
        200
    );
    // Only the owner freezes an admin.
    let r = app.post_as(&owner, &path(&admin_id), json!({ "reason": "审计" })).await;
    assert_eq!(r.status(), 200);
    let r = app.post_as(&admin, &path(&member_id), json!({ "reason": "x" })).await;
    assert_error(r, 403, "membership_frozen").await;
}

#[tokio::test]
async fn admins_read_the_enterprises_own_log_and_members_do_not() {
    let app = spawn_app().await;
    let (owner, _, member, member_id, id) = with_member(&app, "member").await;
    assert_eq!(rename(&app, &owner, &id, "示例集团").await.status(), 200);
    let r = set_role(&app, &owner, &id, &member_id, "admin").await;
    assert_eq!(r.status(), 200);
    // Another enterprise's events stay out of this one's log.
    let other = enterprise(&app, &member).await;
    assert_eq!(rename(&app, &member, &other, "别家").await.status(), 200);

    let path = format!("/api/v1/enterprises/{id}/audit");
    let log = app.json_as(&owner, &path).await;
    let kinds: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["enterprise.role_changed", "enterprise.renamed", "enterprise.created"]
    );
    assert!(log["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["details"]["enterprise_id"] == id.as_str()));
    // A page at a time.
    let first = app.json_as(&owner, &format!("{path}?limit=2")).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    let next = first["next"].as_i64().unwrap();
    let rest = app.json_as(&owner, &format!("{path}?limit=2&before={next}")).await;
    assert_eq!(rest["events"][0]["type"], "enterprise.created");
    assert_eq!(rest["next"], Value::Null);
    assert_error(
        app.get_as(&owner, &format!("{path}?before=x")).await,
        400,
        "invalid_request",
    )
    .await;

    // The member made admin reads it; demoted again, no longer.
    assert_eq!(app.get_as(&member, &path).await.status(), 200);
    assert_eq!(set_role(&app, &owner, &id, &member_id, "member").await.status(), 200);
    assert_error(app.get_as(&member, &path).await, 403, "enterprise_admin_required").await;
}
