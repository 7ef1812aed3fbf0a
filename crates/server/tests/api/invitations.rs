//! Invitations to an enterprise (#18): sent by text to a phone, answered by
//! the holder of that phone, signed in with it; expiring, single use,
//! revocable; limited per phone and per enterprise; and what an attacker
//! holding a code or a member's session gets from them.

use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::{assert_error, enterprise, events_of, spawn_app, spawn_app_with, TestApp};

const OWNER: &str = "+8613900000011";
const ADMIN: &str = "+8613900000012";
const INVITEE: &str = "+8613900000013";
const STRANGER: &str = "+8613900000014";

async fn invite(app: &TestApp, token: &str, id: &str, phone: &str, role: &str) -> Response {
    let path = format!("/api/v1/enterprises/{id}/invitations");
    app.post_as(token, &path, json!({ "phone": phone, "role": role })).await
}

/// A sent invitation's answer, which must be 201.
async fn invited(app: &TestApp, token: &str, id: &str, phone: &str) -> Value {
    let r = invite(app, token, id, phone, "member").await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn answer(app: &TestApp, token: &str, code: &str, how: &str) -> Response {
    app.post_as(token, &format!("/api/v1/invitations/{code}/{how}"), json!({}))
        .await
}

/// The entry of `account` in the members list at `path`, as `token` sees it.
async fn member_entry(app: &TestApp, token: &str, path: &str, account: &str) -> Value {
    let members = app.json_as(token, path).await;
    let all = members["members"].as_array().unwrap();
    all.iter()
        .find(|m| m["account_id"] == account)
        .cloned()
        .expect("a member")
}

async fn open_ids(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let open = app
        .json_as(token, &format!("/api/v1/enterprises/{id}/invitations"))
        .await;
    let all = open["invitations"].as_array().unwrap();
    all.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_holder_of_the_invited_phone_joins_once() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let sent = invited(&app, &owner, &id, INVITEE).await;
    let code = sent["code"].as_str().unwrap();
    assert_eq!(code.len(), 32);
    assert_eq!(sent["link"], app.url(&format!("/invitations/{code}")));
    assert_eq!(sent["phone"], "139****0013");
    assert_eq!(
        (sent["role"].as_str(), sent["state"].as_str()),
        (Some("member"), Some("pending"))
    );
    assert_eq!(sent["enterprise"], json!({ "id": id, "name": "示例科技" }));
    let at = |field: &str| {
        let text = sent[field].as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert_eq!((at("expires_at") - at("created_at")).whole_seconds(), 7 * 86_400);
    // The phone gets the link by text; the code is stored only hashed.
    let text = app.text_containing(INVITEE, code).await;
    assert!(
        text.contains("示例科技") && text.contains(sent["link"].as_str().unwrap()),
        "{text}"
    );
    assert!(
        !app.at_rest().await.windows(code.len()).any(|w| w == code.as_bytes()),
        "the code is stored plain"
    );
    assert_eq!(open_ids(&app, &owner, &id).await, [sent["id"].as_str().unwrap()]);

    // The invitee signs up with that phone, sees the invitation, accepts.
    let (invitee, invitee_id) = app.sign_in(INVITEE).await;
    let seen = app.json_as(&invitee, &format!("/api/v1/invitations/{code}")).await;
    assert_eq!(seen["enterprise"]["name"], "示例科技");
    assert_eq!(seen["state"], "pending");
    let r = answer(&app, &invitee, code, "accept").await;
    assert_eq!(r.status(), 200);
    let joined: Value = r.json().await.unwrap();
    assert_eq!(
        (joined["id"].as_str(), joined["role"].as_str()),
        (Some(id.as_str()), Some("member"))
    );
    let members = app.json_as(&owner, &format!("/api/v1/enterprises/{id}/members")).await;
    assert!(members["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["account_id"] == invitee_id.as_str()));
    assert_eq!(events_of(&app, &invitee, "enterprise.joined").await, 1);
    assert_eq!(events_of(&app, &owner, "enterprise.invited").await, 1);

    // Single use.
    assert_error(answer(&app, &invitee, code, "accept").await, 409, "invitation_closed").await;
    assert_error(answer(&app, &invitee, code, "decline").await, 409, "invitation_closed").await;
    assert!(open_ids(&app, &owner, &id).await.is_empty());
    // A member's phone is not invited again.
    assert_error(
        invite(&app, &owner, &id, INVITEE, "member").await,
        409,
        "already_member",
    )
    .await;
}

#[tokio::test]
async fn a_code_tells_anyone_but_the_invited_phone_nothing() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let sent = invited(&app, &owner, &id, INVITEE).await;
    let code = sent["code"].as_str().unwrap();
    // Someone who got hold of the link, signed in with another phone.
    let (stranger, stranger_id) = app.sign_in(STRANGER).await;
    let made_up = "0".repeat(32);
    let not_found = json!({ "error": { "code": "not_found", "message": "invitation not found" } });
    for c in [code, made_up.as_str(), "short"] {
        let answers = [
            app.get_as(&stranger, &format!("/api/v1/invitations/{c}")).await,
            answer(&app, &stranger, c, "accept").await,
            answer(&app, &stranger, c, "decline").await,
        ];
        for r in answers {
            assert_eq!(r.status(), 404);
            assert_eq!(r.json::<Value>().await.unwrap(), not_found);
        }
    }
    let r = app
        .http
        .get(app.url(&format!("/api/v1/invitations/{code}")))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthenticated").await;
    // Still open for its phone; the stranger joined nothing.
    assert_eq!(open_ids(&app, &owner, &id).await, [sent["id"].as_str().unwrap()]);
    assert_eq!(
        app.json_as(&stranger, "/api/v1/enterprises").await["enterprises"],
        json!([])
    );
    let members = app.json_as(&owner, &format!("/api/v1/enterprises/{id}/members")).await;
    assert!(!members.to_string().contains(&stranger_id));
}

#[tokio::test]
async fn an_invitation_expires_after_seven_days() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let sent = invited(&app, &owner, &id, INVITEE).await;
    let code = sent["code"].as_str().unwrap();
    let (invitee, _) = app.sign_in(INVITEE).await;
    app.advance(7 * 86_400 - 2);
    assert_eq!(
        app.json_as(&invitee, &format!("/api/v1/invitations/{code}")).await["state"],
        "pending"
    );
    app.advance(2);
    assert_eq!(
        app.json_as(&invitee, &format!("/api/v1/invitations/{code}")).await["state"],
        "expired"
    );
    assert_error(answer(&app, &invitee, code, "accept").await, 410, "invitation_expired").await;
    assert!(open_ids(&app, &owner, &id).await.is_empty());
    assert_eq!(
        app.json_as(&invitee, "/api/v1/enterprises").await["enterprises"],
        json!([])
    );
}

#[tokio::test]
async fn declined_revoked_and_replaced_invitations_stay_closed() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let (invitee, _) = app.sign_in(INVITEE).await;

    let first = invited(&app, &owner, &id, INVITEE).await;
    let r = answer(&app, &invitee, first["code"].as_str().unwrap(), "decline").await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "declined": true }));
    assert_error(
        answer(&app, &invitee, first["code"].as_str().unwrap(), "accept").await,
        409,
        "invitation_closed",
    )
    .await;
    assert_eq!(events_of(&app, &invitee, "enterprise.invitation_declined").await, 1);

    let second = invited(&app, &owner, &id, INVITEE).await;
    let revoke = format!(
        "/api/v1/enterprises/{id}/invitations/{}",
        second["id"].as_str().unwrap()
    );
    let r = app.delete_as(&owner, &revoke).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "revoked": true }));
    assert_error(app.delete_as(&owner, &revoke).await, 409, "invitation_closed").await;
    assert_error(
        answer(&app, &invitee, second["code"].as_str().unwrap(), "accept").await,
        409,
        "invitation_closed",
    )
    .await;
    let missing = format!("/api/v1/enterprises/{id}/invitations/inv_{}", "0".repeat(32));
    assert_error(app.delete_as(&owner, &missing).await, 404, "not_found").await;

    // Inviting the phone again replaces the open invitation: only the newest code works.
    let third = invited(&app, &owner, &id, INVITEE).await;
    let fourth = invited(&app, &owner, &id, INVITEE).await;
    assert_eq!(open_ids(&app, &owner, &id).await, [fourth["id"].as_str().unwrap()]);
    assert_error(
        answer(&app, &invitee, third["code"].as_str().unwrap(), "accept").await,
        409,
        "invitation_closed",
    )
    .await;
    assert_eq!(
        answer(&app, &invitee, fourth["code"].as_str().unwrap(), "accept")
            .await
            .status(),
        200
    );
    assert_eq!(events_of(&app, &owner, "enterprise.invitation_revoked").await, 1);
}

