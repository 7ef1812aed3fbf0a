//! Every documented rule and error code, asserted in every flow that can
//! answer it, and refusals that change nothing.

use serde_json::{json, Value};

use crate::helpers::{assert_error, assert_unchanged, id_number, spawn_app, spawn_app_with, Browser, TestApp};

const PHONE: &str = "+8613711110001";
const NEW_PHONE: &str = "+8613722220002";
const BIND: &str = "/api/v1/wechat/bind/start";
const REBIND: &str = "/api/v1/account/wechat/rebind/start";
const WECHAT_STEP_UP: &str = "/api/v1/step-up/wechat/start";

fn a() -> (&'static str, String) {
    ("张伟", id_number("11010119800101123"))
}

fn b() -> (&'static str, String) {
    ("陈静", id_number("32010219950505246"))
}

async fn browser_of(app: &TestApp, token: &str) -> Browser {
    let mut b = app.browser();
    b.token = Some(token.to_owned());
    b
}

/// A verified account on PHONE, stepped up, with a WeChat bound and a phone
/// change to NEW_PHONE proven and waiting for its confirm.
async fn account_mid_change(app: &TestApp) -> (String, String, String) {
    let (na, ia) = a();
    let (nb, ib) = b();
    let token = app.verified_account(PHONE, (na, &ia)).await;
    app.add_carrier_person(NEW_PHONE, nb, &ib).await;
    app.step_up(&token, PHONE).await;
    let wx = app.add_wechat_user("zw", Some((na, &ia))).await;
    let bound = browser_of(app, &token).await.round_trip(BIND, &wx).await;
    assert_eq!(bound.status(), 200);
    let r = app.prove_phone_change(&token, NEW_PHONE, (nb, &ib)).await;
    assert_eq!(r.status(), 200);
    let account = app.security(&token).await["account_id"].as_str().unwrap().to_owned();
    (token, account, wx)
}

#[tokio::test]
async fn frozen_banned_and_deleted_accounts_are_refused_everywhere() {
    for state in ["frozen", "banned", "deleted"] {
        let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
        let (token, account, wx) = account_mid_change(&app).await;
        let before = app.snapshot(&token).await;
        app.set_state(&account, state).await;
        // A frozen account's sessions still say who they are and are refused
        // every change; a banned or deleted account's sessions end.
        let (status, code) = if state == "frozen" {
            (403, "account_restricted")
        } else {
            (401, "unauthenticated")
        };
        let whoami = app.get_as(&token, "/api/v1/whoami").await;
        if state == "frozen" {
            assert_eq!(whoami.json::<Value>().await.unwrap()["state"], "frozen");
        } else {
            assert_error(whoami, 401, "unauthenticated").await;
        }
        let (na, ia) = a();
        let real_name = json!({ "name": na, "id_number": ia, "consent": true });
        assert_error(
            app.post_as(&token, "/api/v1/account/real-name/phone", real_name).await,
            status,
            code,
        )
        .await;
        assert_error(
            app.post_as(&token, "/api/v1/step-up/sms", json!({})).await,
            status,
            code,
        )
        .await;
        let b = browser_of(&app, &token).await;
        for start in [BIND, REBIND, WECHAT_STEP_UP] {
            assert_error(b.get(start, true).await, status, code).await;
        }
        for (path, body) in [
            ("/api/v1/account/phone/change/verify", json!({ "code": "000000" })),
            (
                "/api/v1/account/phone/change/confirm",
                json!({ "accept_consequences": true }),
            ),
            ("/api/v1/account/wechat/unbind", json!({ "accept_consequences": true })),
        ] {
            assert_error(app.post_as(&token, path, body).await, status, code).await;
        }
        // Signing in again is refused whatever the credential.
        app.send_code(PHONE).await;
        let code_now = app.latest_code(PHONE).await;
        assert_error(app.login(PHONE, &code_now).await, 403, "account_restricted").await;
        assert_error(
            app.browser().round_trip("/api/v1/wechat/login/start", &wx).await,
            403,
            "account_restricted",
        )
        .await;
        app.set_state(&account, "active").await;
        // Nothing changed but the state, there and back, which is audited.
        let mut after = app.snapshot(&token).await;
        let events = after["/api/v1/account/audit"]["events"].as_array_mut().unwrap();
        let changes = events.len();
        events.retain(|e| e["type"] != "account.state_changed");
        assert_eq!(changes - events.len(), 2, "{state} and back to active");
        assert_unchanged(&before, &after);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_wechat_only_account_has_no_phone_to_verify() {
    let app = spawn_app().await;
    let signed: Value = app
        .browser()
        .round_trip("/api/v1/wechat/login/start", "dev-union-anon")
        .await
        .json()
        .await
        .unwrap();
    let (na, ia) = a();
    let r = app
        .post_as(
            signed["token"].as_str().unwrap(),
            "/api/v1/account/real-name/phone",
            json!({ "name": na, "id_number": ia, "consent": true }),
        )
        .await;
    assert_error(r, 409, "no_phone_bound").await;
    app.stop().await;
}

#[tokio::test]
async fn damaged_data_is_an_internal_error_that_tells_nothing() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(PHONE).await;
    let raw = app.raw().await;
    raw.exec(&format!(
        "UPDATE credentials SET value_sealed = {}",
        raw.blob(&[0x01, 0xde, 0xad, 0xbe, 0xef])
    ))
    .await;
    let resp = app.get_as(&token, "/api/v1/account/security").await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "error": { "code": "internal", "message": "something went wrong on our side" } })
    );
    app.stop().await;
}

