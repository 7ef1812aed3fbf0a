//! WeChat as WeChat really is: with `wechat.realname = "none"` every WeChat
//! flow calls only WeChat's documented endpoints, and with `city_service` the
//! bound WeChat's real name is verified by WeChat's own check through the
//! mini program's endpoints (`jscode2session`, `stable_token`,
//! `checkrealnameinfo`), all over HTTP against the development WeChat server.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use shiming_server::config::WechatRealName;

use crate::helpers::{assert_error, assert_unchanged, spawn_app_with, Browser, TestApp};

const LOGIN: &str = "/api/v1/wechat/login/start";
const ZHANG: (&str, &str) = ("张三", "110101199003076632");
const LI: (&str, &str) = ("李四", "310115198506124828");
const CHECK: &str = "/api/v1/account/real-name/wechat";

/// Every path WeChat documents that shiming may call.
const WECHATS_OWN: [&str; 8] = [
    "/connect/qrconnect",
    "/connect/oauth2/authorize",
    "/sns/oauth2/access_token",
    "/sns/userinfo",
    "/cgi-bin/token",
    "/cgi-bin/stable_token",
    "/sns/jscode2session",
    "/intp/realname/checkrealnameinfo",
];

async fn city_service_app(tweak: impl FnOnce(&mut shiming_server::config::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.wechat.realname = Some(WechatRealName::CityService);
        tweak(c);
    })
    .await
}

/// Signs in with WeChat as `unionid`: the browser and its token.
async fn wechat_account(app: &TestApp, unionid: &str) -> (Browser, String) {
    let mut b = app.browser();
    let resp = b.round_trip(LOGIN, unionid).await;
    assert_eq!(resp.status(), 200);
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    b.token = Some(token.clone());
    (b, token)
}

/// A `wx.login` code and a consent code for `unionid`, as the mini program gets them.
async fn mini_codes(app: &TestApp, unionid: &str) -> (String, String) {
    let resp = app
        .post("/dev/wechat/miniprogram/codes", json!({ "unionid": unionid }))
        .await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    (
        body["login_code"].as_str().unwrap().into(),
        body["consent_code"].as_str().unwrap().into(),
    )
}

fn check_body(person: (&str, &str), codes: &(String, String)) -> Value {
    json!({
        "name": person.0, "id_number": person.1, "consent": true,
        "login_code": codes.0, "consent_code": codes.1,
    })
}

/// WeChat's check of `person` at `path`, with codes minted for `unionid`.
async fn check_as(app: &TestApp, token: &str, path: &str, unionid: &str, person: (&str, &str)) -> reqwest::Response {
    let codes = mini_codes(app, unionid).await;
    app.post_as(token, path, check_body(person, &codes)).await
}

