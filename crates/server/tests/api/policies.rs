//! Enterprise policies (#18): real name required to join and to act
//! there, each decided in the write's own transaction, the owner never kept
//! out; and the members list as admins see it: each member's real-name
//! status and masked name, and the filters, an admin's alone where they
//! name what only admins see.

use serde_json::{json, Value};

use crate::helpers::{assert_error, enterprise, id_number, spawn_app, TestApp};

const OWNER: &str = "+8613900000031";
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
    let r = app
        .post_as(
            &admin,
            &format!("/api/v1/enterprises/{id}/members"),
            json!({ "phone": INVITEE, "display_name": "王五" }),
        )
        .await;
    let managed = r.json::<Value>().await.unwrap()["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
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
