//! Phone sign-in ("验证码登录即注册") and its SMS codes, over HTTP.

use crate::helpers::{error_code, spawn_app, spawn_app_with};
use serde_json::{json, Value};

const PHONE: &str = "+8613912345678";

#[tokio::test]
async fn a_code_signs_in_and_an_unknown_number_gets_a_personal_account() {
    let app = spawn_app().await;
    let resp = app.send_code(PHONE).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "expires_in": 300, "resend_after": 60 }));
    let code = app.latest_code(PHONE).await;

    let resp = app.login(PHONE, &code).await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("shiming_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    assert!(cookie.contains(token));

    // The session works by bearer token and by cookie alike.
    let who = app.json_as(token, "/api/v1/whoami").await;
    assert_eq!(
        who,
        json!({ "account_id": body["account_id"], "nature": "personal", "state": "active" })
    );
    let by_cookie = app
        .http
        .get(app.url("/api/v1/whoami"))
        .header("Cookie", format!("other=1; shiming_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);

    // A resend inside the cool-down is refused.
    let (status, code) = error_code(app.send_code(PHONE).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (429, "rate_limited"));
    app.stop().await;
}

#[tokio::test]
async fn signing_in_again_reaches_the_same_account() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (first_token, first) = app.sign_in(PHONE).await;
    let (second_token, second) = app.sign_in(PHONE).await;
    assert_eq!(first, second);
    assert_ne!(first_token, second_token, "each sign-in is its own session");
    let (_, other) = app.sign_in("+8613700000009").await;
    assert_ne!(first, other);
    app.stop().await;
}

#[tokio::test]
async fn closed_registration_refuses_unknown_numbers() {
    let app = spawn_app_with(|c| c.registration.open = false).await;
    assert_eq!(app.send_code(PHONE).await.status(), 202);
    let code = app.latest_code(PHONE).await;
    let (status, err) = error_code(app.login(PHONE, &code).await).await;
    assert_eq!((status.as_u16(), err.as_str()), (403, "registration_closed"));
    app.stop().await;
}

/// The one answer an anonymous caller gets for every failed sign-in code.
async fn refused(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap().to_owned(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn five_wrong_tries_burn_the_code() {
    let app = spawn_app().await;
    app.send_code(PHONE).await;
    let real = app.latest_code(PHONE).await;
    let wrong = if real == "000000" { "111111" } else { "000000" };
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(refused(app.login(PHONE, wrong).await).await);
    }
    assert_eq!(answers[0].0, 400);
    assert_eq!(answers[0].1, "code_incorrect");
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "no answer tells how many tries are left: {answers:?}"
    );
    assert_eq!(
        refused(app.login(PHONE, &real).await).await,
        answers[0],
        "the burnt code no longer works"
    );
    app.stop().await;
}

#[tokio::test]
async fn whether_a_code_is_waiting_is_not_told() {
    let app = spawn_app().await;
    let waiting = "+8613700000031";
    let idle = "+8613700000032";
    app.send_code(waiting).await;
    let real = app.latest_code(waiting).await;
    let wrong = if real == "000000" { "111111" } else { "000000" };
    let with_code = refused(app.login(waiting, wrong).await).await;
    let without = refused(app.login(idle, wrong).await).await;
    assert_eq!(with_code, without, "a live code and none answer alike");
    assert!(!with_code.2.contains("tries left"), "{}", with_code.2);
    app.stop().await;
}

#[tokio::test]
async fn failed_code_tries_are_capped_per_client_address() {
    let app = spawn_app_with(|c| c.sms.failed_tries_per_ip_per_hour = 3).await;
    app.send_code(PHONE).await;
    let real = app.latest_code(PHONE).await;
    let wrong = if real == "000000" { "111111" } else { "000000" };
    // Two failures, then a success: a try that matched is given back.
    for phone in ["+8613700000041", "+8613700000042"] {
        assert_eq!(refused(app.login(phone, wrong).await).await.0, 400);
    }
    assert_eq!(app.login(PHONE, &real).await.status(), 200);
    assert_eq!(refused(app.login("+8613700000043", wrong).await).await.0, 400);
    // The fourth failure of this address, across phones: refused before any code is looked at.
    let resp = app.login("+8613700000044", wrong).await;
    let retry_after: i64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(
        error_code(resp).await,
        (reqwest::StatusCode::TOO_MANY_REQUESTS, "rate_limited".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_parallel_burst_of_wrong_tries_cannot_exceed_the_limit() {
    let app = spawn_app().await;
    app.send_code(PHONE).await;
    let real = app.latest_code(PHONE).await;
    let wrong = if real == "000000" { "111111" } else { "000000" };
    let answers = futures::future::join_all((0..20).map(|_| app.login(PHONE, wrong))).await;
    for r in answers {
        assert_eq!(error_code(r).await.1, "code_incorrect");
    }
    assert_eq!(
        error_code(app.login(PHONE, &real).await).await.1,
        "code_incorrect",
        "the burst burnt the code: at most five of its tries were compared"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_code_works_once_and_only_the_newest_works() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    app.send_code(PHONE).await;
    let first = app.latest_code(PHONE).await;
    app.send_code(PHONE).await;
    let second = app.latest_code(PHONE).await;
    if first != second {
        assert_eq!(
            error_code(app.login(PHONE, &first).await).await.1,
            "code_incorrect",
            "a superseded code"
        );
    }
    assert_eq!(app.login(PHONE, &second).await.status(), 200);
    assert_eq!(
        error_code(app.login(PHONE, &second).await).await.1,
        "code_incorrect",
        "a used code"
    );
    app.stop().await;
}

#[tokio::test]
async fn codes_expire_after_five_minutes() {
    let app = spawn_app().await;
    let late = "+8613700000051";
    app.send_code(PHONE).await;
    app.send_code(late).await;
    let (in_time, too_late) = (app.latest_code(PHONE).await, app.latest_code(late).await);
    app.advance(299);
    assert_eq!(app.login(PHONE, &in_time).await.status(), 200, "a code works for 300 s");
    app.advance(1);
    assert_eq!(
        error_code(app.login(late, &too_late).await).await,
        (reqwest::StatusCode::BAD_REQUEST, "code_incorrect".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn the_hourly_cap_per_phone_frees_a_slot_an_hour_after_each_code() {
    // The development default: 20 sign-in codes per phone in any hour.
    let app = spawn_app().await;
    let first = app.clock.now();
    for _ in 0..20 {
        assert_eq!(app.send_code(PHONE).await.status(), 202);
        app.advance(60);
    }
    let resp = app.send_code(PHONE).await;
    let wait = first + 3_600 - app.clock.now();
    assert_eq!(resp.headers()["retry-after"], wait.to_string().as_str());
    assert_eq!(error_code(resp).await.1, "rate_limited");
    app.advance(wait);
    assert_eq!(app.send_code(PHONE).await.status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn a_resend_waits_exactly_the_cool_down() {
    let app = spawn_app().await;
    assert_eq!(app.send_code(PHONE).await.status(), 202);
    app.advance(45);
    let resp = app.send_code(PHONE).await;
    assert_eq!(resp.headers()["retry-after"], "15");
    assert_eq!(error_code(resp).await.1, "rate_limited");
    app.advance(15);
    assert_eq!(app.send_code(PHONE).await.status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn resend_cool_down_and_hourly_caps() {
    let app = spawn_app().await;
    assert_eq!(app.send_code(PHONE).await.status(), 202);
    let resp = app.send_code(PHONE).await;
    assert_eq!(resp.status(), 429);
    let retry: i64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(app.outbox(PHONE).await.len(), 1, "a refused send sends nothing");
    app.stop().await;

    let app = spawn_app_with(|c| {
        c.sms.resend_after_secs = 0;
        c.sms.per_phone_per_hour = 2;
        c.sms.per_ip_per_hour = 3;
    })
    .await;
    assert_eq!(app.send_code(PHONE).await.status(), 202);
    assert_eq!(app.send_code(PHONE).await.status(), 202);
    let (status, code) = error_code(app.send_code(PHONE).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (429, "rate_limited"), "per-phone cap");
    assert_eq!(app.send_code("+8613700000001").await.status(), 202);
    let resp = app.send_code("+8613700000002").await;
    assert_eq!(resp.status(), 429, "per-address cap");
    assert!(resp.headers().contains_key("retry-after"));
    assert!(app.outbox("+8613700000002").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_typed_errors_and_changes_nothing() {
    let app = spawn_app().await;
    let cases = [
        (json!({ "phone": "12", "purpose": "login" }), "invalid_phone"),
        (
            json!({ "phone": "+8612912345678", "purpose": "login" }),
            "invalid_phone",
        ),
        (json!({ "phone": PHONE, "purpose": "steal" }), "invalid_request"),
        (json!({ "phone": PHONE, "purpose": "step_up" }), "invalid_request"),
        (json!({ "phone": PHONE, "purpose": "phone_change" }), "invalid_request"),
        (json!({ "phone": PHONE }), "invalid_request"),
        (
            json!({ "phone": 13912345678u64, "purpose": "login" }),
            "invalid_request",
        ),
    ];
    for (body, want) in cases {
        let (status, code) = error_code(app.post("/api/v1/sms/send", body.clone()).await).await;
        assert_eq!((status.as_u16(), code.as_str()), (400, want), "{body}");
    }
    let malformed = app
        .http
        .post(app.url("/api/v1/login/phone"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(malformed).await,
        (reqwest::StatusCode::BAD_REQUEST, "invalid_json".into())
    );
    let no_type = app
        .http
        .post(app.url("/api/v1/login/phone"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(no_type).await.1, "invalid_json");
    assert_eq!(error_code(app.login(PHONE, "12ab56").await).await.1, "invalid_code");
    let huge = json!({ "phone": PHONE, "code": "1".repeat(70_000) });
    let (status, code) = error_code(app.post("/api/v1/login/phone", huge).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (413, "payload_too_large"));
    assert_eq!(
        error_code(app.login(PHONE, "123456").await).await.1,
        "code_incorrect",
        "no code was ever sent"
    );
    assert!(app.outbox(PHONE).await.is_empty());
    let (status, code) = error_code(app.http.get(app.url("/api/v1/nothing-here")).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "not_found"));
    let (status, code) = error_code(app.http.get(app.url("/api/v1/login/phone")).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), code.as_str()), (405, "method_not_allowed"));
    app.stop().await;
}

#[tokio::test]
async fn a_failing_sms_gateway_sends_no_usable_code() {
    // A gateway address nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sms", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(|c| {
        c.sms.sender = shiming_server::config::SmsSenderKind::Webhook;
        c.sms.webhook = Some(shiming_providers::sms::WebhookConfig {
            url,
            bearer_token: None,
            timeout_ms: 500,
            retries: 1,
        });
    })
    .await;
    let (status, code) = error_code(app.send_code(PHONE).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (502, "sms_delivery_failed"));
    // The failed send took no cool-down: trying again reaches the gateway again.
    assert_eq!(error_code(app.send_code(PHONE).await).await.1, "sms_delivery_failed");
    // Nothing usable was left behind: any code is refused as "no code waiting".
    assert_eq!(error_code(app.login(PHONE, "123456").await).await.1, "code_incorrect");
    app.stop().await;
}

#[tokio::test]
async fn the_per_address_cap_follows_the_configured_proxy_header() {
    let app = spawn_app_with(|c| {
        c.http.client_ip_header = Some("X-Forwarded-For".into());
        c.sms.per_ip_per_hour = 1;
        c.sms.resend_after_secs = 0;
    })
    .await;
    let send = |phone: &'static str, forwarded: &'static str| {
        app.http
            .post(app.url("/api/v1/sms/send"))
            .header("X-Forwarded-For", forwarded)
            .json(&json!({ "phone": phone, "purpose": "login" }))
            .send()
    };
    // The proxy appends the client it saw last: that entry counts, not what the client claimed.
    assert_eq!(
        send("+8613700000001", "10.9.9.9, 192.0.2.1").await.unwrap().status(),
        202
    );
    assert_eq!(
        send("+8613700000002", "10.8.8.8, 192.0.2.1").await.unwrap().status(),
        429
    );
    assert_eq!(send("+8613700000003", "192.0.2.2").await.unwrap().status(), 202);
    app.stop().await;
}