#[tokio::test]
async fn only_admins_invite_and_only_the_owner_invites_admins() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let (admin, _) = app.sign_in(ADMIN).await;
    let sent = invite(&app, &owner, &id, ADMIN, "admin").await;
    assert_eq!(sent.status(), 201);
    let code = sent.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();
    let joined = answer(&app, &admin, &code, "accept").await;
    assert_eq!(joined.json::<Value>().await.unwrap()["role"], "admin");

    assert_error(
        invite(&app, &admin, &id, INVITEE, "admin").await,
        403,
        "enterprise_owner_required",
    )
    .await;
    assert_error(
        invite(&app, &owner, &id, INVITEE, "owner").await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(invite(&app, &owner, &id, INVITEE, "boss").await, 400, "invalid_request").await;
    assert_error(invite(&app, &owner, &id, "12345", "member").await, 400, "invalid_phone").await;
    assert_eq!(app.rows("invitations").await, 1, "a refused invitation was stored");
    assert!(app.outbox(INVITEE).await.is_empty(), "a refused invitation was texted");

    // An admin invites members; a member invites no one, nor lists or revokes.
    let sent = invited(&app, &admin, &id, INVITEE).await;
    let (invitee, _) = app.sign_in(INVITEE).await;
    assert_eq!(
        answer(&app, &invitee, sent["code"].as_str().unwrap(), "accept")
            .await
            .status(),
        200
    );
    assert_error(
        invite(&app, &invitee, &id, STRANGER, "member").await,
        403,
        "enterprise_admin_required",
    )
    .await;
    let list = app
        .get_as(&invitee, &format!("/api/v1/enterprises/{id}/invitations"))
        .await;
    assert_error(list, 403, "enterprise_admin_required").await;
    let other = invited(&app, &admin, &id, STRANGER).await;
    let revoke = format!("/api/v1/enterprises/{id}/invitations/{}", other["id"].as_str().unwrap());
    assert_error(app.delete_as(&invitee, &revoke).await, 403, "enterprise_admin_required").await;
    assert_eq!(open_ids(&app, &owner, &id).await.len(), 1);
}

