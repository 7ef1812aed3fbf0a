//! WeChat sign-in and binding end to end over real HTTP against the
//! development WeChat server: the real OAuth round trip, state handling,
//! every errcode, outages, and the real-name that follows.

use crate::helpers::{error_code, outcomes, spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};

const LOGIN: &str = "/api/v1/wechat/login/start";
const BIND: &str = "/api/v1/wechat/bind/start";
const ZHANG: (&str, &str) = ("张三", "110101199003076632");

#[tokio::test]
async fn sign_in_creates_a_verified_account_and_finds_it_again() {
    let app = spawn_app().await;
    let b = app.browser();
    let resp = b.round_trip(LOGIN, "dev-union-zhangsan").await;
    assert_eq!(resp.status(), 200);
    let first: Value = resp.json().await.unwrap();
    assert_eq!(first["created"], true);
    let sec = b.security().await;
    assert_eq!(sec["account_id"], first["account_id"]);
    assert_eq!(sec["real_name"]["status"], "verified");
    assert_eq!(sec["real_name"]["source"], "wechat");
    assert_eq!(sec["real_name"]["name_masked"], "*三");
    assert_eq!(sec["wechat"]["nickname"], "张三的微信");
    assert_eq!(sec["wechat"]["unionid_masked"], "dev-**********gsan");
    assert!(sec["phone"].is_null());
    assert!(!sec.to_string().contains("dev-union-zhangsan"));

    let again = app.browser();
    let second: Value = again
        .round_trip(LOGIN, "dev-union-zhangsan")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (second["account_id"].clone(), second["created"].clone()),
        (first["account_id"].clone(), json!(false))
    );
    // An identity without a real-name claim signs in unverified.
    let anon = app.browser();
    assert_eq!(anon.round_trip(LOGIN, "dev-union-anon").await.status(), 200);
    assert_eq!(anon.security().await["real_name"]["status"], "unverified");
    app.stop().await;
}

#[tokio::test]
async fn a_browser_ends_on_a_page() {
    let app = spawn_app().await;
    let b = app.browser();
    let callback = b.approve(LOGIN, "dev-union-lisi").await;
    let resp = b.get(&callback, false).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/wechat/done?outcome=signed_in");
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("shiming_session="));
    let page = b
        .get("/wechat/done?outcome=signed_in", false)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("已使用微信登录"));
    assert_eq!(
        b.get("/api/v1/whoami", false).await.status(),
        200,
        "the cookie signs the browser in"
    );
    // A refusal at WeChat comes back with only the state.
    let resp = b.get(LOGIN, false).await;
    let authorize = resp.headers()["location"].to_str().unwrap().to_owned();
    let back = b.get(&format!("{authorize}&dev_deny=1"), false).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let resp = b.get(&back, false).await;
    assert_eq!(resp.headers()["location"], "/wechat/done?error=wechat_denied");
    app.stop().await;
}

#[tokio::test]
async fn state_is_single_use_bound_to_the_browser_and_short_lived() {
    let app = spawn_app().await;
    let b = app.browser();
    let callback = b.approve(LOGIN, "dev-union-zhangsan").await;
    assert_eq!(b.get(&callback, true).await.status(), 200);
    // Replayed: the same callback again.
    assert_eq!(error_code(b.get(&callback, true).await).await.1, "oauth_state_invalid");

    // Carried to another browser: refused, and that browser is not signed in.
    let callback = b.approve(LOGIN, "dev-union-zhangsan").await;
    let thief = app.browser();
    assert_eq!(
        error_code(thief.get(&callback, true).await).await.1,
        "oauth_state_invalid"
    );
    assert_eq!(thief.get("/api/v1/whoami", true).await.status(), 401);
    // ...and the thief's attempt did not use it up for its owner.
    assert_eq!(b.get(&callback, true).await.status(), 200);

    // Tampered or missing state.
    let callback = b.approve(LOGIN, "dev-union-zhangsan").await;
    assert_eq!(
        error_code(b.get(&callback.replace("state=", "state=x"), true).await)
            .await
            .1,
        "oauth_state_invalid"
    );
    let no_state = callback.split("&state=").next().unwrap().to_owned();
    assert_eq!(error_code(b.get(&no_state, true).await).await.1, "oauth_state_invalid");

    // Expired: a round trip lasts ten minutes.
    let callback = b.approve(LOGIN, "dev-union-zhangsan").await;
    app.advance(600);
    let (status, code) = error_code(b.get(&callback, true).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "oauth_state_invalid"));
    app.stop().await;
}

/// Starts a flow and approves it, then swaps in `code` from another approval.
async fn callback_with_code(b: &crate::helpers::Browser, unionid: &str, code_from: &str) -> String {
    let fresh = b.approve(LOGIN, unionid).await;
    let code = code_from.split("code=").nth(1).unwrap().split('&').next().unwrap();
    let fresh_code = fresh
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    fresh.replace(&fresh_code, code)
}

