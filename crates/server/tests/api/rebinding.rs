//! Rebinding the phone, end to end over HTTP: step-up, the three steps of a
//! change, its rules, limits, races, and what follows a commit.

use std::time::Duration;

use crate::helpers::{error_code, events_of, id_number as id, outcomes, spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};

const A_PHONE: &str = "+8613811110001";
const B_PHONE: &str = "+8613922220002";
const A: (&str, &str) = ("张伟", "110101198001011232");
const B: (&str, &str) = ("陈静", "320102199505052468");

/// An account on A's phone, verified as A; returns its token.
async fn verified_account(app: &TestApp) -> String {
    app.add_carrier_person(B_PHONE, B.0, B.1).await;
    app.verified_account(A_PHONE, A).await
}

async fn step_up(app: &TestApp, token: &str, phone: &str) {
    app.step_up(token, phone).await;
}

#[tokio::test]
async fn changing_the_phone_to_another_persons_moves_the_real_name() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let me = verified_account(&app).await;
    let (other_session, account) = app.sign_in(A_PHONE).await;

    // Nothing without a step-up.
    let body = json!({ "new_phone": B_PHONE, "name": B.0, "id_number": B.1, "consent": true });
    let (status, code) = error_code(app.post_as(&me, "/api/v1/account/phone/change", body.clone()).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "step_up_required"));
    step_up(&app, &me, A_PHONE).await;

    // A phone the carrier does not confirm for the person given.
    let (status, code) = error_code(app.prove_phone_change(&me, "+8613633330003", B).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (422, "credential_not_verified"));

    let resp = app.prove_phone_change(&me, B_PHONE, B).await;
    assert_eq!(resp.status(), 200);
    let preview: Value = resp.json().await.unwrap();
    assert_eq!(preview["person_changes"], true);
    assert_eq!(preview["status_after"], "verified");
    assert_eq!(preview["real_name_after"]["name_masked"], "*静");
    assert_eq!(preview["nature_after"], "personal");
    assert_eq!(preview["stops_signing_in"], json!(["phone 138****0001"]));
    assert_eq!(preview["sessions_revoked"], 1);
    assert!(preview["expires_at"].is_string());

    let (status, code) = error_code(
        app.post_as(&me, "/api/v1/account/phone/change/confirm", json!({}))
            .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "consequences_not_accepted"));
    let told = app.outbox(A_PHONE).await.len();
    let done: Value = app
        .accept(&me, "/api/v1/account/phone/change/confirm")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["sessions_revoked"], 1);

    let sec = app.security(&me).await;
    assert_eq!(sec["phone"]["number_masked"], "139****0002");
    assert_eq!(sec["real_name"]["status"], "verified");
    assert_eq!(sec["real_name"]["name_masked"], "*静");
    assert_eq!(
        app.get_as(&other_session, "/api/v1/whoami").await.status(),
        401,
        "other sessions are revoked"
    );
    assert_eq!(
        app.get_as(&me, "/api/v1/whoami").await.status(),
        200,
        "the confirming session stays"
    );

    // The old phone is told; the new one too.
    let mut waited = 0;
    while app.outbox(A_PHONE).await.len() <= told {
        assert!(waited < 100, "no notice to the old phone");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert!(app.outbox(A_PHONE).await[0]["text"]
        .as_str()
        .unwrap()
        .contains("unbound"));

    // The old phone no longer reaches the account: it signs in to a new one.
    let (_, fresh) = app.sign_in(A_PHONE).await;
    assert_ne!(fresh, account);

    // Audited, without plain personal data.
    let audit: Value = app.get_as(&me, "/api/v1/account/audit").await.json().await.unwrap();
    let text = audit.to_string();
    for kind in ["credential.rebound", "realname.changed", "session.stepped_up"] {
        assert!(text.contains(kind), "{kind} missing from {text}");
    }
    for plain in [B.0, B.1, &B_PHONE[3..], A.0, &A_PHONE[3..]] {
        assert!(!text.contains(plain), "{plain} in the audit");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_change_follows_its_rules() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let me = verified_account(&app).await;
    step_up(&app, &me, A_PHONE).await;
    let change = |body: Value| app.post_as(&me, "/api/v1/account/phone/change", body);
    let cases = [
        (
            json!({ "new_phone": B_PHONE, "name": B.0, "id_number": B.1 }),
            400,
            "consent_required",
        ),
        (
            json!({ "new_phone": B_PHONE, "name": B.0, "consent": true }),
            400,
            "person_incomplete",
        ),
        (json!({ "new_phone": "12", "consent": true }), 400, "invalid_phone"),
        (json!({ "new_phone": A_PHONE, "consent": true }), 409, "no_change"),
    ];
    for (body, status, code) in cases {
        assert_eq!(
            error_code(change(body.clone()).await).await,
            (reqwest::StatusCode::from_u16(status).unwrap(), code.to_owned()),
            "{body}"
        );
    }
    // A phone bound to another account: said only once its code proves possession.
    app.sign_in("+8613700000001").await;
    assert_eq!(
        change(json!({ "new_phone": "+8613700000001", "consent": true }))
            .await
            .status(),
        202
    );
    let code = app.latest_code("+8613700000001").await;
    let r = app
        .post_as(&me, "/api/v1/account/phone/change/verify", json!({ "code": code }))
        .await;
    assert_eq!(
        error_code(r).await,
        (reqwest::StatusCode::CONFLICT, "credential_in_use".into())
    );

    // Confirming before the proof, and twice.
    let r = change(json!({ "new_phone": B_PHONE, "name": B.0, "id_number": B.1, "consent": true })).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        error_code(app.accept(&me, "/api/v1/account/phone/change/confirm").await)
            .await
            .1,
        "flow_expired"
    );
    let code = app.latest_code(B_PHONE).await;
    assert_eq!(
        app.post_as(&me, "/api/v1/account/phone/change/verify", json!({ "code": code }))
            .await
            .status(),
        200
    );
    // Another session of the same account, stepped up too, cannot confirm this session's change.
    let (other, _) = app.sign_in(A_PHONE).await;
    step_up(&app, &other, A_PHONE).await;
    assert_eq!(
        error_code(app.accept(&other, "/api/v1/account/phone/change/confirm").await)
            .await
            .1,
        "flow_expired"
    );
    let (first, second) = tokio::join!(
        app.accept(&me, "/api/v1/account/phone/change/confirm"),
        app.accept(&me, "/api/v1/account/phone/change/confirm")
    );
    assert_eq!(
        outcomes(first, second).await,
        [(200, String::new()), (410, "flow_expired".into())],
        "a double-submitted confirm commits once"
    );
    assert_eq!(events_of(&app, &me, "credential.rebound").await, 1);
    let notices: Value = app.notices(&me).await;
    assert_eq!(notices["notices"].as_array().unwrap().len(), 1, "one account notice");
    app.text_containing(B_PHONE, "本号码已绑定").await;
    let texts = app.outbox(B_PHONE).await;
    assert_eq!(
        texts
            .iter()
            .filter(|m| m["text"].as_str().unwrap().contains("本号码已绑定"))
            .count(),
        1,
        "one text to the new phone"
    );
    app.stop().await;
}

