//! Phone real-name verification through the development carrier over HTTP,
//! and the Account & Security view.

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};

const PHONE: &str = "+8613700001111";
const NAME: &str = "欧阳明";
const ID: &str = "110105199003071239";
const OTHER_ID: &str = "320102199505052468";

async fn verify(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post_as(token, "/api/v1/account/real-name/phone", body).await
}

#[tokio::test]
async fn a_carrier_match_verifies_the_account_and_the_view_is_masked() {
    let app = spawn_app().await;
    let (token, account) = app.sign_in(PHONE).await;
    let sec = app.security(&token).await;
    assert_eq!(sec["account_id"], account.as_str());
    assert_eq!(sec["nature"], "personal");
    assert_eq!(sec["state"], "active");
    assert_eq!(
        sec["real_name"],
        json!({ "status": "unverified", "name_masked": null, "id_number_masked": null, "source": null, "verified_at": null })
    );
    assert_eq!(sec["phone"]["number_masked"], "137****1111");
    assert!(sec["phone"]["bound_at"].is_string());
    assert_eq!(sec["wechat"], Value::Null);
    assert_eq!(sec["sessions"], 1);

    app.add_carrier_person(PHONE, NAME, ID).await;
    let resp = verify(&app, &token, json!({ "name": NAME, "id_number": ID, "consent": true })).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["outcome"], "verified");

    let sec = app.security(&token).await;
    let rn = &sec["real_name"];
    assert_eq!(rn["status"], "verified");
    assert_eq!(rn["name_masked"], "**明");
    assert_eq!(rn["id_number_masked"], "1****************9");
    assert_eq!(rn["source"], "phone");
    assert!(rn["verified_at"].is_string());
    let text = sec.to_string();
    for plain in [NAME, ID, "13700001111", &ID[6..14]] {
        assert!(!text.contains(plain), "{plain} in {text}");
    }

    app.stop().await;
}

#[tokio::test]
async fn a_verified_account_answers_every_submission_alike_and_each_counts() {
    let app = spawn_app_with(|c| c.realname.checks_per_account_per_day = 4).await;
    let (token, _) = app.sign_in(PHONE).await;
    app.add_carrier_person(PHONE, NAME, ID).await;
    let same = json!({ "name": NAME, "id_number": ID, "consent": true });
    assert_eq!(verify(&app, &token, same.clone()).await.status(), 200);
    // The right person and a wrong one answer alike: no oracle for the ID number.
    let answer = |resp: reqwest::Response| async move {
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap()["error"].clone())
    };
    let right = answer(verify(&app, &token, same.clone()).await).await;
    let wrong = answer(
        verify(
            &app,
            &token,
            json!({ "name": "李四", "id_number": OTHER_ID, "consent": true }),
        )
        .await,
    )
    .await;
    assert_eq!(right, wrong);
    assert_eq!(
        (right.0, right.1["code"].as_str()),
        (409, Some("realname_not_editable"))
    );
    // Every one of them counted: the fifth request of the day is refused.
    assert_eq!(verify(&app, &token, same.clone()).await.status(), 409);
    let (status, code) = error_code(verify(&app, &token, same).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (429, "rate_limited"));
    app.stop().await;
}

#[tokio::test]
async fn consent_and_valid_input_come_first() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(PHONE).await;
    app.add_carrier_person(PHONE, NAME, ID).await;
    let bad_checksum = format!("{}0", &ID[..17]);
    let cases = [
        (json!({ "name": NAME, "id_number": ID }), "consent_required"),
        (
            json!({ "name": NAME, "id_number": ID, "consent": false }),
            "consent_required",
        ),
        (
            json!({ "name": NAME, "id_number": bad_checksum, "consent": true }),
            "invalid_id_number",
        ),
        (
            json!({ "name": NAME, "id_number": "110105199002301236", "consent": true }),
            "invalid_id_number",
        ),
        (json!({ "name": "", "id_number": ID, "consent": true }), "invalid_name"),
        (
            json!({ "name": "明2", "id_number": ID, "consent": true }),
            "invalid_name",
        ),
        (json!({ "name": NAME, "consent": true }), "invalid_request"),
    ];
    for (body, want) in cases {
        let (status, code) = error_code(verify(&app, &token, body.clone()).await).await;
        assert_eq!((status.as_u16(), code.as_str()), (400, want), "{body}");
    }
    assert_eq!(app.security(&token).await["real_name"]["status"], "unverified");
    let (status, code) = error_code(
        app.post(
            "/api/v1/account/real-name/phone",
            json!({ "name": NAME, "id_number": ID, "consent": true }),
        )
        .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (401, "unauthenticated"));
    app.stop().await;
}