#[tokio::test]
async fn a_service_without_wechat_says_so() {
    // Outside dev, WeChat is on only with an app id and secret.
    let data = tempfile::TempDir::new().unwrap();
    let mut config = shiming_server::Config::production();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = data.path().to_path_buf();
    config.secrets.encryption_key = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    config.secrets.pepper = Some("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into());
    config.realname.base_url = Some("http://127.0.0.1:9".into());
    config.sms.webhook = Some(shiming_providers::sms::WebhookConfig {
        url: "http://127.0.0.1:9/sms".into(),
        bearer_token: None,
        timeout_ms: 500,
        retries: 0,
    });
    let running = shiming_server::start(config).await.expect("the service starts");
    for path in ["/api/v1/wechat/login/start", "/api/v1/wechat/callback?code=c&state=s"] {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", running.url()))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_error(resp, 404, "wechat_not_configured").await;
    }
    running.shutdown().await;
}

/// Four wrong tries tell how many are left, the fifth burns the code, and the
/// right code then finds nothing waiting: for a signed-in session's own codes.
async fn burn(app: &TestApp, token: &str, path: &str, real: &str) {
    let wrong = if real == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        let resp = app.post_as(token, path, json!({ "code": wrong })).await;
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "code_incorrect");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{left} tries left")));
    }
    assert_error(
        app.post_as(token, path, json!({ "code": wrong })).await,
        429,
        "too_many_attempts",
    )
    .await;
    assert_error(
        app.post_as(token, path, json!({ "code": real })).await,
        400,
        "code_expired",
    )
    .await;
}

#[tokio::test]
async fn step_up_and_phone_change_codes_count_wrong_tries_and_burn() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let ((na, ia), (nb, ib)) = (a(), b());
    let token = app.verified_account(PHONE, (na, &ia)).await;
    app.add_carrier_person(NEW_PHONE, nb, &ib).await;
    assert_eq!(
        app.post_as(&token, "/api/v1/step-up/sms", json!({})).await.status(),
        202
    );
    let real = app.latest_code(PHONE).await;
    burn(&app, &token, "/api/v1/step-up/verify", &real).await;

    app.step_up(&token, PHONE).await;
    let body = json!({ "new_phone": NEW_PHONE, "name": nb, "id_number": ib, "consent": true });
    assert_eq!(
        app.post_as(&token, "/api/v1/account/phone/change", body).await.status(),
        202
    );
    let real = app.latest_code(NEW_PHONE).await;
    burn(&app, &token, "/api/v1/account/phone/change/verify", &real).await;
    app.stop().await;
}