async fn wechat_calls(app: &TestApp) -> BTreeMap<String, u64> {
    app.http
        .get(app.url("/dev/wechat/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_realname_none_every_wechat_flow_calls_only_wechats_documented_endpoints() {
    let app = spawn_app_with(|c| c.wechat.realname = Some(WechatRealName::None)).await;
    // Sign-in: the identity has a real name at WeChat, and still attests nobody.
    let (b, token) = wechat_account(&app, "dev-union-zhangsan").await;
    assert_eq!(b.security().await["real_name"]["status"], "unverified");
    // Step-up with WeChat.
    let resp = b.round_trip("/api/v1/step-up/wechat/start", "dev-union-zhangsan").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    // Rebind to another identity: proven by OAuth alone, the preview attests nobody.
    let resp = b
        .round_trip("/api/v1/account/wechat/rebind/start", "dev-union-lisi")
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let preview: Value = resp.json().await.unwrap();
    assert_eq!(preview["status_after"], "unverified", "{preview}");
    // Bind: a phone account takes a WeChat.
    let phone_token = app.verified_account("+8613800138000", ZHANG).await;
    app.step_up(&phone_token, "+8613800138000").await;
    let mut p = app.browser();
    p.token = Some(phone_token.clone());
    let resp = p.round_trip("/api/v1/wechat/bind/start", "dev-union-wangfang").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(app.security(&phone_token).await["real_name"]["source"], "phone");
    // And WeChat's real-name check is off.
    assert_error(
        app.post_as(&token, CHECK, check_body(ZHANG, &("a".into(), "b".into())))
            .await,
        404,
        "wechat_realname_not_configured",
    )
    .await;

    let calls = wechat_calls(&app).await;
    assert!(calls.contains_key("/sns/oauth2/access_token"), "{calls:?}");
    for path in calls.keys() {
        assert!(
            WECHATS_OWN.contains(&path.as_str()),
            "{path} is no WeChat endpoint: {calls:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn city_service_verifies_the_bound_wechat_and_the_account_follows() {
    let app = city_service_app(|_| {}).await;
    let (b, token) = wechat_account(&app, "dev-union-zhangsan").await;
    // The OAuth round trip proves possession only.
    assert_eq!(b.security().await["real_name"]["status"], "unverified");

    let resp = check_as(&app, &token, CHECK, "dev-union-zhangsan", ZHANG).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["outcome"], "verified");
    assert_eq!(body["real_name"]["status"], "verified");
    assert_eq!(body["real_name"]["source"], "wechat");
    assert_eq!(body["real_name"]["name_masked"], "*三");
    let audit = app.json_as(&token, "/api/v1/account/audit").await.to_string();
    assert!(audit.contains("realname.verified"), "{audit}");
    assert!(!audit.contains("110101199003076632") && !audit.contains("张三"));

    // Verified already: another check, even of the same person, edits nothing.
    let before = app.snapshot(&token).await;
    assert_error(
        check_as(&app, &token, CHECK, "dev-union-zhangsan", ZHANG).await,
        409,
        "realname_not_editable",
    )
    .await;
    assert_unchanged(&before, &app.snapshot(&token).await);

    // Nothing but WeChat's own endpoints was called, and the app token
    // came from stable_token.
    let calls = wechat_calls(&app).await;
    assert_eq!(calls.get("/cgi-bin/stable_token"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("/intp/realname/checkrealnameinfo"), Some(&1), "{calls:?}");
    for path in calls.keys() {
        assert!(WECHATS_OWN.contains(&path.as_str()), "{path}: {calls:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_phone_verified_account_adds_its_wechat_for_the_same_person_only() {
    let app = city_service_app(|_| {}).await;
    let token = app.verified_account("+8613800138000", ZHANG).await;
    app.step_up(&token, "+8613800138000").await;
    // Li's WeChat bound to Zhang's account: WeChat's check says it is Li's.
    let mut b = app.browser();
    b.token = Some(token.clone());
    let resp = b.round_trip("/api/v1/wechat/bind/start", "dev-union-lisi").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let before = app.snapshot(&token).await;
    let codes = mini_codes(&app, "dev-union-lisi").await;
    // WeChat confirms Li, but the account's real name is Zhang: that change is a rebind.
    assert_error(
        app.post_as(&token, CHECK, check_body(LI, &codes)).await,
        409,
        "realname_not_editable",
    )
    .await;
    assert_unchanged(&before, &app.snapshot(&token).await);

    // Zhang's own WeChat on another of Zhang's accounts: both now attest him.
    let token = app.verified_account("+8613800138001", ZHANG).await;
    app.step_up(&token, "+8613800138001").await;
    let mut b = app.browser();
    b.token = Some(token.clone());
    let resp = b.round_trip("/api/v1/wechat/bind/start", "dev-union-zhangsan").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let resp = check_as(&app, &token, CHECK, "dev-union-zhangsan", ZHANG).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sec = app.security(&token).await;
    assert_eq!(sec["real_name"]["status"], "verified");
    assert_eq!(
        sec["real_name"]["source"], "wechat",
        "WeChat is the primary source: {sec}"
    );
    assert_eq!(sec["wechat"]["real_name_verified"], true);
    app.stop().await;
}

#[tokio::test]
async fn every_refusal_of_the_wechat_check_is_typed_and_changes_nothing() {
    let app = city_service_app(|c| c.wechat.timeout_ms = 500).await;
    let anon = app.add_wechat_user("没实名", None).await;
    let (_, token) = wechat_account(&app, "dev-union-zhangsan").await;
    let before = app.snapshot(&token).await;

    let cases: Vec<(Value, u16, &str)> = vec![
        // Someone else's WeChat in the mini program.
        (
            check_body(ZHANG, &mini_codes(&app, "dev-union-lisi").await),
            409,
            "wrong_identity",
        ),
        // WeChat says the name is not the user's, or the ID number not the name's.
        (
            check_body(("张四", ZHANG.1), &mini_codes(&app, "dev-union-zhangsan").await),
            422,
            "realname_mismatch",
        ),
        (
            check_body((ZHANG.0, LI.1), &mini_codes(&app, "dev-union-zhangsan").await),
            422,
            "realname_mismatch",
        ),
        // Codes WeChat does not know.
        (
            check_body(ZHANG, &("nope".into(), "nope".into())),
            400,
            "wechat_code_invalid",
        ),
        (
            check_body(ZHANG, &(mini_codes(&app, "dev-union-zhangsan").await.0, "nope".into())),
            400,
            "wechat_code_invalid",
        ),
        // No consent, a bad ID number, a missing code: refused before anything is asked.
        (
            json!({ "name": ZHANG.0, "id_number": ZHANG.1, "login_code": "a", "consent_code": "b" }),
            400,
            "consent_required",
        ),
        (
            check_body((ZHANG.0, "110101199003076631"), &("a".into(), "b".into())),
            400,
            "invalid_id_number",
        ),
        (check_body(ZHANG, &(" ".into(), "b".into())), 400, "invalid_request"),
    ];
    for (body, status, code) in cases {
        assert_error(app.post_as(&token, CHECK, body).await, status, code).await;
    }
    // A used login code.
    let codes = mini_codes(&app, "dev-union-zhangsan").await;
    assert_error(
        app.post_as(&token, CHECK, check_body(("张四", ZHANG.1), &codes)).await,
        422,
        "realname_mismatch",
    )
    .await;
    let again = (codes.0.clone(), mini_codes(&app, "dev-union-zhangsan").await.1);
    assert_error(
        app.post_as(&token, CHECK, check_body(ZHANG, &again)).await,
        400,
        "wechat_code_invalid",
    )
    .await;
    // WeChat hangs, or answers an errcode of its own.
    app.wechat_fault(Some(json!({ "endpoint": "check_realname", "hang": true })))
        .await;
    assert_error(
        check_as(&app, &token, CHECK, "dev-union-zhangsan", ZHANG).await,
        503,
        "wechat_unavailable",
    )
    .await;
    app.wechat_fault(Some(json!({ "endpoint": "jscode2session", "errcode": 45011 })))
        .await;
    assert_error(
        check_as(&app, &token, CHECK, "dev-union-zhangsan", ZHANG).await,
        503,
        "wechat_unavailable",
    )
    .await;
    app.wechat_fault(None).await;
    assert_unchanged(&before, &app.snapshot(&token).await);

    // A WeChat without a real name at WeChat.
    let (_, anon_token) = wechat_account(&app, &anon).await;
    assert_error(
        check_as(&app, &anon_token, CHECK, &anon, ZHANG).await,
        422,
        "wechat_not_realnamed",
    )
    .await;
    assert_eq!(app.security(&anon_token).await["real_name"]["status"], "unverified");

    // An account without WeChat.
    let phone_token = app.sign_in("+8613800138001").await.0;
    assert_error(
        app.post_as(&phone_token, CHECK, check_body(ZHANG, &("a".into(), "b".into())))
            .await,
        409,
        "no_wechat_bound",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_app_token_expiring_between_two_checks_is_renewed_and_the_check_goes_through() {
    let app = city_service_app(|_| {}).await;
    let (_, zhang) = wechat_account(&app, "dev-union-zhangsan").await;
    let (_, li) = wechat_account(&app, "dev-union-lisi").await;
    assert_eq!(
        check_as(&app, &zhang, CHECK, "dev-union-zhangsan", ZHANG)
            .await
            .status(),
        200
    );
    let resp = app.post("/dev/wechat/miniprogram/expire-tokens", json!({})).await;
    assert_eq!(resp.status(), 204);
    let resp = check_as(&app, &li, CHECK, "dev-union-lisi", LI).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let calls = wechat_calls(&app).await;
    assert_eq!(calls.get("/cgi-bin/stable_token"), Some(&2), "renewed once: {calls:?}");
    assert_eq!(calls.get("/intp/realname/checkrealnameinfo"), Some(&3), "{calls:?}");
    app.stop().await;
}

#[tokio::test]
async fn every_wechat_check_counts_against_the_daily_cap() {
    let app = city_service_app(|c| c.realname.checks_per_account_per_day = 2).await;
    let (_, token) = wechat_account(&app, "dev-union-zhangsan").await;
    for _ in 0..2 {
        assert_error(
            check_as(&app, &token, CHECK, "dev-union-zhangsan", LI).await,
            422,
            "realname_mismatch",
        )
        .await;
    }
    assert_error(
        check_as(&app, &token, CHECK, "dev-union-zhangsan", ZHANG).await,
        429,
        "rate_limited",
    )
    .await;
    let calls = wechat_calls(&app).await;
    assert_eq!(
        calls.get("/intp/realname/checkrealnameinfo"),
        Some(&2),
        "the capped one asks WeChat nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rebind_proves_the_new_wechat_by_oauth_and_its_person_by_wechats_check() {
    let app = city_service_app(|_| {}).await;
    let (b, token) = wechat_account(&app, "dev-union-zhangsan").await;
    assert_eq!(
        check_as(&app, &token, CHECK, "dev-union-zhangsan", ZHANG)
            .await
            .status(),
        200
    );
    const REBIND_CHECK: &str = "/api/v1/account/wechat/rebind/real-name";

    // No change open yet.
    let resp = b.round_trip("/api/v1/step-up/wechat/start", "dev-union-zhangsan").await;
    assert_eq!(resp.status(), 200);
    assert_error(
        check_as(&app, &token, REBIND_CHECK, "dev-union-lisi", LI).await,
        410,
        "flow_expired",
    )
    .await;

    // The round trip proves possession; the preview says the new WeChat attests nobody yet.
    let resp = b
        .round_trip("/api/v1/account/wechat/rebind/start", "dev-union-lisi")
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let preview: Value = resp.json().await.unwrap();
    assert_eq!(preview["status_after"], "unverified", "{preview}");

    // Someone else's mini program codes, or a person WeChat does not confirm, change nothing.
    assert_error(
        check_as(&app, &token, REBIND_CHECK, "dev-union-zhangsan", ZHANG).await,
        409,
        "wrong_identity",
    )
    .await;
    assert_error(
        check_as(&app, &token, REBIND_CHECK, "dev-union-lisi", ZHANG).await,
        422,
        "realname_mismatch",
    )
    .await;
    let still: Value = app.json_as(&token, "/api/v1/account/wechat/rebind").await;
    assert_eq!(still["status_after"], "unverified", "{still}");

    // WeChat confirms Li: the preview, taken again, shows the person.
    let resp = check_as(&app, &token, REBIND_CHECK, "dev-union-lisi", LI).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let preview: Value = resp.json().await.unwrap();
    assert_eq!(preview["status_after"], "verified", "{preview}");
    assert_eq!(preview["person_changes"], true, "{preview}");
    assert_eq!(preview["real_name_after"]["name_masked"], "*四", "{preview}");
    assert_eq!(app.json_as(&token, "/api/v1/account/wechat/rebind").await, preview);
    // Checked once: a second check of the same change edits nothing.
    assert_error(
        check_as(&app, &token, REBIND_CHECK, "dev-union-lisi", LI).await,
        409,
        "realname_not_editable",
    )
    .await;

    let resp = app.accept(&token, "/api/v1/account/wechat/rebind/confirm").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sec = app.security(&token).await;
    assert_eq!(sec["real_name"]["status"], "verified");
    assert_eq!(sec["real_name"]["name_masked"], "*四");
    assert_eq!(sec["wechat"]["nickname"], "李四");
    assert_eq!(sec["wechat"]["real_name_verified"], true);
    assert_eq!(sec["wechat_realname"], "city_service");
    app.stop().await;
}

#[tokio::test]
async fn a_rebind_confirmed_before_the_check_binds_a_wechat_that_attests_nobody() {
    let app = city_service_app(|_| {}).await;
    let (b, token) = wechat_account(&app, "dev-union-zhangsan").await;
    assert_eq!(
        check_as(&app, &token, CHECK, "dev-union-zhangsan", ZHANG)
            .await
            .status(),
        200
    );
    assert_eq!(
        b.round_trip("/api/v1/step-up/wechat/start", "dev-union-zhangsan")
            .await
            .status(),
        200
    );
    let resp = b
        .round_trip("/api/v1/account/wechat/rebind/start", "dev-union-lisi")
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app.accept(&token, "/api/v1/account/wechat/rebind/confirm").await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sec = app.security(&token).await;
    assert_eq!(sec["real_name"]["status"], "unverified", "{sec}");
    assert_eq!(sec["wechat"]["real_name_verified"], false);
    // The account last named Zhang: WeChat confirming Li now is a person change, not a verification.
    assert_error(
        check_as(&app, &token, CHECK, "dev-union-lisi", LI).await,
        409,
        "realname_not_editable",
    )
    .await;
    // Zhang's own name cannot be put on Li's WeChat either: WeChat says no.
    assert_error(
        check_as(&app, &token, CHECK, "dev-union-lisi", ZHANG).await,
        422,
        "realname_mismatch",
    )
    .await;
    app.stop().await;
}
