//! The mini program's side of the development WeChat server: app tokens
//! (`cgi-bin/token`, `cgi-bin/stable_token`), `sns/jscode2session` and the
//! city-service real-name check, with WeChat's errcodes. What a mini program
//! would get on the phone (a `wx.login` code, the consent page's code) is
//! minted by the admin API for a test identity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::super::protocol::{AppToken, MiniSession, RealNameCheckAnswer, RealNameCheckRequest, StableTokenRequest};
use super::{errcode, random_hex, DevWechat, FaultEndpoint, CODE_TTL};

/// App tokens last this long, as WeChat's.
const TOKEN_TTL: Duration = Duration::from_secs(7200);

/// A single-use code minted for a test identity.
struct Minted {
    unionid: String,
    issued: Instant,
    used: bool,
}

/// The mini program's state on the server.
#[derive(Default)]
pub(super) struct MiniState {
    /// access_token → when it expires.
    tokens: HashMap<String, Instant>,
    /// The token `stable_token` hands out while it lasts.
    stable: Option<String>,
    login_codes: HashMap<String, Minted>,
    consent_codes: HashMap<String, Minted>,
}

impl MiniState {
    fn issue_token(&mut self) -> String {
        let token = random_hex(24);
        self.tokens.insert(token.clone(), Instant::now() + TOKEN_TTL);
        token
    }
}

fn token_answer(access_token: String) -> Response {
    Json(AppToken {
        access_token,
        expires_in: TOKEN_TTL.as_secs() as i64,
    })
    .into_response()
}

impl DevWechat {
    /// WeChat's answer to the mini program's credentials, if they are wrong.
    fn refuse_app(&self, appid: &str, secret: &str) -> Option<Response> {
        if appid != self.mini.appid {
            return Some(errcode(40013, "invalid appid"));
        }
        if secret != self.mini.secret {
            return Some(errcode(40125, "invalid appsecret"));
        }
        None
    }
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    grant_type: String,
    appid: String,
    secret: String,
}

/// `GET /cgi-bin/token`: a new token every call (the older token stays
/// valid until it expires).
pub(super) async fn token(State(wx): State<Arc<DevWechat>>, Query(q): Query<TokenQuery>) -> Response {
    if let Some(r) = wx.fault_for(FaultEndpoint::StableToken).await {
        return r;
    }
    if let Some(r) = wx.refuse_app(&q.appid, &q.secret) {
        return r;
    }
    if q.grant_type != "client_credential" {
        return errcode(40002, "invalid grant_type");
    }
    let mut mini = wx.mini_state.lock().expect("not poisoned");
    let token = mini.issue_token();
    mini.stable = Some(token.clone());
    token_answer(token)
}