#[tokio::test]
async fn a_mismatch_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(PHONE).await;
    app.add_carrier_person(PHONE, NAME, ID).await;
    let (status, code) = error_code(
        verify(
            &app,
            &token,
            json!({ "name": "李四", "id_number": OTHER_ID, "consent": true }),
        )
        .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (422, "realname_mismatch"));
    // A phone the carrier has no record of is a mismatch too.
    let (other, _) = app.sign_in("+8613700002222").await;
    assert_eq!(
        error_code(verify(&app, &other, json!({ "name": NAME, "id_number": ID, "consent": true })).await)
            .await
            .1,
        "realname_mismatch"
    );
    assert_eq!(app.security(&token).await["real_name"]["status"], "unverified");
    app.stop().await;
}

#[tokio::test]
async fn a_verified_real_name_cannot_be_edited() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(PHONE).await;
    app.add_carrier_person(PHONE, NAME, ID).await;
    assert_eq!(
        verify(&app, &token, json!({ "name": NAME, "id_number": ID, "consent": true }))
            .await
            .status(),
        200
    );
    // Even a carrier that would match the new person is not asked: a broken
    // carrier proves no call is made.
    app.add_carrier_person(PHONE, "李四", OTHER_ID).await;
    app.carrier_fault("error").await;
    let resp = verify(
        &app,
        &token,
        json!({ "name": "李四", "id_number": OTHER_ID, "consent": true }),
    )
    .await;
    assert_eq!(resp.status(), 409);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "realname_not_editable");
    assert!(body["error"]["message"].as_str().unwrap().contains("rebinding"));
    assert_eq!(app.security(&token).await["real_name"]["name_masked"], "**明");
    app.stop().await;
}

#[tokio::test]
async fn a_failing_or_hanging_carrier_is_a_clear_error_and_changes_nothing() {
    let app = spawn_app_with(|c| c.realname.timeout_ms = 300).await;
    let (token, _) = app.sign_in(PHONE).await;
    app.add_carrier_person(PHONE, NAME, ID).await;
    let body = json!({ "name": NAME, "id_number": ID, "consent": true });
    for fault in ["error", "hang"] {
        app.carrier_fault(fault).await;
        let (status, code) = error_code(verify(&app, &token, body.clone()).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (503, "verifier_unavailable"),
            "{fault}"
        );
        assert_eq!(app.security(&token).await["real_name"]["status"], "unverified");
    }
    app.carrier_fault("none").await;
    assert_eq!(verify(&app, &token, body).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn carrier_checks_are_capped_per_account_and_day() {
    let app = spawn_app_with(|c| c.realname.checks_per_account_per_day = 2).await;
    let (token, _) = app.sign_in(PHONE).await;
    let wrong = json!({ "name": "李四", "id_number": OTHER_ID, "consent": true });
    for _ in 0..2 {
        assert_eq!(
            error_code(verify(&app, &token, wrong.clone()).await).await.1,
            "realname_mismatch"
        );
    }
    let resp = verify(&app, &token, wrong).await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(resp).await,
        (reqwest::StatusCode::TOO_MANY_REQUESTS, "rate_limited".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn the_documented_test_persons_verify() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in("+8613800000001").await;
    assert_eq!(
        verify(
            &app,
            &token,
            json!({ "name": "张三", "id_number": "110101199003076632", "consent": true })
        )
        .await
        .status(),
        200
    );
    assert_eq!(app.security(&token).await["real_name"]["name_masked"], "*三");
    app.stop().await;
}