#[tokio::test]
async fn no_person_given_checks_the_current_one() {
    let app = spawn_app().await;
    let me = verified_account(&app).await;
    // A's second phone.
    app.add_carrier_person("+8613811110009", A.0, A.1).await;
    step_up(&app, &me, A_PHONE).await;
    let r = app
        .post_as(
            &me,
            "/api/v1/account/phone/change",
            json!({ "new_phone": "+8613811110009", "consent": true }),
        )
        .await;
    assert_eq!(r.status(), 202);
    let code = app.latest_code("+8613811110009").await;
    let preview: Value = app
        .post_as(&me, "/api/v1/account/phone/change/verify", json!({ "code": code }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (preview["person_changes"].clone(), preview["nature_after"].clone()),
        (json!(false), json!("personal"))
    );
    assert_eq!(
        app.accept(&me, "/api/v1/account/phone/change/confirm").await.status(),
        200
    );
    assert_eq!(app.security(&me).await["real_name"]["name_masked"], "*伟");
    app.stop().await;
}

#[tokio::test]
async fn step_ups_last_ten_minutes_and_changes_fifteen() {
    let app = spawn_app().await;
    let me = verified_account(&app).await;
    let r = app
        .post_as(&me, "/api/v1/step-up/verify", json!({ "code": "000000" }))
        .await;
    assert_eq!(error_code(r).await.1, "code_expired", "no step-up code was sent");
    step_up(&app, &me, A_PHONE).await;
    let body = json!({ "new_phone": B_PHONE, "name": B.0, "id_number": B.1, "consent": true });
    assert_eq!(
        app.post_as(&me, "/api/v1/account/phone/change", body).await.status(),
        202
    );
    // The step-up privileges the session for 600 s: then nothing goes on.
    app.advance(600);
    let r = app
        .post_as(&me, "/api/v1/account/phone/change/verify", json!({ "code": "000000" }))
        .await;
    assert_eq!(
        error_code(r).await,
        (reqwest::StatusCode::FORBIDDEN, "step_up_required".into())
    );
    // Stepped up again, the change itself is over at 900 s.
    step_up(&app, &me, A_PHONE).await;
    app.advance(300);
    let r = app
        .post_as(&me, "/api/v1/account/phone/change/verify", json!({ "code": "000000" }))
        .await;
    assert_eq!(error_code(r).await, (reqwest::StatusCode::GONE, "flow_expired".into()));
    app.stop().await;
}

#[tokio::test]
async fn person_changes_are_capped_and_rebinds_cool_down() {
    let app = spawn_app_with(|c| c.rebind.max_person_changes_per_year = 1).await;
    let me = verified_account(&app).await;
    step_up(&app, &me, A_PHONE).await;
    assert_eq!(app.prove_phone_change(&me, B_PHONE, B).await.status(), 200);
    assert_eq!(
        app.accept(&me, "/api/v1/account/phone/change/confirm").await.status(),
        200
    );
    let c = ("李娜", id("44030619851111456"));
    app.add_carrier_person("+8613955550005", c.0, &c.1).await;
    let r = app
        .post_as(
            &me,
            "/api/v1/account/phone/change",
            json!({ "new_phone": "+8613955550005", "name": c.0, "id_number": c.1, "consent": true }),
        )
        .await;
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(r).await,
        (reqwest::StatusCode::TOO_MANY_REQUESTS, "rebind_limit".into())
    );
    app.stop().await;

    let app = spawn_app_with(|c| c.rebind.cooldown_secs = 3600).await;
    let me = verified_account(&app).await;
    step_up(&app, &me, A_PHONE).await;
    assert_eq!(app.prove_phone_change(&me, B_PHONE, B).await.status(), 200);
    assert_eq!(
        app.accept(&me, "/api/v1/account/phone/change/confirm").await.status(),
        200
    );
    let r = app
        .post_as(
            &me,
            "/api/v1/account/phone/change",
            json!({ "new_phone": A_PHONE, "name": A.0, "id_number": A.1, "consent": true }),
        )
        .await;
    assert_eq!(error_code(r).await.1, "rebind_limit");
    app.stop().await;
}