/// `POST /cgi-bin/stable_token`: the same token to every caller until it
/// expires, or a new one when forced.
pub(super) async fn stable_token(State(wx): State<Arc<DevWechat>>, body: axum::body::Bytes) -> Response {
    if let Some(r) = wx.fault_for(FaultEndpoint::StableToken).await {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<StableTokenRequest>(&body) else {
        return errcode(47001, "data format error");
    };
    if let Some(r) = wx.refuse_app(req.appid, req.secret) {
        return r;
    }
    if req.grant_type != "client_credential" {
        return errcode(40002, "invalid grant_type");
    }
    let mut mini = wx.mini_state.lock().expect("not poisoned");
    let now = Instant::now();
    let current = mini
        .stable
        .clone()
        .filter(|t| !req.force_refresh && mini.tokens.get(t).is_some_and(|until| *until > now));
    let token = current.unwrap_or_else(|| {
        let t = mini.issue_token();
        mini.stable = Some(t.clone());
        t
    });
    token_answer(token)
}

#[derive(Deserialize)]
pub(super) struct SessionQuery {
    appid: String,
    secret: String,
    js_code: String,
    grant_type: String,
}

/// Uses up a minted code: the identity it was minted for, or WeChat's errcode.
fn take_code(codes: &mut HashMap<String, Minted>, code: &str) -> Result<String, (i64, &'static str)> {
    let minted = codes.get_mut(code).ok_or((40029, "invalid code"))?;
    if minted.used {
        return Err((40163, "code been used"));
    }
    if minted.issued.elapsed() > CODE_TTL {
        return Err((40029, "invalid code"));
    }
    minted.used = true;
    Ok(minted.unionid.clone())
}

/// `GET /sns/jscode2session`.
pub(super) async fn jscode2session(State(wx): State<Arc<DevWechat>>, Query(q): Query<SessionQuery>) -> Response {
    if let Some(r) = wx.fault_for(FaultEndpoint::Jscode2session).await {
        return r;
    }
    if let Some(r) = wx.refuse_app(&q.appid, &q.secret) {
        return r;
    }
    if q.grant_type != "authorization_code" {
        return errcode(40002, "invalid grant_type");
    }
    let taken = take_code(&mut wx.mini_state.lock().expect("not poisoned").login_codes, &q.js_code);
    let unionid = match taken {
        Ok(u) => u,
        Err((code, msg)) => return errcode(code, msg),
    };
    let Some(user) = wx.users.read().expect("not poisoned").get(&unionid).cloned() else {
        return errcode(40029, "invalid code");
    };
    // session_key is WeChat's too; nothing in shiming reads it.
    let mut body = serde_json::to_value(MiniSession {
        openid: user.mini_openid,
        unionid: Some(user.unionid),
    })
    .expect("serializable");
    body["session_key"] = json!(random_hex(16));
    Json(body).into_response()
}

#[derive(Deserialize)]
pub(super) struct CheckQuery {
    access_token: String,
}

/// `POST /intp/realname/checkrealnameinfo`.
pub(super) async fn check_real_name(
    State(wx): State<Arc<DevWechat>>,
    Query(q): Query<CheckQuery>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = wx.fault_for(FaultEndpoint::CheckRealname).await {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<RealNameCheckRequest>(&body) else {
        return errcode(47001, "data format error");
    };
    let consented = {
        let mut mini = wx.mini_state.lock().expect("not poisoned");
        match mini.tokens.get(&q.access_token) {
            None => return errcode(40001, "invalid credential, access_token is invalid or not latest"),
            Some(until) if *until <= Instant::now() => return errcode(42001, "access_token expired"),
            Some(_) => {}
        }
        take_code(&mut mini.consent_codes, req.code)
    };
    let user = wx
        .users
        .read()
        .expect("not poisoned")
        .values()
        .find(|u| u.mini_openid == req.openid)
        .cloned();
    let Some(user) = user else {
        return errcode(40003, "invalid openid");
    };
    // The consent code is the user's own, given on WeChat's consent page.
    match consented {
        Err((code, msg)) => return errcode(code, msg),
        Ok(unionid) if unionid != user.unionid => return errcode(40029, "invalid code"),
        Ok(_) => {}
    }
    if req.cred_type != "1" {
        return errcode(40097, "invalid args");
    }
    let (verify_openid, verify_real_name) = match (user.name.as_deref(), user.id_number.as_deref()) {
        (None, _) | (_, None) => ("V_OP_NA", None),
        (Some(name), _) if name != req.real_name => ("V_OP_NM_UM", Some("")),
        (Some(_), Some(id)) if !id.eq_ignore_ascii_case(req.cred_id) => ("V_OP_NM_MA", Some("V_NM_ID_UM")),
        _ => ("V_OP_NM_MA", Some("V_NM_ID_MA")),
    };
    let mut answer = serde_json::to_value(RealNameCheckAnswer {
        verify_openid: verify_openid.into(),
        verify_real_name: verify_real_name.map(Into::into),
    })
    .expect("serializable");
    answer["errcode"] = json!(0);
    answer["errmsg"] = json!("ok");
    Json(answer).into_response()
}

#[derive(Deserialize)]
pub(super) struct MintRequest {
    unionid: String,
}

/// `POST /dev/wechat/miniprogram/codes {"unionid"}`: a `wx.login` code and a
/// consent code for the identity, as the mini program would get them on
/// the phone (each works once, for 5 minutes).
pub(super) async fn mint_codes(State(wx): State<Arc<DevWechat>>, Json(req): Json<MintRequest>) -> Response {
    if !wx.users.read().expect("not poisoned").contains_key(&req.unionid) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": { "code": "not_found", "message": "no such test identity" } })),
        )
            .into_response();
    }
    let mut mini = wx.mini_state.lock().expect("not poisoned");
    let mint = |codes: &mut HashMap<String, Minted>| {
        let code = random_hex(16);
        codes.insert(
            code.clone(),
            Minted {
                unionid: req.unionid.clone(),
                issued: Instant::now(),
                used: false,
            },
        );
        code
    };
    let login_code = mint(&mut mini.login_codes);
    let consent_code = mint(&mut mini.consent_codes);
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "login_code": login_code, "consent_code": consent_code })),
    )
        .into_response()
}

