//! The development WeChat server: the same endpoints, parameters, JSON shapes
//! and `errcode`s as WeChat, with test identities in memory, an authorize page
//! to pick one, non-interactive approval (`&dev_user=<unionid>`) for scripts,
//! and injected faults for tests. It serves two apps, as an operator has: the
//! website app of the OAuth sign-in, and the mini program of the real-name
//! check ([`miniprogram`]). It also answers a platform real-name claim at
//! `sns/realname`, an endpoint WeChat itself does not serve (see
//! docs/providers.md).

mod miniprogram;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shiming_domain::{IdNumber, PersonName};

use super::protocol::{
    ErrorBody, RealNameAnswer, ACCESS_TOKEN_PATH, AUTHORIZE_PATH, CHECK_REALNAME_PATH, JSCODE2SESSION_PATH,
    QRCONNECT_PATH, REALNAME_PATH, STABLE_TOKEN_PATH, USERINFO_PATH,
};
use super::{RealNameClaim, TokenGrant, UserInfo};

/// An identity of the development WeChat server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevWechatUser {
    pub unionid: String,
    /// The openid under the website app (OAuth sign-in).
    pub openid: String,
    /// The openid under the mini program (the real-name check).
    pub mini_openid: String,
    pub nickname: String,
    /// The real-name claim, when the identity is real-name verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
}

/// The documented test identities (README.md lists them). The verified ones
/// are the same persons as the development carrier's first test phones.
pub fn test_identities() -> Vec<DevWechatUser> {
    [
        (
            "dev-union-zhangsan",
            "dev-open-zhangsan",
            "张三的微信",
            Some(("张三", "110101199003076632")),
        ),
        (
            "dev-union-lisi",
            "dev-open-lisi",
            "李四",
            Some(("李四", "310115198506124828")),
        ),
        (
            "dev-union-wangfang",
            "dev-open-wangfang",
            "芳芳",
            Some(("王芳", "440305199211303513")),
        ),
        ("dev-union-anon", "dev-open-anon", "路人甲", None),
    ]
    .into_iter()
    .map(|(unionid, openid, nickname, claim)| DevWechatUser {
        unionid: unionid.into(),
        mini_openid: openid.replace("dev-open-", "dev-mini-"),
        openid: openid.into(),
        nickname: nickname.into(),
        name: claim.map(|c| c.0.into()),
        id_number: claim.map(|c| c.1.into()),
    })
    .collect()
}

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultEndpoint {
    AccessToken,
    Userinfo,
    /// The platform claim endpoint (`sns/realname`).
    Realname,
    /// `cgi-bin/token` and `cgi-bin/stable_token`.
    StableToken,
    Jscode2session,
    CheckRealname,
}

/// A fault: the endpoint answers `errcode`, or never answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WechatFault {
    pub endpoint: FaultEndpoint,
    #[serde(default)]
    pub errcode: Option<i64>,
    #[serde(default)]
    pub hang: bool,
}

struct IssuedCode {
    unionid: String,
    scope: String,
    issued: Instant,
    used: bool,
}

/// An app's credentials at WeChat.
#[derive(Debug, Clone)]
pub struct DevApp {
    pub appid: String,
    pub secret: String,
}

pub struct DevWechat {
    appid: String,
    secret: String,
    /// The mini program of the real-name check.
    mini: DevApp,
    mini_state: Mutex<miniprogram::MiniState>,
    users: RwLock<HashMap<String, DevWechatUser>>,
    codes: Mutex<HashMap<String, IssuedCode>>,
    /// access_token → (unionid, scope)
    tokens: RwLock<HashMap<String, (String, String)>>,
    fault: RwLock<Option<WechatFault>>,
    /// How often each WeChat endpoint was called (`GET /dev/wechat/calls`):
    /// tests read what shiming asked WeChat for.
    calls: Mutex<BTreeMap<String, u64>>,
}

/// Codes are valid this long, as WeChat's.
const CODE_TTL: Duration = Duration::from_secs(300);

