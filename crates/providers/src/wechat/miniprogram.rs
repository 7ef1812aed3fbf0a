//! The mini program's server API that WeChat's real-name check needs: the
//! app's access token (`cgi-bin/stable_token`), the user's openid under the
//! mini program (`sns/jscode2session`) and the city-service check itself
//! (`intp/realname/checkrealnameinfo`).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shiming_domain::Secret;
use tokio::sync::Mutex;

use super::client::{answer, transport};
use super::protocol::{
    AppToken, MiniSession, RealNameCheckAnswer, RealNameCheckRequest, StableTokenRequest, CHECK_REALNAME_PATH,
    JSCODE2SESSION_PATH, STABLE_TOKEN_PATH,
};
use super::{RealNameClaim, WechatError};

/// What WeChat's city service says of a name and ID number for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealNameCheck {
    /// The user opened WeChat Pay under this name and ID number.
    Match,
    /// The user has no real name at WeChat (`V_OP_NA`).
    NotRealNamed,
    /// The name is not the user's (`V_OP_NM_UM`).
    NameMismatch,
    /// The name is the user's, the ID number not (`V_NM_ID_UM`).
    IdMismatch,
}

impl RealNameCheckAnswer {
    /// The verdict, read strictly: a match needs both fields to say so, and an
    /// answer this client does not understand is an error, never a match.
    /// `verify_openid` may hold several results joined by `;`.
    pub fn verdict(&self) -> Result<RealNameCheck, WechatError> {
        let results: Vec<&str> = self.verify_openid.split(';').map(str::trim).collect();
        let has = |word: &str| results.contains(&word);
        if has("V_OP_NM_UM") {
            return Ok(RealNameCheck::NameMismatch);
        }
        if has("V_OP_NM_MA") {
            return match self.verify_real_name.as_deref() {
                Some("V_NM_ID_MA") => Ok(RealNameCheck::Match),
                Some("V_NM_ID_UM") => Ok(RealNameCheck::IdMismatch),
                other => Err(WechatError::Protocol(format!("verify_real_name {other:?}"))),
            };
        }
        if has("V_OP_NA") {
            return Ok(RealNameCheck::NotRealNamed);
        }
        Err(WechatError::Protocol(format!("verify_openid {:?}", self.verify_openid)))
    }
}

/// WeChat's real-name check of a mini program's user.
#[async_trait]
pub trait CityService: Send + Sync {
    /// The user behind a mini program's `wx.login` code.
    async fn session(&self, js_code: &str) -> Result<MiniSession, WechatError>;

    /// Whether `person` is the real name of `openid`, with the code WeChat's
    /// consent page gave the mini program.
    async fn check_real_name(
        &self,
        openid: &str,
        person: &RealNameClaim,
        consent_code: &str,
    ) -> Result<RealNameCheck, WechatError>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MiniProgramConfig {
    pub appid: String,
    pub secret: Secret,
    /// `https://api.weixin.qq.com`.
    pub api_base_url: String,
    pub timeout_ms: u64,
}

/// The app token and when this client stops using it.
struct CachedToken {
    token: String,
    until: Instant,
}

pub struct MiniProgramClient {
    http: reqwest::Client,
    config: MiniProgramConfig,
    token: Mutex<Option<CachedToken>>,
}

/// A token is renewed this long before WeChat says it expires, so that no
/// check starts with a token about to lapse.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

impl MiniProgramClient {
    pub fn new(config: MiniProgramConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .expect("a TLS backend is compiled in");
        MiniProgramClient {
            http,
            config,
            token: Mutex::default(),
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base_url.trim_end_matches('/'))
    }