#[tokio::test]
async fn a_phone_gets_few_invitations_a_day_from_all_enterprises() {
    let app = spawn_app_with(|c| c.enterprises.invitations_per_phone_per_day = 2).await;
    let (owner, _) = app.sign_in(OWNER).await;
    let (other, _) = app.sign_in(ADMIN).await;
    let first = enterprise(&app, &owner).await;
    let second = enterprise(&app, &other).await;
    invited(&app, &owner, &first, INVITEE).await;
    invited(&app, &other, &second, INVITEE).await;
    let r = invite(&app, &owner, &first, INVITEE, "member").await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, 429, "rate_limited").await;
    assert_eq!(app.rows("invitations").await, 2);
    // Another phone is not held back.
    invited(&app, &owner, &first, STRANGER).await;
    for _ in 0..50 {
        if app.outbox(INVITEE).await.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.outbox(INVITEE).await.len(), 2, "texts to the invited phone");
}

#[tokio::test]
async fn an_admin_opens_an_enterprise_account_for_a_number_without_one() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let path = format!("/api/v1/enterprises/{id}/members");
    let r = app
        .post_as(&owner, &path, json!({ "phone": INVITEE, "display_name": " 王小明 " }))
        .await;
    assert_eq!(r.status(), 201);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["outcome"], "provisioned");
    assert_eq!(
        (added["nature"].as_str(), added["display_name"].as_str()),
        (Some("enterprise"), Some("王小明"))
    );
    let account = added["account_id"].as_str().unwrap().to_owned();
    app.text_containing(INVITEE, "开通企业账号").await;
    assert!(
        !app.at_rest().await.windows(9).any(|w| w == "王小明".as_bytes()),
        "the name is stored plain"
    );
    let shown = member_entry(&app, &owner, &path, &account).await;
    assert_eq!(
        (
            shown["display_name"].as_str(),
            shown["managed"].as_bool(),
            shown["nature"].as_str()
        ),
        (Some("王小明"), Some(true), Some("enterprise"))
    );
    assert_eq!(events_of(&app, &owner, "enterprise.member_provisioned").await, 1);

    // The employee signs in with the phone: that account, enterprise-managed.
    let (employee, signed_in) = app.sign_in(INVITEE).await;
    assert_eq!(signed_in, account);
    assert_eq!(app.json_as(&employee, "/api/v1/whoami").await["nature"], "enterprise");
    let mine = app.json_as(&employee, "/api/v1/enterprises").await;
    assert_eq!(mine["enterprises"][0]["managed"], true);

    // Leaving the enterprise that manages it leaves a personal account that works.
    let r = app
        .post_as(&employee, &format!("/api/v1/enterprises/{id}/leave"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.json_as(&employee, "/api/v1/whoami").await["nature"], "personal");
    assert_eq!(app.security(&employee).await["nature"], "personal");
    assert_eq!(events_of(&app, &employee, "account.nature_changed").await, 1);
}