#[tokio::test]
async fn two_accounts_racing_for_one_new_phone_have_one_winner() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let target = "+8613966660006";
    app.add_carrier_person(target, B.0, B.1).await;
    let mut tokens = Vec::new();
    for phone in ["+8613700000071", "+8613700000072"] {
        let (t, _) = app.sign_in(phone).await;
        step_up(&app, &t, phone).await;
        assert_eq!(app.prove_phone_change(&t, target, B).await.status(), 200);
        tokens.push(t);
    }
    // The second start consumed the first code only; both changes are proven.
    let (r1, r2) = tokio::join!(
        app.accept(&tokens[0], "/api/v1/account/phone/change/confirm"),
        app.accept(&tokens[1], "/api/v1/account/phone/change/confirm")
    );
    assert_eq!(
        outcomes(r1, r2).await,
        [(200, String::new()), (409, "credential_in_use".into())]
    );
    let rebound = events_of(&app, &tokens[0], "credential.rebound").await
        + events_of(&app, &tokens[1], "credential.rebound").await;
    assert_eq!(rebound, 1);
    let holders = [app.security(&tokens[0]).await, app.security(&tokens[1]).await]
        .iter()
        .filter(|s| s["phone"]["number_masked"] == "139****0006")
        .count();
    assert_eq!(holders, 1);
    app.stop().await;
}

