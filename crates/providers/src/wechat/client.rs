//! The HTTP client of WeChat's OAuth endpoints.

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shiming_domain::Secret;

use super::protocol::{RealNameAnswer, ACCESS_TOKEN_PATH, AUTHORIZE_PATH, QRCONNECT_PATH, USERINFO_PATH};
use super::{AuthorizeMode, RealNameClaim, TokenGrant, UserInfo, WechatError, WechatProvider};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WechatConfig {
    pub appid: String,
    pub secret: Secret,
    /// Where browsers authorize: `https://open.weixin.qq.com`.
    pub open_base_url: String,
    /// Where the server exchanges codes: `https://api.weixin.qq.com`.
    pub api_base_url: String,
    /// The platform real-name claim endpoint; unset, no claim is asked for.
    #[serde(default)]
    pub realname_url: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5000
}

pub struct WechatClient {
    http: reqwest::Client,
    config: WechatConfig,
}

impl WechatClient {
    pub fn new(config: WechatConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .expect("a TLS backend is compiled in");
        WechatClient { http, config }
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base_url.trim_end_matches('/'))
    }

    async fn get<T: DeserializeOwned>(&self, url: &str, query: &[(&str, &str)]) -> Result<T, WechatError> {
        answer(self.http.get(url).query(query).send().await.map_err(transport)?).await
    }
}

/// Reads a WeChat endpoint's answer: an `errcode` other than 0 is an error
/// whatever the HTTP status, as WeChat answers errors with 200.
pub(super) async fn answer<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, WechatError> {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.map_err(|e| {
        if e.is_timeout() {
            WechatError::Timeout
        } else {
            WechatError::Protocol(format!("HTTP {status}, not JSON"))
        }
    })?;
    if let Some(errcode) = body.get("errcode").and_then(|c| c.as_i64()).filter(|c| *c != 0) {
        return Err(WechatError::from_errcode(errcode));
    }
    if !status.is_success() {
        return Err(WechatError::Protocol(format!("HTTP {status}")));
    }
    serde_json::from_value(body).map_err(|e| WechatError::Protocol(e.to_string()))
}

pub(super) fn transport(e: reqwest::Error) -> WechatError {
    if e.is_timeout() {
        WechatError::Timeout
    } else {
        // Without the URL: it carries the code or the access token.
        WechatError::Unreachable(e.without_url().to_string())
    }
}

#[async_trait]
impl WechatProvider for WechatClient {
    fn authorize_url(&self, mode: AuthorizeMode, redirect_uri: &str, state: &str) -> String {
        let path = match mode {
            AuthorizeMode::Qr => QRCONNECT_PATH,
            AuthorizeMode::InWechatBase | AuthorizeMode::InWechatUserinfo => AUTHORIZE_PATH,
        };
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.config.open_base_url.trim_end_matches('/')))
            .expect("open_base_url is validated at start");
        url.query_pairs_mut()
            .append_pair("appid", &self.config.appid)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", mode.scope())
            .append_pair("state", state);
        if mode != AuthorizeMode::Qr {
            url.set_fragment(Some("wechat_redirect"));
        }
        url.to_string()
    }

    async fn exchange_code(&self, code: &str) -> Result<TokenGrant, WechatError> {
        let c = &self.config;
        let query = [
            ("appid", c.appid.as_str()),
            ("secret", c.secret.expose()),
            ("code", code),
            ("grant_type", "authorization_code"),
        ];
        self.get(&self.api(ACCESS_TOKEN_PATH), &query).await
    }

    async fn userinfo(&self, grant: &TokenGrant) -> Result<UserInfo, WechatError> {
        let query = [
            ("access_token", grant.access_token.as_str()),
            ("openid", grant.openid.as_str()),
        ];
        self.get(&self.api(USERINFO_PATH), &query).await
    }

    async fn real_name(&self, grant: &TokenGrant) -> Result<Option<RealNameClaim>, WechatError> {
        let Some(url) = self.config.realname_url.as_deref() else {
            return Ok(None);
        };
        let query = [
            ("access_token", grant.access_token.as_str()),
            ("openid", grant.openid.as_str()),
        ];
        let answer: RealNameAnswer = self.get(url, &query).await?;
        if answer.openid != grant.openid {
            return Err(WechatError::Protocol(
                "the real-name answer is for another identity".into(),
            ));
        }
        Ok(if answer.verified { answer.claim } else { None })
    }
}