    /// The app's access token: the cached one while it lasts, else a new one
    /// from `stable_token`, which gives every node the same token (the older
    /// `cgi-bin/token` would make each node's call void the others').
    /// `stale` is a token WeChat refused: it is not handed out again.
    async fn app_token(&self, stale: Option<&str>) -> Result<String, WechatError> {
        let mut cached = self.token.lock().await;
        if let Some(c) = cached.as_ref() {
            if c.until > Instant::now() && Some(c.token.as_str()) != stale {
                return Ok(c.token.clone());
            }
        }
        let body = StableTokenRequest {
            grant_type: "client_credential",
            appid: &self.config.appid,
            secret: self.config.secret.expose(),
            // WeChat hands out the current token again unless forced; forcing
            // is rationed per day, and a refused token is renewed by WeChat
            // on its own once it has expired.
            force_refresh: false,
        };
        let resp = self
            .http
            .post(self.api(STABLE_TOKEN_PATH))
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let fresh: AppToken = answer(resp).await?;
        let lasts = Duration::from_secs(fresh.expires_in.max(0) as u64).saturating_sub(TOKEN_MARGIN);
        *cached = Some(CachedToken {
            token: fresh.access_token.clone(),
            until: Instant::now() + lasts,
        });
        Ok(fresh.access_token)
    }

    async fn check_with(
        &self,
        token: &str,
        body: &RealNameCheckRequest<'_>,
    ) -> Result<RealNameCheckAnswer, WechatError> {
        let resp = self
            .http
            .post(self.api(CHECK_REALNAME_PATH))
            .query(&[("access_token", token)])
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        answer(resp).await
    }
}

#[async_trait]
impl CityService for MiniProgramClient {
    async fn session(&self, js_code: &str) -> Result<MiniSession, WechatError> {
        let c = &self.config;
        let query = [
            ("appid", c.appid.as_str()),
            ("secret", c.secret.expose()),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ];
        let resp = self
            .http
            .get(self.api(JSCODE2SESSION_PATH))
            .query(&query)
            .send()
            .await
            .map_err(transport)?;
        answer(resp).await
    }

    async fn check_real_name(
        &self,
        openid: &str,
        person: &RealNameClaim,
        consent_code: &str,
    ) -> Result<RealNameCheck, WechatError> {
        let body = RealNameCheckRequest {
            openid,
            real_name: &person.name,
            cred_id: &person.id_number,
            cred_type: "1",
            code: consent_code,
        };
        let token = self.app_token(None).await?;
        let answer = match self.check_with(&token, &body).await {
            // 40001 (not the latest) or 42001 (expired): once more with a new token.
            Err(WechatError::BadCredential | WechatError::BadToken) => {
                let token = self.app_token(Some(&token)).await?;
                self.check_with(&token, &body).await?
            }
            other => other?,
        };
        answer.verdict()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(openid: &str, real_name: Option<&str>) -> RealNameCheckAnswer {
        RealNameCheckAnswer {
            verify_openid: openid.into(),
            verify_real_name: real_name.map(Into::into),
        }
    }

    #[test]
    fn a_match_needs_both_fields_and_anything_unknown_is_an_error() {
        use RealNameCheck::*;
        assert_eq!(answer("V_OP_NM_MA", Some("V_NM_ID_MA")).verdict(), Ok(Match));
        assert_eq!(answer("V_OP_NM_MA", Some("V_NM_ID_UM")).verdict(), Ok(IdMismatch));
        assert_eq!(answer("V_OP_NM_UM", Some("")).verdict(), Ok(NameMismatch));
        assert_eq!(answer("V_OP_NA", None).verdict(), Ok(NotRealNamed));
        // Several results: a mismatch anywhere is a mismatch.
        assert_eq!(
            answer("V_OP_NM_MA;V_OP_NM_UM", Some("V_NM_ID_MA")).verdict(),
            Ok(NameMismatch)
        );
        assert!(answer("V_OP_NM_MA", None).verdict().is_err());
        assert!(answer("V_OP_NM_MA", Some("")).verdict().is_err());
        assert!(answer("", None).verdict().is_err());
        assert!(answer("V_OP_SOMETHING_NEW", None).verdict().is_err());
    }
}