fn random_hex(n: usize) -> String {
    (0..n).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

impl DevWechat {
    /// A server for a website app and a mini program, with the test identities.
    pub fn new(web: &DevApp, mini: &DevApp) -> Arc<Self> {
        let users = test_identities().into_iter().map(|u| (u.unionid.clone(), u)).collect();
        Arc::new(DevWechat {
            appid: web.appid.clone(),
            secret: web.secret.clone(),
            mini: mini.clone(),
            mini_state: Mutex::default(),
            users: RwLock::new(users),
            codes: Mutex::default(),
            tokens: RwLock::default(),
            fault: RwLock::default(),
            calls: Mutex::default(),
        })
    }

    /// The WeChat endpoints and the admin API, for the server's own listener.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(QRCONNECT_PATH, get(authorize))
            .route(AUTHORIZE_PATH, get(authorize))
            .route(ACCESS_TOKEN_PATH, get(access_token))
            .route(USERINFO_PATH, get(userinfo))
            .route(REALNAME_PATH, get(realname))
            .route("/cgi-bin/token", get(miniprogram::token))
            .route(STABLE_TOKEN_PATH, post(miniprogram::stable_token))
            .route(JSCODE2SESSION_PATH, get(miniprogram::jscode2session))
            .route(CHECK_REALNAME_PATH, post(miniprogram::check_real_name))
            .route_layer(axum::middleware::from_fn_with_state(self.clone(), count_call))
            .with_state(self.clone())
            .merge(self.admin_router())
    }

    /// Only the admin API (`/dev/wechat/users`, `/dev/wechat/fault`,
    /// `/dev/wechat/miniprogram/…`), for shiming's listener.
    pub fn admin_router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/dev/wechat/users", post(add_user).get(list_users))
            .route("/dev/wechat/fault", post(set_fault))
            .route("/dev/wechat/calls", get(list_calls))
            .route("/dev/wechat/miniprogram/codes", post(miniprogram::mint_codes))
            .route(
                "/dev/wechat/miniprogram/expire-tokens",
                post(miniprogram::expire_tokens),
            )
            .with_state(self.clone())
    }

    async fn fault_for(&self, endpoint: FaultEndpoint) -> Option<Response> {
        let fault = (*self.fault.read().expect("not poisoned")).filter(|f| f.endpoint == endpoint)?;
        if fault.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        fault.errcode.map(|c| errcode(c, "injected fault"))
    }
}

async fn count_call(
    State(wx): State<Arc<DevWechat>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    *wx.calls
        .lock()
        .expect("not poisoned")
        .entry(req.uri().path().to_owned())
        .or_default() += 1;
    next.run(req).await
}

async fn list_calls(State(wx): State<Arc<DevWechat>>) -> Json<BTreeMap<String, u64>> {
    Json(wx.calls.lock().expect("not poisoned").clone())
}

fn errcode(errcode: i64, errmsg: &str) -> Response {
    // WeChat answers errors with HTTP 200.
    Json(ErrorBody {
        errcode,
        errmsg: errmsg.into(),
    })
    .into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    appid: String,
    redirect_uri: String,
    response_type: String,
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    dev_user: Option<String>,
    #[serde(default)]
    dev_deny: Option<String>,
}

/// `uri` with the pairs appended to its query; `None` when it is no absolute URL.
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> Option<String> {
    let mut url = reqwest::Url::parse(uri).ok()?;
    url.query_pairs_mut().extend_pairs(pairs);
    Some(url.to_string())
}

async fn authorize(
    State(wx): State<Arc<DevWechat>>,
    uri: axum::http::Uri,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let qr = uri.path() == QRCONNECT_PATH;
    let scope_ok = if qr {
        q.scope == "snsapi_login"
    } else {
        matches!(q.scope.as_str(), "snsapi_base" | "snsapi_userinfo")
    };
    if q.appid != wx.appid || q.response_type != "code" || !scope_ok {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>参数错误 (appid, response_type or scope)</p>".to_owned()),
        )
            .into_response();
    }
    if reqwest::Url::parse(&q.redirect_uri).is_err() {
        return (StatusCode::BAD_REQUEST, Html("<p>redirect_uri 参数错误</p>".to_owned())).into_response();
    }
    if q.dev_deny.is_some() {
        // A refusal carries only the state.
        return redirect(with_query(&q.redirect_uri, &[("state", &q.state)]));
    }
    let Some(unionid) = q.dev_user.as_deref() else {
        return Html(picker_page(&wx, &uri)).into_response();
    };
    if !wx.users.read().expect("not poisoned").contains_key(unionid) {
        return (
            StatusCode::NOT_FOUND,
            Html(format!("<p>no test identity {}</p>", html_escape(unionid))),
        )
            .into_response();
    }
    let code = random_hex(16);
    wx.codes.lock().expect("not poisoned").insert(
        code.clone(),
        IssuedCode {
            unionid: unionid.into(),
            scope: q.scope.clone(),
            issued: Instant::now(),
            used: false,
        },
    );
    redirect(with_query(&q.redirect_uri, &[("code", &code), ("state", &q.state)]))
}