/// `POST /dev/wechat/miniprogram/expire-tokens`: every app token issued so
/// far has expired (WeChat then answers 42001 to it).
pub(super) async fn expire_tokens(State(wx): State<Arc<DevWechat>>) -> StatusCode {
    let mut mini = wx.mini_state.lock().expect("not poisoned");
    let now = Instant::now();
    for until in mini.tokens.values_mut() {
        *until = now;
    }
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::super::super::{
        CityService, MiniProgramClient, MiniProgramConfig, RealNameCheck, RealNameClaim, WechatError,
    };
    use super::super::tests::{dev_wechat, serve};
    use super::super::WechatFault;
    use super::*;

    fn client(base: &str, secret: &str, timeout_ms: u64) -> MiniProgramClient {
        MiniProgramClient::new(MiniProgramConfig {
            appid: "wxmini".into(),
            secret: secret.into(),
            api_base_url: base.into(),
            timeout_ms,
        })
    }

    async fn mint(base: &str, unionid: &str) -> (String, String) {
        let r = reqwest::Client::new()
            .post(format!("{base}/dev/wechat/miniprogram/codes"))
            .json(&json!({ "unionid": unionid }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        (
            body["login_code"].as_str().unwrap().into(),
            body["consent_code"].as_str().unwrap().into(),
        )
    }

    fn person(name: &str, id_number: &str) -> RealNameClaim {
        RealNameClaim {
            name: name.into(),
            id_number: id_number.into(),
        }
    }

    const ZHANGSAN: (&str, &str) = ("张三", "110101199003076632");

    #[tokio::test]
    async fn the_city_service_check_over_http_with_wechats_answers() {
        let wx = dev_wechat();
        let base = serve(&wx).await;
        let c = client(&base, "m1ni", 2000);
        let zhangsan = person(ZHANGSAN.0, ZHANGSAN.1);

        let (login, consent) = mint(&base, "dev-union-zhangsan").await;
        let session = c.session(&login).await.unwrap();
        assert_eq!(
            session.openid, "dev-mini-zhangsan",
            "the mini program's openid, not the website's"
        );
        assert_eq!(session.unionid.as_deref(), Some("dev-union-zhangsan"));
        assert_eq!(c.session(&login).await.unwrap_err(), WechatError::CodeUsed);
        assert_eq!(c.session("nope").await.unwrap_err(), WechatError::InvalidCode);
        assert_eq!(
            c.check_real_name(&session.openid, &zhangsan, &consent).await,
            Ok(RealNameCheck::Match)
        );
        // A consent code works once.
        assert_eq!(
            c.check_real_name(&session.openid, &zhangsan, &consent).await,
            Err(WechatError::CodeUsed)
        );

        // Each answer for its case; a consent code is the user's own.
        for (who, claim, want) in [
            (
                "dev-union-zhangsan",
                person("李四", ZHANGSAN.1),
                RealNameCheck::NameMismatch,
            ),
            (
                "dev-union-zhangsan",
                person(ZHANGSAN.0, "310115198506124828"),
                RealNameCheck::IdMismatch,
            ),
            (
                "dev-union-anon",
                person(ZHANGSAN.0, ZHANGSAN.1),
                RealNameCheck::NotRealNamed,
            ),
        ] {
            let (login, consent) = mint(&base, who).await;
            let openid = c.session(&login).await.unwrap().openid;
            assert_eq!(c.check_real_name(&openid, &claim, &consent).await, Ok(want), "{who}");
        }
        let (_, lisi_consent) = mint(&base, "dev-union-lisi").await;
        assert_eq!(
            c.check_real_name("dev-mini-zhangsan", &zhangsan, &lisi_consent).await,
            Err(WechatError::InvalidCode)
        );

        // The app's own credentials.
        let (login, _) = mint(&base, "dev-union-zhangsan").await;
        assert_eq!(
            client(&base, "wrong", 2000).session(&login).await.unwrap_err(),
            WechatError::BadCredential
        );
        assert_eq!(
            client(&base, "wrong", 2000)
                .check_real_name("dev-mini-zhangsan", &zhangsan, "any")
                .await,
            Err(WechatError::BadCredential)
        );
    }

    #[tokio::test]
    async fn a_token_that_expires_between_two_checks_is_renewed_once_and_the_check_goes_through() {
        let wx = dev_wechat();
        let base = serve(&wx).await;
        let c = client(&base, "m1ni", 2000);
        let zhangsan = person(ZHANGSAN.0, ZHANGSAN.1);
        let (login, consent) = mint(&base, "dev-union-zhangsan").await;
        let openid = c.session(&login).await.unwrap().openid;
        assert_eq!(
            c.check_real_name(&openid, &zhangsan, &consent).await,
            Ok(RealNameCheck::Match)
        );
        let first = wx.mini_state.lock().unwrap().stable.clone().unwrap();

        let r = reqwest::Client::new()
            .post(format!("{base}/dev/wechat/miniprogram/expire-tokens"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let (_, consent) = mint(&base, "dev-union-zhangsan").await;
        assert_eq!(
            c.check_real_name(&openid, &zhangsan, &consent).await,
            Ok(RealNameCheck::Match)
        );
        let second = wx.mini_state.lock().unwrap().stable.clone().unwrap();
        assert_ne!(first, second, "the client asked for a new token");

        // Every node gets the same token from stable_token while it lasts.
        let other = client(&base, "m1ni", 2000);
        let (_, consent) = mint(&base, "dev-union-zhangsan").await;
        assert_eq!(
            other.check_real_name(&openid, &zhangsan, &consent).await,
            Ok(RealNameCheck::Match)
        );
        assert_eq!(wx.mini_state.lock().unwrap().stable.clone().unwrap(), second);
    }

    #[tokio::test]
    async fn errcodes_and_hangs_of_the_check_are_typed() {
        let wx = dev_wechat();
        let base = serve(&wx).await;
        let c = client(&base, "m1ni", 300);
        let zhangsan = person(ZHANGSAN.0, ZHANGSAN.1);
        let fault = |endpoint, errcode, hang| {
            *wx.fault.write().unwrap() = Some(WechatFault {
                endpoint,
                errcode,
                hang,
            });
        };
        fault(FaultEndpoint::CheckRealname, Some(40029), false);
        assert_eq!(
            c.check_real_name("dev-mini-zhangsan", &zhangsan, "c").await,
            Err(WechatError::InvalidCode)
        );
        // A token refused on every try: renewed once, then the refusal stands.
        fault(FaultEndpoint::CheckRealname, Some(42001), false);
        assert_eq!(
            c.check_real_name("dev-mini-zhangsan", &zhangsan, "c").await,
            Err(WechatError::BadToken)
        );
        fault(FaultEndpoint::StableToken, Some(40013), false);
        let fresh = client(&base, "m1ni", 300);
        assert_eq!(
            fresh.check_real_name("dev-mini-zhangsan", &zhangsan, "c").await,
            Err(WechatError::BadCredential)
        );
        fault(FaultEndpoint::Jscode2session, Some(40163), false);
        assert_eq!(c.session("any").await, Err(WechatError::CodeUsed));
        fault(FaultEndpoint::CheckRealname, None, true);
        assert_eq!(
            c.check_real_name("dev-mini-zhangsan", &zhangsan, "c").await,
            Err(WechatError::Timeout)
        );
        fault(FaultEndpoint::Jscode2session, None, true);
        assert_eq!(c.session("any").await, Err(WechatError::Timeout));
    }
}