#[tokio::test]
async fn adding_a_number_that_has_an_account_invites_it_instead() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let (invitee, invitee_id) = app.sign_in(INVITEE).await;
    let path = format!("/api/v1/enterprises/{id}/members");
    let r = app
        .post_as(&owner, &path, json!({ "phone": INVITEE, "display_name": "王小明" }))
        .await;
    assert_eq!(r.status(), 201);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["outcome"], "invited");
    let code = added["invitation"]["code"].as_str().unwrap();
    // Not a member until they accept; then known by the name given, and still personal.
    assert_eq!(app.json_as(&owner, &path).await["members"].as_array().unwrap().len(), 1);
    assert_eq!(answer(&app, &invitee, code, "accept").await.status(), 200);
    let shown = member_entry(&app, &owner, &path, &invitee_id).await;
    assert_eq!(
        (shown["display_name"].as_str(), shown["managed"].as_bool()),
        (Some("王小明"), Some(false))
    );
    assert_eq!(app.json_as(&invitee, "/api/v1/whoami").await["nature"], "personal");
}

#[tokio::test]
async fn only_admins_add_members_and_a_bad_name_adds_no_one() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let path = format!("/api/v1/enterprises/{id}/members");
    let accounts = app.rows("accounts").await;
    for bad in ["", "   ", "a\nb"] {
        let r = app
            .post_as(&owner, &path, json!({ "phone": STRANGER, "display_name": bad }))
            .await;
        assert_error(r, 400, "invalid_display_name").await;
    }
    let r = app
        .post_as(&owner, &path, json!({ "phone": "123", "display_name": "王小明" }))
        .await;
    assert_error(r, 400, "invalid_phone").await;
    let sent = invited(&app, &owner, &id, INVITEE).await;
    let (member, _) = app.sign_in(INVITEE).await;
    assert_eq!(
        answer(&app, &member, sent["code"].as_str().unwrap(), "accept")
            .await
            .status(),
        200
    );
    let r = app
        .post_as(&member, &path, json!({ "phone": STRANGER, "display_name": "王小明" }))
        .await;
    assert_error(r, 403, "enterprise_admin_required").await;
    let (outsider, _) = app.sign_in(ADMIN).await;
    let r = app
        .post_as(&outsider, &path, json!({ "phone": STRANGER, "display_name": "王小明" }))
        .await;
    assert_error(r, 404, "not_found").await;
    assert_eq!(app.rows("accounts").await, accounts + 2, "only the two who signed in");
    assert!(app.outbox(STRANGER).await.is_empty());
}