fn redirect(to: Option<String>) -> Response {
    Redirect::to(&to.expect("redirect_uri was checked")).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page a person sees without `dev_user`: pick a test identity.
fn picker_page(wx: &DevWechat, uri: &axum::http::Uri) -> String {
    let users = wx.users.read().expect("not poisoned");
    let mut list: Vec<&DevWechatUser> = users.values().collect();
    list.sort_by(|a, b| a.unionid.cmp(&b.unionid));
    // Links back to this very request, plus the choice (unionids need no escaping).
    let base = uri.to_string();
    let items: String = list
        .iter()
        .map(|u| {
            let href = format!("{base}&dev_user={}", u.unionid);
            let verified = if u.name.is_some() {
                "实名已认证"
            } else {
                "未实名"
            };
            format!(
                "<li><a href=\"{}\">{} — {} ({})</a></li>",
                html_escape(&href),
                html_escape(&u.nickname),
                html_escape(&u.unionid),
                verified
            )
        })
        .collect();
    let deny = html_escape(&format!("{base}&dev_deny=1"));
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>微信登录 (development)</title></head>\
         <body><h1>微信登录 · development WeChat</h1><p>选择一个测试身份 / pick a test identity:</p><ul>{items}</ul>\
         <p><a href=\"{deny}\">拒绝 / deny</a></p></body></html>"
    )
}

#[derive(Deserialize)]
struct TokenQuery {
    appid: String,
    secret: String,
    code: String,
    grant_type: String,
}

async fn access_token(State(wx): State<Arc<DevWechat>>, Query(q): Query<TokenQuery>) -> Response {
    if let Some(r) = wx.fault_for(FaultEndpoint::AccessToken).await {
        return r;
    }
    if q.appid != wx.appid {
        return errcode(40013, "invalid appid");
    }
    if q.secret != wx.secret {
        return errcode(40001, "invalid credential, access_token is invalid or not latest");
    }
    if q.grant_type != "authorization_code" {
        return errcode(40002, "invalid grant_type");
    }
    let (unionid, scope) = {
        let mut codes = wx.codes.lock().expect("not poisoned");
        let Some(issued) = codes.get_mut(&q.code) else {
            return errcode(40029, "invalid code");
        };
        if issued.used {
            return errcode(40163, "code been used");
        }
        if issued.issued.elapsed() > CODE_TTL {
            return errcode(42003, "code expired");
        }
        issued.used = true;
        (issued.unionid.clone(), issued.scope.clone())
    };
    let Some(user) = wx.users.read().expect("not poisoned").get(&unionid).cloned() else {
        return errcode(40029, "invalid code");
    };
    let token = random_hex(24);
    wx.tokens
        .write()
        .expect("not poisoned")
        .insert(token.clone(), (unionid, scope.clone()));
    Json(TokenGrant {
        access_token: token,
        expires_in: 7200,
        refresh_token: random_hex(24),
        openid: user.openid,
        scope,
        unionid: Some(user.unionid),
    })
    .into_response()
}

#[derive(Deserialize)]
struct TokenUse {
    access_token: String,
    openid: String,
}

/// The identity an access token was granted for, or WeChat's errcode and errmsg.
fn granted(wx: &DevWechat, q: &TokenUse) -> Result<(DevWechatUser, String), (i64, &'static str)> {
    const BAD_TOKEN: (i64, &str) = (40014, "invalid access_token");
    let (unionid, scope) = wx
        .tokens
        .read()
        .expect("not poisoned")
        .get(&q.access_token)
        .cloned()
        .ok_or(BAD_TOKEN)?;
    let user = wx
        .users
        .read()
        .expect("not poisoned")
        .get(&unionid)
        .cloned()
        .ok_or(BAD_TOKEN)?;
    if user.openid != q.openid {
        return Err((40003, "invalid openid"));
    }
    Ok((user, scope))
}

async fn userinfo(State(wx): State<Arc<DevWechat>>, Query(q): Query<TokenUse>) -> Response {
    if let Some(r) = wx.fault_for(FaultEndpoint::Userinfo).await {
        return r;
    }
    let (user, scope) = match granted(&wx, &q) {
        Ok(g) => g,
        Err((code, msg)) => return errcode(code, msg),
    };
    if scope == "snsapi_base" {
        return errcode(48001, "api unauthorized");
    }
    Json(UserInfo {
        openid: user.openid,
        nickname: user.nickname,
        headimgurl: String::new(),
        unionid: Some(user.unionid),
    })
    .into_response()
}