#[tokio::test]
async fn wechat_round_trips_and_step_up_texts_are_rate_limited() {
    let app = spawn_app_with(|c| {
        c.wechat.starts_per_ip_per_hour = 2;
        c.sms.security_per_phone_per_hour = 2;
        c.sms.resend_after_secs = 0;
    })
    .await;
    let b = app.browser();
    for _ in 0..2 {
        assert_eq!(b.get("/api/v1/wechat/login/start", false).await.status(), 302);
    }
    let resp = b.get("/api/v1/wechat/login/start", true).await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_error(resp, 429, "rate_limited").await;

    let (token, _) = app.sign_in(PHONE).await;
    for _ in 0..2 {
        assert_eq!(
            app.post_as(&token, "/api/v1/step-up/sms", json!({})).await.status(),
            202
        );
    }
    assert_error(
        app.post_as(&token, "/api/v1/step-up/sms", json!({})).await,
        429,
        "rate_limited",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_carrier_outage_during_a_phone_change_changes_nothing() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let ((na, ia), (nb, ib)) = (a(), b());
    let token = app.verified_account(PHONE, (na, &ia)).await;
    app.add_carrier_person(NEW_PHONE, nb, &ib).await;
    app.step_up(&token, PHONE).await;
    let body = json!({ "new_phone": NEW_PHONE, "name": nb, "id_number": ib, "consent": true });
    assert_eq!(
        app.post_as(&token, "/api/v1/account/phone/change", body).await.status(),
        202
    );
    let code = app.latest_code(NEW_PHONE).await;
    let before = app.snapshot(&token).await;
    app.carrier_fault("error").await;
    let r = app
        .post_as(&token, "/api/v1/account/phone/change/verify", json!({ "code": code }))
        .await;
    assert_error(r, 503, "verifier_unavailable").await;
    assert_unchanged(&before, &app.snapshot(&token).await);
    assert_error(
        app.accept(&token, "/api/v1/account/phone/change/confirm").await,
        410,
        "flow_expired",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_rebind_or_step_up_round_trip_finishes_only_in_its_session() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (na, ia) = a();
    let (token, _, bound) = account_mid_change(&app).await;
    let (other, _) = app.sign_in(PHONE).await;
    let wx2 = app.add_wechat_user("other", Some((na, &ia))).await;
    for (start, unionid) in [(REBIND, wx2.as_str()), (WECHAT_STEP_UP, bound.as_str())] {
        let mut b = browser_of(&app, &token).await;
        let callback = b.approve(start, unionid).await;
        b.token = Some(other.clone());
        assert_error(b.get(&callback, true).await, 400, "oauth_state_invalid").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn rebind_limits_apply_at_the_callback_and_the_unbind_with_exact_waits() {
    // The production cool-down: a day between rebinds.
    let app = spawn_app_with(|c| {
        c.sms.resend_after_secs = 0;
        c.rebind.cooldown_secs = 86_400;
    })
    .await;
    let (na, ia) = a();
    let (token, _, _) = account_mid_change(&app).await;
    let r = app.accept(&token, "/api/v1/account/phone/change/confirm").await;
    assert_eq!(r.status(), 200);
    app.advance(100);
    let wx2 = app.add_wechat_user("other", Some((na, &ia))).await;
    let resp = browser_of(&app, &token).await.round_trip(REBIND, &wx2).await;
    assert_eq!(resp.headers()["retry-after"], (86_400 - 100).to_string().as_str());
    assert_error(resp, 429, "rebind_limit").await;
    let unbind = || app.accept(&token, "/api/v1/account/wechat/unbind");
    let resp = unbind().await;
    assert_eq!(resp.headers()["retry-after"], (86_400 - 100).to_string().as_str());
    assert_error(resp, 429, "rebind_limit").await;
    app.advance(86_400 - 100);
    app.step_up(&token, NEW_PHONE).await;
    assert_eq!(unbind().await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_yearly_cap_of_two_person_changes_holds_until_the_first_is_a_year_old() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let people: Vec<(String, String, String)> = (0..4)
        .map(|i| {
            (
                format!("+86137333300{i:02}"),
                ["张伟", "陈静", "李娜", "王芳"][i].to_owned(),
                id_number(&format!("4403061985111145{i}")),
            )
        })
        .collect();
    for (phone, name, id) in &people {
        app.add_carrier_person(phone, name, id).await;
    }
    let token = app.verified_account(&people[0].0, (&people[0].1, &people[0].2)).await;
    let change = |i: usize| {
        let (app, token, people) = (&app, &token, &people);
        async move {
            let (phone, name, id) = &people[i];
            app.step_up(token, &people[i - 1].0).await;
            app.post_as(
                token,
                "/api/v1/account/phone/change",
                json!({ "new_phone": phone, "name": name, "id_number": id, "consent": true }),
            )
            .await
        }
    };
    let first = app.clock.now();
    for (i, (phone, _, _)) in people.iter().enumerate().take(3).skip(1) {
        assert_eq!(change(i).await.status(), 202);
        let code = app.latest_code(phone).await;
        let r = app
            .post_as(&token, "/api/v1/account/phone/change/verify", json!({ "code": code }))
            .await;
        assert_eq!(r.json::<Value>().await.unwrap()["person_changes"], true);
        let r = app.accept(&token, "/api/v1/account/phone/change/confirm").await;
        assert_eq!(r.status(), 200);
        app.advance(1_000);
    }
    let resp = change(3).await;
    let year = 365 * 86_400;
    let wait = first + year - app.clock.now();
    assert_eq!(resp.headers()["retry-after"], wait.to_string().as_str());
    assert_error(resp, 429, "rebind_limit").await;
    app.advance(wait);
    // A year on the session is long over: sign in again with the phone bound now.
    let (fresh, _) = app.sign_in(&people[2].0).await;
    app.step_up(&fresh, &people[2].0).await;
    let (phone, name, id) = &people[3];
    let r = app
        .post_as(
            &fresh,
            "/api/v1/account/phone/change",
            json!({ "new_phone": phone, "name": name, "id_number": id, "consent": true }),
        )
        .await;
    assert_eq!(r.status(), 202, "the first change is a year old: room for another");
    app.stop().await;
}

#[tokio::test]
async fn an_enterprise_account_becomes_personal_only_when_its_person_changes() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let ((na, ia), (nb, ib)) = (a(), b());
    let token = app.verified_account(PHONE, (na, &ia)).await;
    let account = app.security(&token).await["account_id"].as_str().unwrap().to_owned();
    app.raw()
        .await
        .exec(&format!(
            "UPDATE accounts SET nature = 'enterprise' WHERE id = '{account}'"
        ))
        .await;
    // The same person's other phone: the account stays the enterprise's.
    let same = "+8613744440004";
    app.add_carrier_person(same, na, &ia).await;
    app.add_carrier_person(NEW_PHONE, nb, &ib).await;
    for (from, to, person, nature) in [
        (PHONE, same, (na, &ia), "enterprise"),
        (same, NEW_PHONE, (nb, &ib), "personal"),
    ] {
        app.step_up(&token, from).await;
        let preview: Value = app
            .prove_phone_change(&token, to, (person.0, person.1))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(preview["nature_after"], nature);
        let r = app.accept(&token, "/api/v1/account/phone/change/confirm").await;
        assert_eq!(r.json::<Value>().await.unwrap()["nature"], nature);
        assert_eq!(
            app.get_as(&token, "/api/v1/whoami")
                .await
                .json::<Value>()
                .await
                .unwrap()["nature"],
            nature
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_bearer_token_wins_over_the_session_cookie() {
    let app = spawn_app().await;
    let b = app.browser();
    let by_wechat: Value = b
        .round_trip("/api/v1/wechat/login/start", "dev-union-anon")
        .await
        .json()
        .await
        .unwrap();
    let (token, by_phone) = app.sign_in(PHONE).await;
    assert_ne!(by_wechat["account_id"], by_phone);
    let cookie_only: Value = b.get("/api/v1/whoami", true).await.json().await.unwrap();
    assert_eq!(cookie_only["account_id"], by_wechat["account_id"]);
    let both: Value = b
        .http
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(both["account_id"], by_phone.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_request_past_its_time_limit_answers_408() {
    let app = spawn_app_with(|c| {
        c.http.request_timeout_secs = 1;
        c.realname.timeout_ms = 10_000;
    })
    .await;
    let (token, _) = app.sign_in(PHONE).await;
    app.carrier_fault("hang").await;
    let (na, ia) = a();
    let r = app
        .post_as(
            &token,
            "/api/v1/account/real-name/phone",
            json!({ "name": na, "id_number": ia, "consent": true }),
        )
        .await;
    assert_eq!(r.status(), 408);
    app.carrier_fault("none").await;
    app.stop().await;
}

#[tokio::test]
async fn readiness_follows_the_database() {
    let app = spawn_app().await;
    let ready = || app.http.get(app.url("/readyz")).send();
    assert_eq!(ready().await.unwrap().status(), 200);
    let db = app.raw().await;
    db.exec("ALTER TABLE audit_head RENAME TO audit_head_away").await;
    let resp = ready().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "status": "unavailable", "database": "unreachable" })
    );
    assert_eq!(
        app.http.get(app.url("/healthz")).send().await.unwrap().status(),
        200,
        "alive all the same"
    );
    db.exec("ALTER TABLE audit_head_away RENAME TO audit_head").await;
    assert_eq!(ready().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_sweeper_removes_what_expired_while_the_service_was_down() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(PHONE).await;
    app.send_code(NEW_PHONE).await;
    assert_eq!((app.rows("sessions").await, app.rows("sms_codes").await), (1, 2));
    // Thirty days later the session and both codes are over; the sweeper,
    // which runs at start and every ten minutes, deletes them.
    let app = app.restart_after(30 * 86_400).await;
    for _ in 0..100 {
        if app.rows("sessions").await == 0 && app.rows("sms_codes").await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!((app.rows("sessions").await, app.rows("sms_codes").await), (0, 0));
    assert_error(app.get_as(&token, "/api/v1/whoami").await, 401, "unauthenticated").await;
    app.stop().await;
}