#[tokio::test]
async fn an_account_without_a_phone_steps_up_by_wechat() {
    let app = spawn_app().await;
    let b = app.browser();
    assert_eq!(
        b.round_trip("/api/v1/wechat/login/start", "dev-union-lisi")
            .await
            .status(),
        200
    );
    let resp = b
        .http
        .post(format!("{}/api/v1/step-up/sms", app.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "step_up_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("WeChat"));
    // Another WeChat identity does not step up this account.
    let (status, code) = error_code(b.round_trip("/api/v1/step-up/wechat/start", "dev-union-anon").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "wrong_identity"));
    let resp = b.round_trip("/api/v1/step-up/wechat/start", "dev-union-lisi").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<Value>().await.unwrap()["step_up_until"].is_string());
    // The only credential cannot go.
    let r = b
        .http
        .post(format!("{}/api/v1/account/wechat/unbind", app.base))
        .json(&json!({ "accept_consequences": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (reqwest::StatusCode::CONFLICT, "last_credential".into())
    );
    // Its preview says so too.
    let r = b
        .http
        .get(format!("{}/api/v1/account/wechat/unbind", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (reqwest::StatusCode::CONFLICT, "last_credential".into())
    );
    app.stop().await;
}

/// An account on A's phone, verified as A, with A's WeChat bound: a browser signed in to it.
async fn phone_and_wechat_of_a(app: &TestApp) -> (crate::helpers::Browser, String) {
    let token = verified_account(app).await;
    let wa = app.add_wechat_user("zw", Some((A.0, A.1))).await;
    let mut b = app.browser();
    b.token = Some(token.clone());
    step_up(app, &token, A_PHONE).await;
    assert_eq!(b.round_trip("/api/v1/wechat/bind/start", &wa).await.status(), 200);
    (b, wa)
}

#[tokio::test]
async fn the_whole_procedure_phone_then_wechat() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (me, wa) = phone_and_wechat_of_a(&app).await;
    let token = me.token.clone().unwrap();
    let account = app.security(&token).await["account_id"].clone();
    let wb = app.add_wechat_user("cj", Some(B)).await;

    // No rebind or unbind of WeChat without a step-up (a session that never stepped up).
    let (fresh, _) = app.sign_in(A_PHONE).await;
    let mut unprivileged = app.browser();
    unprivileged.token = Some(fresh.clone());
    assert_eq!(
        error_code(unprivileged.get("/api/v1/account/wechat/rebind/start", true).await)
            .await
            .1,
        "step_up_required"
    );
    let r = app.accept(&fresh, "/api/v1/account/wechat/unbind").await;
    assert_eq!(error_code(r).await.1, "step_up_required");
    step_up(&app, &token, A_PHONE).await;

    // The phone to B's: B's phone beside A's WeChat is inconsistent.
    let preview: Value = app.prove_phone_change(&token, B_PHONE, B).await.json().await.unwrap();
    assert_eq!(
        (preview["person_changes"].clone(), preview["status_after"].clone()),
        (json!(true), json!("inconsistent"))
    );
    assert_eq!(
        app.accept(&token, "/api/v1/account/phone/change/confirm")
            .await
            .status(),
        200
    );
    assert_eq!(app.security(&token).await["real_name"]["status"], "inconsistent");

    // WeChat: an identity without a real-name claim, the same one, one bound elsewhere.
    let (status, code) = error_code(
        me.round_trip("/api/v1/account/wechat/rebind/start", "dev-union-anon")
            .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (422, "credential_not_verified"));
    assert_eq!(
        error_code(me.round_trip("/api/v1/account/wechat/rebind/start", &wa).await)
            .await
            .1,
        "no_change"
    );
    let elsewhere = app.browser();
    assert_eq!(
        elsewhere
            .round_trip("/api/v1/wechat/login/start", "dev-union-wangfang")
            .await
            .status(),
        200
    );
    assert_eq!(
        error_code(
            me.round_trip("/api/v1/account/wechat/rebind/start", "dev-union-wangfang")
                .await
        )
        .await
        .1,
        "credential_in_use"
    );

    // B's WeChat: the preview, read again, then confirmed.
    let resp = me.round_trip("/api/v1/account/wechat/rebind/start", &wb).await;
    assert_eq!(resp.status(), 200);
    let mut preview: Value = resp.json().await.unwrap();
    assert_eq!(preview["outcome"], "rebind_ready");
    preview.as_object_mut().unwrap().remove("outcome");
    assert_eq!(preview["status_after"], "verified");
    assert_eq!(preview["real_name_after"]["name_masked"], "*静");
    assert_eq!(
        me.get("/api/v1/account/wechat/rebind", true)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        preview
    );
    let r = app
        .post_as(&token, "/api/v1/account/wechat/rebind/confirm", json!({}))
        .await;
    assert_eq!(error_code(r).await.1, "consequences_not_accepted");
    let r = app.accept(&token, "/api/v1/account/wechat/rebind/confirm").await;
    assert_eq!(r.status(), 200);
    let sec = app.security(&token).await;
    assert_eq!(
        (
            sec["real_name"]["status"].clone(),
            sec["real_name"]["name_masked"].clone()
        ),
        (json!("verified"), json!("*静"))
    );
    assert_eq!(sec["wechat"]["nickname"], "cj");
    let r = app.accept(&token, "/api/v1/account/wechat/rebind/confirm").await;
    assert_eq!(error_code(r).await.1, "flow_expired", "a confirmed change is used up");

    // The old WeChat signs in to a new account, not this one.
    let old = app.browser();
    let signed: Value = old
        .round_trip("/api/v1/wechat/login/start", &wa)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(signed["account_id"], account);
    assert_eq!(signed["created"], true);

    let audit = app
        .get_as(&token, "/api/v1/account/audit")
        .await
        .json::<Value>()
        .await
        .unwrap()
        .to_string();
    assert_eq!(audit.matches("credential.rebound").count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn unbinding_wechat_lets_the_phone_carry_the_real_name() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let token = verified_account(&app).await;
    let mut me = app.browser();
    me.token = Some(token.clone());
    let wb = app.add_wechat_user("cj", Some(B)).await;
    // Binding any WeChat needs a step-up.
    let (status, code) = error_code(me.get("/api/v1/wechat/bind/start", true).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "step_up_required"));
    assert!(app.security(&token).await["wechat"].is_null());
    step_up(&app, &token, A_PHONE).await;
    // A first WeChat of another person changes the real name: a rebind in every
    // respect, pending until confirmed.
    let preview: Value = me
        .round_trip("/api/v1/wechat/bind/start", &wb)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (preview["outcome"].clone(), preview["person_changes"].clone()),
        (json!("rebind_ready"), json!(true))
    );
    assert!(
        app.security(&token).await["wechat"].is_null(),
        "nothing changes before the confirm"
    );
    let r = app.accept(&token, "/api/v1/account/wechat/rebind/confirm").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sec = app.security(&token).await;
    assert_eq!(
        (sec["real_name"]["status"].clone(), sec["nature"].clone()),
        (json!("inconsistent"), json!("personal"))
    );
    let audit = app.get_as(&token, "/api/v1/account/audit").await.text().await.unwrap();
    assert!(
        audit.contains("credential.bound") && audit.contains("realname.changed"),
        "{audit}"
    );
    // What unbinding would do, before it is done: the phone's person again.
    let consequences = app.json_as(&token, "/api/v1/account/wechat/unbind").await;
    assert_eq!(
        (
            consequences["status_after"].clone(),
            consequences["real_name_after"]["source"].clone(),
            consequences["real_name_after"]["name_masked"].clone(),
            consequences["person_changes"].clone(),
        ),
        (json!("verified"), json!("phone"), json!("*伟"), json!(true)),
        "{consequences}"
    );
    assert!(consequences["stops_signing_in"][0]
        .as_str()
        .unwrap()
        .starts_with("WeChat "));
    assert!(
        app.security(&token).await["wechat"].is_object(),
        "a preview changes nothing"
    );
    let r = app.accept(&token, "/api/v1/account/wechat/unbind").await;
    assert_eq!(r.status(), 200);
    let sec = app.security(&token).await;
    assert!(sec["wechat"].is_null());
    assert_eq!(
        (sec["real_name"]["status"].clone(), sec["real_name"]["source"].clone()),
        (json!("verified"), json!("phone"))
    );
    assert_eq!(sec["real_name"]["name_masked"], "*伟");
    let r = app.accept(&token, "/api/v1/account/wechat/unbind").await;
    assert_eq!(error_code(r).await.1, "no_wechat_bound");
    let r = app.get_as(&token, "/api/v1/account/wechat/unbind").await;
    assert_eq!(error_code(r).await.1, "no_wechat_bound");
    assert!(app
        .get_as(&token, "/api/v1/account/audit")
        .await
        .text()
        .await
        .unwrap()
        .contains("credential.unbound"));
    app.stop().await;
}

#[tokio::test]
async fn frozen_and_banned_accounts_cannot_rebind() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let me = verified_account(&app).await;
    let account = app.security(&me).await["account_id"].as_str().unwrap().to_owned();
    step_up(&app, &me, A_PHONE).await;
    // A step-up-only-by-WeChat account is told about its admin when it has no WeChat.
    let (status, code) = error_code(app.get_as(&me, "/api/v1/step-up/wechat/start").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "step_up_unavailable"));

    app.set_state(&account, "frozen").await;
    let body = json!({ "new_phone": B_PHONE, "name": B.0, "id_number": B.1, "consent": true });
    let (status, code) = error_code(app.post_as(&me, "/api/v1/account/phone/change", body).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "account_restricted"));
    assert_eq!(
        error_code(app.post_as(&me, "/api/v1/step-up/sms", json!({})).await)
            .await
            .1,
        "account_restricted"
    );
    let r = app.accept(&me, "/api/v1/account/wechat/unbind").await;
    assert_eq!(error_code(r).await.1, "account_restricted");

    // A banned account's sessions no longer work at all.
    app.set_state(&account, "banned").await;
    assert_eq!(app.get_as(&me, "/api/v1/whoami").await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_commit_ends_every_other_code_and_round_trip_of_the_account() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (me, wa) = phone_and_wechat_of_a(&app).await;
    let token = me.token.clone().unwrap();
    let wb = app.add_wechat_user("cj", Some(B)).await;
    // Before the commit: a step-up code to the bound phone, which stays bound,
    // a WeChat step-up round trip, and a phone change opened.
    assert_eq!(
        app.post_as(&token, "/api/v1/step-up/sms", json!({})).await.status(),
        202
    );
    let early = app.latest_code(A_PHONE).await;
    let step_up_callback = me.approve("/api/v1/step-up/wechat/start", &wa).await;
    // Then the WeChat rebind commits.
    let r = me.round_trip("/api/v1/account/wechat/rebind/start", &wb).await;
    assert_eq!(r.status(), 200);
    let r = app.accept(&token, "/api/v1/account/wechat/rebind/confirm").await;
    assert_eq!(r.status(), 200);
    // None of them works any more.
    let r = app
        .post_as(&token, "/api/v1/step-up/verify", json!({ "code": early }))
        .await;
    assert_eq!(error_code(r).await.1, "code_expired");
    assert_eq!(
        error_code(me.get(&step_up_callback, true).await).await.1,
        "oauth_state_invalid"
    );
    app.stop().await;
}