#[tokio::test]
async fn a_reused_code_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let b = app.browser();
    let first = b.approve(LOGIN, "dev-union-lisi").await;
    assert_eq!(b.get(&first, true).await.status(), 200);
    let before = (
        app.rows("accounts").await,
        app.rows("sessions").await,
        app.rows("audit_events").await,
    );
    // A fresh state carrying the used code: WeChat answers 40163.
    let reuse = callback_with_code(&b, "dev-union-lisi", &first).await;
    let (status, code) = error_code(b.get(&reuse, true).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "wechat_code_invalid"));
    let after = (
        app.rows("accounts").await,
        app.rows("sessions").await,
        app.rows("audit_events").await,
    );
    assert_eq!(before, after, "no account, session or event came of it");
    app.stop().await;
}

async fn assert_fault(app: &TestApp, fault: Value, status: u16, code: &str) {
    app.wechat_fault(Some(fault.clone())).await;
    let b = app.browser();
    let (got_status, got) = error_code(b.round_trip(LOGIN, "dev-union-wangfang").await).await;
    assert_eq!((got_status.as_u16(), got.as_str()), (status, code), "{fault}");
    assert_eq!(b.get("/api/v1/whoami", true).await.status(), 401, "{fault}");
    app.wechat_fault(None).await;
}

#[tokio::test]
async fn every_errcode_and_outage_is_a_clear_error_and_creates_nothing() {
    let app = spawn_app_with(|c| c.wechat.timeout_ms = 400).await;
    for errcode in [40029, 40163, 42003] {
        assert_fault(
            &app,
            json!({ "endpoint": "access_token", "errcode": errcode }),
            400,
            "wechat_code_invalid",
        )
        .await;
    }
    assert_fault(
        &app,
        json!({ "endpoint": "access_token", "errcode": 40001 }),
        503,
        "wechat_unavailable",
    )
    .await;
    assert_fault(
        &app,
        json!({ "endpoint": "userinfo", "errcode": 40014 }),
        503,
        "wechat_unavailable",
    )
    .await;
    assert_fault(
        &app,
        json!({ "endpoint": "userinfo", "errcode": 48001 }),
        403,
        "wechat_scope_not_granted",
    )
    .await;
    assert_fault(
        &app,
        json!({ "endpoint": "realname", "errcode": 40014 }),
        503,
        "wechat_unavailable",
    )
    .await;
    assert_fault(
        &app,
        json!({ "endpoint": "access_token", "hang": true }),
        503,
        "wechat_unavailable",
    )
    .await;
    assert_fault(
        &app,
        json!({ "endpoint": "realname", "hang": true }),
        503,
        "wechat_unavailable",
    )
    .await;
    // None of those created the account: the first good sign-in does.
    let b = app.browser();
    let ok: Value = b.round_trip(LOGIN, "dev-union-wangfang").await.json().await.unwrap();
    assert_eq!(ok["created"], true);
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_wechat_endpoint_is_a_clear_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/sns/realname", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(|c| c.wechat.realname_url = Some(dead)).await;
    let b = app.browser();
    let (status, code) = error_code(b.round_trip(LOGIN, "dev-union-lisi").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (503, "wechat_unavailable"));
    assert_eq!(b.get("/api/v1/whoami", true).await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn unknown_identities_can_be_told_to_sign_in_by_phone_first() {
    let app = spawn_app_with(|c| c.wechat.create_accounts = false).await;
    let (status, code) = error_code(app.browser().round_trip(LOGIN, "dev-union-lisi").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "wechat_not_bound"));
    app.stop().await;
    let app = spawn_app_with(|c| c.registration.open = false).await;
    assert_eq!(
        error_code(app.browser().round_trip(LOGIN, "dev-union-lisi").await)
            .await
            .1,
        "registration_closed"
    );
    app.stop().await;
}

/// A browser signed in by phone.
/// A browser signed in by phone, stepped up: binding a credential needs it.
async fn phone_browser(app: &TestApp, phone: &str) -> crate::helpers::Browser {
    let (token, _) = app.sign_in(phone).await;
    app.step_up(&token, phone).await;
    let mut b = app.browser();
    b.token = Some(token);
    b
}

#[tokio::test]
async fn binding_derives_the_real_name_with_wechat_first() {
    let app = spawn_app().await;
    // Same person on both: verified, from WeChat.
    let same = phone_browser(&app, "+8613800000001").await;
    let (token, _) = (same.token.clone().unwrap(), ());
    assert_eq!(
        app.post_as(
            &token,
            "/api/v1/account/real-name/phone",
            json!({ "name": ZHANG.0, "id_number": ZHANG.1, "consent": true })
        )
        .await
        .status(),
        200
    );
    let resp = same.round_trip(BIND, "dev-union-zhangsan").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "outcome": "bound", "bound": "wechat" })
    );
    let sec = same.security().await;
    assert_eq!(
        (sec["real_name"]["status"].clone(), sec["real_name"]["source"].clone()),
        (json!("verified"), json!("wechat"))
    );
    assert_eq!(sec["wechat"]["nickname"], "张三的微信");

    // A phone of one person beside a WeChat of another: another person comes
    // in, so the bind is a rebind, confirmed after its preview; then
    // inconsistent, WeChat shown.
    let mixed = phone_browser(&app, "+8613800000002").await;
    let person = json!({ "name": "李四", "id_number": "310115198506124828", "consent": true });
    let token = mixed.token.clone().unwrap();
    assert_eq!(
        app.post_as(&token, "/api/v1/account/real-name/phone", person)
            .await
            .status(),
        200
    );
    let preview: Value = mixed.round_trip(BIND, "dev-union-wangfang").await.json().await.unwrap();
    assert_eq!(preview["outcome"], "rebind_ready");
    assert_eq!(preview["status_after"], "inconsistent");
    assert_eq!(
        app.accept(&token, "/api/v1/account/wechat/rebind/confirm")
            .await
            .status(),
        200
    );
    let rn = mixed.security().await["real_name"].clone();
    assert_eq!(
        (rn["status"].clone(), rn["name_masked"].clone()),
        (json!("inconsistent"), json!("*芳"))
    );

    // An unverified WeChat leaves an unverified phone account unverified.
    let plain = phone_browser(&app, "+8613700000009").await;
    assert_eq!(plain.round_trip(BIND, "dev-union-anon").await.status(), 200);
    let sec = plain.security().await;
    assert_eq!(sec["real_name"]["status"], "unverified");
    assert_eq!(sec["wechat"]["nickname"], "路人甲");

    // Signing in with the bound WeChat reaches the phone account.
    let via_wechat = app.browser();
    let signed: Value = via_wechat
        .round_trip(LOGIN, "dev-union-anon")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signed["account_id"], sec["account_id"]);
    app.stop().await;
}

