//! Enterprise policies (#18): real name required to join and to act
//! there, each decided in the write's own transaction, the owner never kept
//! out; and the members list as admins see it: each member's real-name
//! status and masked name, and the filters, an admin's alone where they
//! name what only admins see.

use serde_json::{json, Value};

use shiming_server::Config;

use crate::helpers::{
    assert_error, assert_unchanged, enterprise, id_number, provisioned, spawn_app, spawn_app_with, TestApp,
};

pub(crate) const OWNER: &str = "+8613900000031";
const ADMIN: &str = "+8613900000032";
const INVITEE: &str = "+8613900000033";

/// Verifies the real name of the signed-in account on `phone`, by the carrier.
async fn verify(app: &TestApp, token: &str, phone: &str, name: &str, id: &str) {
    app.add_carrier_person(phone, name, &id_number(id)).await;
    let body = json!({ "name": name, "id_number": id_number(id), "consent": true });
    let r = app.post_as(token, "/api/v1/account/real-name/phone", body).await;
    assert_eq!(r.status(), 200);
}

/// The account ids of the members list at `query`, as `token` sees it.
async fn listed(app: &TestApp, token: &str, id: &str, query: &str) -> Vec<String> {
    let page = app
        .json_as(token, &format!("/api/v1/enterprises/{id}/members{query}"))
        .await;
    let all = page["members"].as_array().expect("a members list");
    all.iter()
        .map(|m| m["account_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_realname_policy_keeps_the_unverified_from_joining_and_acting_but_not_the_owner() {
    let app = spawn_app().await;
    let (owner, owner_id) = app.sign_in(OWNER).await;
    let (admin, admin_id) = app.sign_in(ADMIN).await;
    let (invitee, invitee_id) = app.sign_in(INVITEE).await;
    let id = enterprise(&app, &owner).await;
    let path = format!("/api/v1/enterprises/{id}/invitations");
    let r = app
        .post_as(&owner, &path, json!({ "phone": ADMIN, "role": "admin" }))
        .await;
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();
    let accept = |code: &str| format!("/api/v1/invitations/{code}/accept");
    app.advance(1);
    assert_eq!(app.post_as(&admin, &accept(&code), json!({})).await.status(), 200);
    // An admin turns it on: unverified, the admin is kept out at once.
    let r = app
        .patch_as(
            &admin,
            &format!("/api/v1/enterprises/{id}"),
            json!({ "policy": { "realname_required": true } }),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["policy"]["realname_required"], true);
    let seen = app.json_as(&admin, &format!("/api/v1/enterprises/{id}")).await;
    assert_eq!(
        (seen["real_name_status"].clone(), seen["active"].clone()),
        (json!("unverified"), json!(false))
    );
    let r = app.get_as(&admin, &format!("/api/v1/enterprises/{id}/members")).await;
    assert_error(r, 403, "realname_required").await;
    let r = app.post_as(&admin, &path, json!({ "phone": INVITEE })).await;
    assert_error(r, 403, "realname_required").await;
    // The owner, unverified too, is never kept out: they could not lift it.
    assert_eq!(
        listed(&app, &owner, &id, "").await,
        [owner_id.clone(), admin_id.clone()]
    );

    // Joining: refused until the invitee is verified; the invitation stays open.
    let r = app.post_as(&owner, &path, json!({ "phone": INVITEE })).await;
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();
    let r = app.post_as(&invitee, &accept(&code), json!({})).await;
    assert_error(r, 403, "realname_required").await;
    assert_eq!(listed(&app, &owner, &id, "").await.len(), 2);
    verify(&app, &invitee, INVITEE, "王五", "11010519491231003").await;
    // Later than the admin, so that the list's order is theirs.
    app.advance(1);
    assert_eq!(app.post_as(&invitee, &accept(&code), json!({})).await.status(), 200);

    // Verified, the admin acts again.
    verify(&app, &admin, ADMIN, "李四", "11010519491231004").await;
    assert_eq!(listed(&app, &admin, &id, "").await.len(), 3);
    let seen = app.json_as(&admin, &format!("/api/v1/enterprises/{id}")).await;
    assert_eq!(
        (seen["real_name_status"].clone(), seen["active"].clone()),
        (json!("verified"), json!(true))
    );

    // Admins see each member's real name masked, and filter by it.
    let page = app.json_as(&admin, &format!("/api/v1/enterprises/{id}/members")).await;
    let real_names: Vec<Value> = page["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["real_name"].clone())
        .collect();
    assert_eq!(
        real_names,
        [
            json!({ "status": "unverified", "name_masked": null }),
            json!({ "status": "verified", "name_masked": "*四" }),
            json!({ "status": "verified", "name_masked": "*五" }),
        ]
    );
    assert_eq!(
        listed(&app, &admin, &id, "?real_name=verified").await,
        [admin_id.clone(), invitee_id.clone()]
    );
    assert_eq!(
        listed(&app, &admin, &id, "?real_name=unverified").await,
        [owner_id.as_str()]
    );
    assert_eq!(listed(&app, &admin, &id, "?role=member").await, [invitee_id.as_str()]);
    assert_eq!(
        listed(&app, &admin, &id, "?role=admin&real_name=unverified").await,
        Vec::<String>::new()
    );
    // The whole members list holds no one's unmasked name.
    let text = serde_json::to_string(&page).unwrap();
    assert!(!text.contains("李四") && !text.contains("王五"), "{text}");

    // A plain member sees neither real names nor flags, nor filters by them.
    let plain = app
        .json_as(&invitee, &format!("/api/v1/enterprises/{id}/members"))
        .await;
    assert!(plain["members"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m.get("real_name").is_none() && m.get("flags").is_none()));
    assert_eq!(listed(&app, &invitee, &id, "?role=admin").await, [admin_id.as_str()]);
    for query in ["?real_name=verified", "?flag=frozen"] {
        let r = app
            .get_as(&invitee, &format!("/api/v1/enterprises/{id}/members{query}"))
            .await;
        assert_error(r, 403, "enterprise_admin_required").await;
    }
    for query in ["?role=boss", "?real_name=maybe", "?flag=red"] {
        let r = app
            .get_as(&admin, &format!("/api/v1/enterprises/{id}/members{query}"))
            .await;
        assert_error(r, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn admins_filter_members_by_flag() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let (admin, admin_id) = app.sign_in(ADMIN).await;
    let id = enterprise(&app, &owner).await;
    let r = app
        .post_as(
            &owner,
            &format!("/api/v1/enterprises/{id}/invitations"),
            json!({ "phone": ADMIN, "role": "admin" }),
        )
        .await;
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post_as(&admin, &format!("/api/v1/invitations/{code}/accept"), json!({}))
            .await
            .status(),
        200
    );
    let managed = provisioned(&app, &admin, &id, INVITEE, "王五").await;
    assert_eq!(listed(&app, &admin, &id, "?flag=managed").await, [managed.as_str()]);
    assert!(listed(&app, &admin, &id, "?flag=frozen").await.is_empty());
    let freeze = format!("/api/v1/enterprises/{id}/members/{admin_id}/freeze");
    assert_eq!(
        app.post_as(&owner, &freeze, json!({ "reason": "审计" })).await.status(),
        200
    );
    assert_eq!(listed(&app, &owner, &id, "?flag=frozen").await, [admin_id.as_str()]);
    assert_eq!(
        listed(&app, &owner, &id, "?flag=frozen&role=member").await,
        Vec::<String>::new()
    );
    let page = app
        .json_as(&owner, &format!("/api/v1/enterprises/{id}/members?flag=managed"))
        .await;
    assert_eq!(page["members"][0]["flags"], json!(["managed"]));
}

const COMPANY_PHONE: &str = "+8613811110081";
const NEW_PHONE: &str = "+8613922220082";
const NEW_PERSON: (&str, &str) = ("陈静", "320102199505052468");

/// An enterprise of OWNER's with the policy `rebind_approval`, managing the
/// account of COMPANY_PHONE, verified and stepped up: (the app, the
/// owner's token, the employee's token, the enterprise, the account).
pub(crate) async fn managed_employee() -> (TestApp, String, String, String, String) {
    managed_employee_with(|_| {}).await
}

/// [`managed_employee`], on a service configured by `tweak` too.
async fn managed_employee_with(tweak: impl FnOnce(&mut Config)) -> (TestApp, String, String, String, String) {
    let app = spawn_app_with(|c| {
        c.sms.resend_after_secs = 0;
        tweak(c);
    })
    .await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let account = provisioned(&app, &owner, &id, COMPANY_PHONE, "张伟").await;
    let policy = json!({ "policy": { "rebind_approval": true } });
    let r = app.patch_as(&owner, &format!("/api/v1/enterprises/{id}"), policy).await;
    assert_eq!(r.status(), 200);
    app.add_carrier_person(NEW_PHONE, NEW_PERSON.0, NEW_PERSON.1).await;
    let employee = app.verified_account(COMPANY_PHONE, EMPLOYEE).await;
    app.step_up(&employee, COMPANY_PHONE).await;
    (app, owner, employee, id, account)
}

pub(crate) const EMPLOYEE: (&str, &str) = ("张伟", "110101198001011232");

/// The approval the employee's confirm of a phone change to NEW_PHONE asks for.
pub(crate) async fn asked_for(app: &TestApp, employee: &str) -> String {
    assert_eq!(
        app.prove_phone_change(employee, NEW_PHONE, NEW_PERSON).await.status(),
        200
    );
    let r = app.accept(employee, "/api/v1/account/phone/change/confirm").await;
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The employee signed in afresh, stepped up, and the approval their
/// confirm asks for: (the session's token, the approval).
async fn signed_in_and_asked(app: &TestApp) -> (String, String) {
    let employee = app.sign_in(COMPANY_PHONE).await.0;
    app.step_up(&employee, COMPANY_PHONE).await;
    let approval = asked_for(app, &employee).await;
    (employee, approval)
}

/// The ids of the approvals the enterprise `id` lists as waiting.
async fn waiting(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let list = app
        .json_as(token, &format!("/api/v1/enterprises/{id}/rebind-approvals"))
        .await;
    list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn under_approval_a_member_made_admin_approves_not_their_own_rebind_nor_unbinds() {
    let (app, owner, employee, id, account) = managed_employee().await;
    // A first WeChat of the account's own person binds: no one need approve it.
    let wx = app.add_wechat_user("zw", Some(EMPLOYEE)).await;
    let mut b = app.browser();
    b.token = Some(employee.clone());
    assert_eq!(b.round_trip("/api/v1/wechat/bind/start", &wx).await.status(), 200);
    assert_eq!(app.security(&employee).await["wechat"]["nickname"], "zw");
    // Unbinding it, then binding another, would be a rebind no one approved.
    let before = app.security(&employee).await;
    let r = app.accept(&employee, "/api/v1/account/wechat/unbind").await;
    assert_error(r, 403, "unbind_needs_approval").await;
    assert_unchanged(&before, &app.security(&employee).await);

    // Made an admin, the employee still cannot approve their own rebind.
    let approval = asked_for(&app, &employee).await;
    let r = app
        .patch_as(
            &owner,
            &format!("/api/v1/enterprises/{id}/members/{account}"),
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let approve = format!("/api/v1/enterprises/{id}/rebind-approvals/{approval}/approve");
    assert_error(app.post_as(&employee, &approve, json!({})).await, 403, "own_approval").await;
    assert_unchanged(&before, &app.security(&employee).await);
    assert_eq!(waiting(&app, &owner, &id).await, [approval.as_str()]);
    assert_eq!(app.post_as(&owner, &approve, json!({})).await.status(), 200);
}

#[tokio::test]
async fn an_approval_whose_session_or_management_ended_waits_no_more() {
    let (app, owner, employee, id, account) = managed_employee_with(|c| c.sessions.idle_timeout_secs = 3_600).await;
    let list = format!("/api/v1/enterprises/{id}/rebind-approvals");

    // The session that asked signs out: no admin can commit its change.
    let approval = asked_for(&app, &employee).await;
    assert_eq!(waiting(&app, &owner, &id).await, [approval.as_str()]);
    assert_eq!(app.post_as(&employee, "/api/v1/logout", json!({})).await.status(), 200);
    assert!(waiting(&app, &owner, &id).await.is_empty());
    let r = app
        .post_as(&owner, &format!("{list}/{approval}/approve"), json!({}))
        .await;
    assert_error(r, 410, "flow_expired").await;

    // The session that asked is left idle past the timeout: the same.
    let (_, approval) = signed_in_and_asked(&app).await;
    app.advance(3_601);
    let owner = app.sign_in(OWNER).await.0;
    assert!(waiting(&app, &owner, &id).await.is_empty());
    let r = app
        .post_as(&owner, &format!("{list}/{approval}/approve"), json!({}))
        .await;
    assert_error(r, 410, "flow_expired").await;

    // The enterprise no longer manages the account: it neither approves
    // nor denies (ending the member's change) any more.
    let (employee, approval) = signed_in_and_asked(&app).await;
    let r = app
        .delete_as(&owner, &format!("/api/v1/enterprises/{id}/members/{account}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(waiting(&app, &owner, &id).await.is_empty());
    let r = app
        .post_as(&owner, &format!("{list}/{approval}/deny"), json!({ "reason": "离职" }))
        .await;
    assert_error(r, 410, "flow_expired").await;
    let mine = app.json_as(&employee, "/api/v1/account/rebind-approvals").await;
    assert_eq!(mine["approvals"][0]["state"], "expired");
    // Personal now, the member's own confirm commits the change they proved.
    let r = app.accept(&employee, "/api/v1/account/phone/change/confirm").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_rebind_waiting_past_its_time_is_shown_expired_and_approves_nothing() {
    let (app, owner, employee, id, _) = managed_employee().await;
    let new_person = NEW_PERSON;
    assert_eq!(
        app.prove_phone_change(&employee, NEW_PHONE, new_person).await.status(),
        200
    );
    let r = app.accept(&employee, "/api/v1/account/phone/change/confirm").await;
    assert_eq!(r.status(), 202);
    let approval = r.json::<Value>().await.unwrap()["approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(7 * 86_400);
    let mine = app.json_as(&employee, "/api/v1/account/rebind-approvals").await;
    assert_eq!(mine["approvals"][0]["state"], "expired");
    let list = format!("/api/v1/enterprises/{id}/rebind-approvals");
    assert!(app.json_as(&owner, &list).await["approvals"]
        .as_array()
        .unwrap()
        .is_empty());
    let r = app
        .post_as(&owner, &format!("{list}/{approval}/approve"), json!({}))
        .await;
    assert_error(r, 410, "flow_expired").await;
    assert_eq!(app.json_as(&employee, "/api/v1/whoami").await["nature"], "enterprise");
}

#[tokio::test]
async fn a_rebind_of_a_managed_account_waits_for_an_admins_approval_or_denial() {
    let (app, owner, employee, id, account) = managed_employee().await;
    let new_person = NEW_PERSON;
    let confirm = "/api/v1/account/phone/change/confirm";
    let list = format!("/api/v1/enterprises/{id}/rebind-approvals");

    // Denied: the confirm commits nothing and asks, once; the admin denies.
    assert_eq!(
        app.prove_phone_change(&employee, NEW_PHONE, new_person).await.status(),
        200
    );
    let before = app.security(&employee).await;
    let r = app.accept(&employee, confirm).await;
    assert_eq!(r.status(), 202);
    let asked: Value = r.json().await.unwrap();
    assert_eq!(
        (asked["state"].as_str(), asked["approval"]["state"].as_str()),
        (Some("pending_approval"), Some("pending"))
    );
    let approval = asked["approval"]["id"].as_str().unwrap().to_owned();
    let again: Value = app.accept(&employee, confirm).await.json().await.unwrap();
    assert_eq!(again["approval"]["id"], approval.as_str(), "one request per change");
    assert_unchanged(&before, &app.security(&employee).await);
    assert_eq!(app.json_as(&employee, "/api/v1/whoami").await["nature"], "enterprise");
    // The member cannot approve their own rebind, nor see the enterprise's list.
    let r = app
        .post_as(&employee, &format!("{list}/{approval}/approve"), json!({}))
        .await;
    assert_error(r, 403, "enterprise_admin_required").await;
    let waiting = app.json_as(&owner, &list).await;
    assert_eq!(waiting["approvals"][0]["account_id"], account.as_str());
    assert_eq!(waiting["approvals"][0]["display_name"], "张伟");
    for bad in [json!({}), json!({ "reason": " " })] {
        let r = app.post_as(&owner, &format!("{list}/{approval}/deny"), bad).await;
        assert_eq!(r.status(), 400);
    }
    let r = app
        .post_as(
            &owner,
            &format!("{list}/{approval}/deny"),
            json!({ "reason": "请先办理离职交接" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mine = app.json_as(&employee, "/api/v1/account/rebind-approvals").await;
    assert_eq!(
        (
            mine["approvals"][0]["state"].as_str(),
            mine["approvals"][0]["reason"].as_str()
        ),
        (Some("denied"), Some("请先办理离职交接"))
    );
    assert_eq!(app.notices(&employee).await["notices"][0]["kind"], "rebind.denied");
    assert_error(app.accept(&employee, confirm).await, 410, "flow_expired").await;
    let r = app
        .post_as(&owner, &format!("{list}/{approval}/approve"), json!({}))
        .await;
    assert_error(r, 409, "approval_closed").await;
    assert_unchanged(&before, &app.security(&employee).await);

    // Approved: the admin's approval commits the change as previewed.
    assert_eq!(
        app.prove_phone_change(&employee, NEW_PHONE, new_person).await.status(),
        200
    );
    let r = app.accept(&employee, confirm).await;
    let approval = r.json::<Value>().await.unwrap()["approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.post_as(&owner, &format!("{list}/{approval}/approve"), json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(app.json_as(&employee, "/api/v1/whoami").await["nature"], "personal");
    let phone = app.security(&employee).await["phone"]["number_masked"].clone();
    assert_ne!(phone, before["phone"]["number_masked"]);
    let r = app
        .post_as(&owner, &format!("{list}/{approval}/approve"), json!({}))
        .await;
    assert_error(r, 409, "approval_closed").await;
    assert!(app.json_as(&owner, &list).await["approvals"]
        .as_array()
        .unwrap()
        .is_empty());
    // The owner is told of the member's real-name change, by default.
    let told = app.notices(&owner).await;
    assert_eq!(told["notices"][0]["kind"], "enterprise.member_realname_changed");
    assert_eq!(told["notices"][0]["credential_masked"], account.as_str());
    // The enterprise's own log holds all three steps.
    let log = app
        .json_as(&owner, &format!("/api/v1/enterprises/{id}/audit?limit=200"))
        .await;
    let kinds: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for kind in [
        "enterprise.rebind_approval_requested",
        "enterprise.rebind_denied",
        "enterprise.rebind_approved",
    ] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }
}