#[tokio::test]
async fn unbinding_and_then_verifying_someone_else_does_not_change_the_real_name() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    // A phone account, never carrier-verified, whose WeChat attests A.
    app.add_carrier_person(A_PHONE, B.0, B.1).await;
    let (token, _) = app.sign_in(A_PHONE).await;
    let mut me = app.browser();
    me.token = Some(token.clone());
    let wa = app.add_wechat_user("zw", Some(A)).await;
    step_up(&app, &token, A_PHONE).await;
    assert_eq!(me.round_trip("/api/v1/wechat/bind/start", &wa).await.status(), 200);
    assert_eq!(app.security(&token).await["real_name"]["name_masked"], "*伟");

    let r = app.accept(&token, "/api/v1/account/wechat/unbind").await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.security(&token).await["real_name"]["status"], "unverified");
    // The carrier would confirm B for this phone, but the account's person is A.
    let r = app
        .post_as(
            &token,
            "/api/v1/account/real-name/phone",
            json!({ "name": B.0, "id_number": B.1, "consent": true }),
        )
        .await;
    assert_eq!(
        error_code(r).await,
        (reqwest::StatusCode::CONFLICT, "realname_not_editable".into())
    );
    // A's own verification is still possible where the carrier confirms A.
    assert_eq!(app.security(&token).await["real_name"]["status"], "unverified");
    app.stop().await;
}