#[tokio::test]
async fn binding_refuses_identities_bound_elsewhere_and_second_wechats() {
    let app = spawn_app().await;
    let owner = app.browser();
    assert_eq!(owner.round_trip(LOGIN, "dev-union-lisi").await.status(), 200);

    let other = phone_browser(&app, "+8613700000001").await;
    let (status, code) = error_code(other.round_trip(BIND, "dev-union-lisi").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "credential_in_use"));
    assert!(other.security().await["wechat"].is_null());
    // In a browser: a redirect carrying the error.
    let callback = other.approve(BIND, "dev-union-lisi").await;
    assert_eq!(
        other.get(&callback, false).await.headers()["location"],
        "/wechat/done?error=credential_in_use"
    );

    // Two binds started before either finished: the first commit ends the
    // account's other round trips, so the second is over.
    let first = other.approve(BIND, "dev-union-anon").await;
    let second = other.approve(BIND, "dev-union-wangfang").await;
    assert_eq!(other.get(&first, true).await.status(), 200);
    assert_eq!(
        error_code(other.get(&second, true).await).await.1,
        "oauth_state_invalid"
    );
    let (status, code) = error_code(other.get(BIND, true).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "already_bound"));
    assert_eq!(other.security().await["wechat"]["nickname"], "路人甲");

    // Binding needs a session, and finishes only in the account that started it.
    assert_eq!(
        error_code(app.browser().get(BIND, true).await).await.1,
        "unauthenticated"
    );
    let mut shared = phone_browser(&app, "+8613700000002").await;
    let callback = shared.approve(BIND, "dev-union-wangfang").await;
    let (intruder, _) = app.sign_in("+8613700000003").await;
    shared.token = Some(intruder);
    assert_eq!(
        error_code(shared.get(&callback, true).await).await.1,
        "oauth_state_invalid"
    );
    app.stop().await;
}

#[tokio::test]
async fn two_accounts_racing_for_one_identity_have_one_winner() {
    let app = spawn_app().await;
    let unionid = app.add_wechat_user("race", Some(ZHANG)).await;
    let a = phone_browser(&app, "+8613700000011").await;
    let b = phone_browser(&app, "+8613700000012").await;
    let (ca, cb) = (a.approve(BIND, &unionid).await, b.approve(BIND, &unionid).await);
    let (ra, rb) = tokio::join!(a.get(&ca, true), b.get(&cb, true));
    assert_eq!(
        outcomes(ra, rb).await,
        [(200, String::new()), (409, "credential_in_use".into())]
    );
    let bound = [
        a.security().await["wechat"].is_object(),
        b.security().await["wechat"].is_object(),
    ];
    assert_eq!(bound.iter().filter(|x| **x).count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn silent_in_wechat_sign_in_needs_no_userinfo() {
    let app =
        spawn_app_with(|c| c.wechat.authorize_mode = shiming_providers::wechat::AuthorizeMode::InWechatBase).await;
    let b = app.browser();
    let resp = b.get(LOGIN, false).await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("/connect/oauth2/authorize?")
            && location.contains("scope=snsapi_base")
            && location.ends_with("#wechat_redirect")
    );
    let authorize = location.trim_end_matches("#wechat_redirect");
    let callback = b
        .get(&format!("{authorize}&dev_user=dev-union-zhangsan"), false)
        .await
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(b.get(&callback, true).await.status(), 200);
    let sec = b.security().await;
    assert!(sec["wechat"]["nickname"].is_null());
    assert_eq!(sec["real_name"]["status"], "verified");
    app.stop().await;
}