async fn realname(State(wx): State<Arc<DevWechat>>, Query(q): Query<TokenUse>) -> Response {
    if let Some(r) = wx.fault_for(FaultEndpoint::Realname).await {
        return r;
    }
    let (user, _) = match granted(&wx, &q) {
        Ok(g) => g,
        Err((code, msg)) => return errcode(code, msg),
    };
    let claim = user
        .name
        .zip(user.id_number)
        .map(|(name, id_number)| RealNameClaim { name, id_number });
    Json(RealNameAnswer {
        openid: user.openid,
        verified: claim.is_some(),
        claim,
    })
    .into_response()
}

#[derive(Deserialize)]
struct NewUser {
    nickname: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    id_number: Option<String>,
}

async fn add_user(
    State(wx): State<Arc<DevWechat>>,
    body: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let bad = |m: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "code": "bad_request", "message": m } })),
        )
            .into_response()
    };
    let Json(u) = match body {
        Ok(b) => b,
        Err(e) => return bad(e.body_text()),
    };
    match (&u.name, &u.id_number) {
        (Some(n), Some(i)) => {
            if let Err(e) = PersonName::parse(n) {
                return bad(format!("name: {e}"));
            }
            if let Err(e) = IdNumber::parse(i) {
                return bad(format!("id_number: {e}"));
            }
        }
        (None, None) => {}
        _ => return bad("give both name and id_number, or neither".into()),
    }
    let tag = random_hex(8);
    let user = DevWechatUser {
        unionid: format!("dev-union-{tag}"),
        openid: format!("dev-open-{tag}"),
        mini_openid: format!("dev-mini-{tag}"),
        nickname: u.nickname,
        name: u.name,
        id_number: u.id_number,
    };
    wx.users
        .write()
        .expect("not poisoned")
        .insert(user.unionid.clone(), user.clone());
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "unionid": user.unionid, "openid": user.openid, "mini_openid": user.mini_openid })),
    )
        .into_response()
}

async fn list_users(State(wx): State<Arc<DevWechat>>) -> Json<Vec<DevWechatUser>> {
    let mut list: Vec<DevWechatUser> = wx.users.read().expect("not poisoned").values().cloned().collect();
    list.sort_by(|a, b| a.unionid.cmp(&b.unionid));
    Json(list)
}