#[tokio::test]
async fn a_person_change_of_a_managed_account_suspends_its_membership_until_approved() {
    const COMPANY_PHONE: &str = "+8613811110071";
    const NEW_PHONE: &str = "+8613922220072";
    let employee_person = ("张伟", "110101198001011232");
    let new_person = ("陈静", "320102199505052468");
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (owner, _) = app.sign_in(OWNER).await;
    let id = enterprise(&app, &owner).await;
    let members_path = format!("/api/v1/enterprises/{id}/members");
    let r = app
        .post_as(
            &owner,
            &members_path,
            json!({ "phone": COMPANY_PHONE, "display_name": "张伟" }),
        )
        .await;
    let account = r.json::<Value>().await.unwrap()["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The employee signs in and verifies the real name; then moves the
    // account to another person's phone.
    app.add_carrier_person(NEW_PHONE, new_person.0, new_person.1).await;
    let employee = app.verified_account(COMPANY_PHONE, employee_person).await;
    app.step_up(&employee, COMPANY_PHONE).await;
    let r = app.prove_phone_change(&employee, NEW_PHONE, new_person).await;
    assert_eq!(r.status(), 200);
    let preview: Value = r.json().await.unwrap();
    // The preview says it all before the confirm.
    assert_eq!(
        (preview["person_changes"].as_bool(), preview["nature_after"].as_str()),
        (Some(true), Some("personal"))
    );
    assert_eq!(
        preview["enterprise_effects"],
        json!([{ "enterprise_id": id, "enterprise_name": "示例科技", "person_changed": true,
                  "suspended": true, "managed_after": false }])
    );
    let r = app.accept(&employee, "/api/v1/account/phone/change/confirm").await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.json_as(&employee, "/api/v1/whoami").await["nature"], "personal");

    // Flagged and suspended in the enterprise: it sees it, and nothing more.
    let mine = app.json_as(&employee, &format!("/api/v1/enterprises/{id}")).await;
    assert_eq!(
        (mine["suspended"].as_bool(), mine["managed"].as_bool()),
        (Some(true), Some(false))
    );
    let r = app.get_as(&employee, &members_path).await;
    assert_error(r, 403, "membership_suspended").await;
    assert_eq!(events_of(&app, &employee, "enterprise.member_person_changed").await, 1);
    let entry = member_entry(&app, &owner, &members_path, &account).await;
    assert_eq!(entry["flags"], json!(["person_changed", "suspended"]));
    assert_eq!(
        (entry["nature"].as_str(), entry["managed"].as_bool()),
        (Some("personal"), Some(false))
    );

    // An admin approves the member again: the flags go, access comes back.
    let approve = format!("/api/v1/enterprises/{id}/members/{account}/approve");
    let r = app
        .post_as(&employee, &approve.replace(&account, "acc_someone"), json!({}))
        .await;
    assert_error(r, 403, "membership_suspended").await;
    let r = app.post_as(&owner, &approve, json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "approved": true }));
    assert_eq!(app.get_as(&employee, &members_path).await.status(), 200);
    let entry = member_entry(&app, &owner, &members_path, &account).await;
    assert_eq!(entry["flags"], json!([]));
    assert_eq!(events_of(&app, &owner, "enterprise.member_approved").await, 1);
}