#[tokio::test]
async fn a_change_code_is_the_licence_for_one_carrier_check_counted_in_its_use() {
    let app = spawn_app_with(|c| c.realname.checks_per_account_per_day = 1).await;
    app.add_carrier_person(B_PHONE, B.0, B.1).await;
    let (me, _) = app.sign_in(A_PHONE).await;
    step_up(&app, &me, A_PHONE).await;
    let change = || {
        app.post_as(
            &me,
            "/api/v1/account/phone/change",
            json!({ "new_phone": B_PHONE, "name": B.0, "id_number": B.1, "consent": true }),
        )
    };
    let verify = |code: String| app.post_as(&me, "/api/v1/account/phone/change/verify", json!({ "code": code }));
    assert_eq!(change().await.status(), 202);
    let code = app.latest_code(B_PHONE).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(error_code(verify(wrong.into()).await).await.1, "code_incorrect");
    // The wrong try took no check: the day's only one is still there.
    assert_eq!(verify(code.clone()).await.status(), 200);

    // The next code (after the resend cool-down) matches and finds the cap
    // full: refused, and used up.
    app.advance(61);
    assert_eq!(change().await.status(), 202);
    let code = app.latest_code(B_PHONE).await;
    let r = verify(code.clone()).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(r).await,
        (reqwest::StatusCode::TOO_MANY_REQUESTS, "rate_limited".into())
    );
    assert_eq!(error_code(verify(code).await).await.1, "code_expired");
    app.stop().await;
}

#[tokio::test]
async fn a_step_up_code_counts_its_wrong_tries_and_burns_on_the_fifth() {
    let app = spawn_app().await;
    let (me, _) = app.sign_in(A_PHONE).await;
    assert_eq!(app.post_as(&me, "/api/v1/step-up/sms", json!({})).await.status(), 202);
    let real = app.latest_code(A_PHONE).await;
    let wrong = if real == "000000" { "111111" } else { "000000" };
    let verify = |code: &str| app.post_as(&me, "/api/v1/step-up/verify", json!({ "code": code }));
    for _ in 0..4 {
        assert_eq!(error_code(verify(wrong).await).await.1, "code_incorrect");
    }
    assert_eq!(error_code(verify(wrong).await).await.1, "too_many_attempts");
    // The tries were counted though the step-up was refused: the code is burnt.
    assert_eq!(error_code(verify(&real).await).await.1, "code_expired");
    assert_eq!(
        error_code(
            app.post_as(&me, "/api/v1/account/phone/change", json!({ "new_phone": B_PHONE }))
                .await
        )
        .await
        .1,
        "step_up_required"
    );
    app.stop().await;
}