/// `{"endpoint", "errcode"}` or `{"endpoint", "hang": true}` sets a fault; `{}` clears it.
async fn set_fault(State(wx): State<Arc<DevWechat>>, Json(body): Json<serde_json::Value>) -> Response {
    let fault = if body.get("endpoint").is_some() {
        match serde_json::from_value::<WechatFault>(body) {
            Ok(f) => Some(f),
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    } else {
        None
    };
    *wx.fault.write().expect("not poisoned") = fault;
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::super::{AuthorizeMode, WechatClient, WechatConfig, WechatError, WechatProvider};
    use super::*;

    pub(super) async fn serve(wx: &Arc<DevWechat>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = wx.router();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    pub(super) fn dev_wechat() -> Arc<DevWechat> {
        let app = |appid: &str, secret: &str| DevApp {
            appid: appid.into(),
            secret: secret.into(),
        };
        DevWechat::new(&app("wxdev", "s3cret"), &app("wxmini", "m1ni"))
    }

    /// The website app's client, asking the platform claim endpoint too.
    fn client(base: &str, secret: &str, timeout_ms: u64) -> WechatClient {
        WechatClient::new(WechatConfig {
            appid: "wxdev".into(),
            secret: secret.into(),
            open_base_url: base.into(),
            api_base_url: base.into(),
            realname_url: Some(format!("{base}{REALNAME_PATH}")),
            timeout_ms,
        })
    }

    /// Approves the authorize URL as `unionid`; returns the redirect's query pairs.
    async fn approve(url: &str, extra: &str) -> HashMap<String, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = url.trim_end_matches("#wechat_redirect");
        let resp = http.get(format!("{url}{extra}")).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
        let location = reqwest::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(location.path(), "/cb");
        location.query_pairs().into_owned().collect()
    }

    #[tokio::test]
    async fn the_whole_round_trip_over_http() {
        let wx = dev_wechat();
        let base = serve(&wx).await;
        let c = client(&base, "s3cret", 2000);
        let url = c.authorize_url(AuthorizeMode::Qr, "http://127.0.0.1:1/cb?x=1", "st4te");
        assert!(url.starts_with(&format!("{base}/connect/qrconnect?appid=wxdev&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb%3Fx%3D1&response_type=code&scope=snsapi_login&state=st4te")), "{url}");
        let inside = c.authorize_url(AuthorizeMode::InWechatUserinfo, "http://127.0.0.1:1/cb", "s");
        assert!(
            inside.contains("/connect/oauth2/authorize?") && inside.ends_with("#wechat_redirect"),
            "{inside}"
        );

        // The picker page lists the identities.
        let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert!(page.contains("dev-union-zhangsan") && page.contains("dev_user=dev-union-zhangsan"));

        let back = approve(&url, "&dev_user=dev-union-zhangsan").await;
        assert_eq!(back["state"], "st4te");
        assert_eq!(back["x"], "1");
        let grant = c.exchange_code(&back["code"]).await.unwrap();
        assert_eq!(grant.unionid.as_deref(), Some("dev-union-zhangsan"));
        assert_eq!(grant.scope, "snsapi_login");
        let info = c.userinfo(&grant).await.unwrap();
        assert_eq!(info.nickname, "张三的微信");
        let claim = c.real_name(&grant).await.unwrap().unwrap();
        assert_eq!(
            (claim.name.as_str(), claim.id_number.as_str()),
            ("张三", "110101199003076632")
        );
        // A code works once.
        assert_eq!(c.exchange_code(&back["code"]).await.unwrap_err(), WechatError::CodeUsed);
        assert_eq!(c.exchange_code("nope").await.unwrap_err(), WechatError::InvalidCode);

        // An identity without real-name verification has no claim.
        let back = approve(&url, "&dev_user=dev-union-anon").await;
        let grant = c.exchange_code(&back["code"]).await.unwrap();
        assert_eq!(c.real_name(&grant).await.unwrap(), None);

        // A refusal returns only the state.
        let back = approve(&url, "&dev_deny=1").await;
        assert!(!back.contains_key("code") && back["state"] == "st4te");

        // snsapi_base grants no userinfo.
        let base_url = c.authorize_url(AuthorizeMode::InWechatBase, "http://127.0.0.1:1/cb", "s");
        let back = approve(&base_url, "&dev_user=dev-union-lisi").await;
        let grant = c.exchange_code(&back["code"]).await.unwrap();
        assert_eq!(c.userinfo(&grant).await.unwrap_err(), WechatError::ScopeNotGranted);
        let forged = TokenGrant {
            access_token: "forged".into(),
            ..grant
        };
        assert_eq!(c.userinfo(&forged).await.unwrap_err(), WechatError::BadToken);

        // A wrong secret is a bad credential.
        let back = approve(&url, "&dev_user=dev-union-lisi").await;
        assert_eq!(
            client(&base, "wrong", 2000)
                .exchange_code(&back["code"])
                .await
                .unwrap_err(),
            WechatError::BadCredential
        );
    }

    #[tokio::test]
    async fn injected_errcodes_hangs_and_outages_are_typed() {
        let wx = dev_wechat();
        let base = serve(&wx).await;
        let c = client(&base, "s3cret", 300);
        for (code, want) in [
            (42003, WechatError::CodeExpired),
            (40029, WechatError::InvalidCode),
            (45011, WechatError::Other { errcode: 45011 }),
        ] {
            *wx.fault.write().unwrap() = Some(WechatFault {
                endpoint: FaultEndpoint::AccessToken,
                errcode: Some(code),
                hang: false,
            });
            assert_eq!(c.exchange_code("any").await.unwrap_err(), want);
        }
        *wx.fault.write().unwrap() = Some(WechatFault {
            endpoint: FaultEndpoint::AccessToken,
            errcode: None,
            hang: true,
        });
        assert_eq!(c.exchange_code("any").await.unwrap_err(), WechatError::Timeout);
        let gone = client("http://127.0.0.1:9", "s3cret", 300);
        assert!(matches!(
            gone.exchange_code("any").await.unwrap_err(),
            WechatError::Unreachable(_)
        ));
    }

    #[tokio::test]
    async fn added_users_need_a_valid_claim_or_none() {
        let wx = dev_wechat();
        let base = serve(&wx).await;
        let http = reqwest::Client::new();
        let add = |body: serde_json::Value| http.post(format!("{base}/dev/wechat/users")).json(&body).send();
        let r = add(json!({ "nickname": "n", "name": "王小明", "id_number": "310104199208152215" }))
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "bad checksum");
        let r = add(json!({ "nickname": "n", "name": "王小明" })).await.unwrap();
        assert_eq!(r.status(), 400, "half a claim");
        let r = add(json!({ "nickname": "n" })).await.unwrap();
        assert_eq!(r.status(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["unionid"].as_str().unwrap().starts_with("dev-union-"));
    }

    #[test]
    fn test_identities_hold_valid_claims() {
        for u in test_identities() {
            if let (Some(n), Some(i)) = (&u.name, &u.id_number) {
                PersonName::parse(n).unwrap();
                IdNumber::parse(i).unwrap();
            }
        }
    }
}
