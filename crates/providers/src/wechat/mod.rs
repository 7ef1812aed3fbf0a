//! WeChat as WeChat documents it. OAuth 2.0 web login: an authorize redirect
//! (`connect/qrconnect` for the PC QR login, `connect/oauth2/authorize` inside
//! WeChat), the code exchange at `sns/oauth2/access_token`, `sns/userinfo`.
//! The real name: WeChat city services' check of a name and ID number
//! (`intp/realname/checkrealnameinfo`, by a mini program), or a platform's
//! own real-name claim endpoint where an operator has one (not WeChat's).
//! WeChat answers errors as HTTP 200 with `{"errcode", "errmsg"}`; they
//! become [`WechatError`].

mod client;
mod dev;
mod miniprogram;
mod protocol;

use async_trait::async_trait;
use thiserror::Error;

pub use client::{WechatClient, WechatConfig};
pub use dev::{test_identities, DevApp, DevWechat, DevWechatUser, WechatFault};
pub use miniprogram::{CityService, MiniProgramClient, MiniProgramConfig, RealNameCheck};
pub use protocol::{AuthorizeMode, MiniSession, RealNameClaim, TokenGrant, UserInfo, REALNAME_PATH};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WechatError {
    #[error("WeChat says the authorization code is invalid (40029)")]
    InvalidCode,
    #[error("WeChat says the authorization code was used already (40163)")]
    CodeUsed,
    #[error("WeChat says the authorization code expired (42003)")]
    CodeExpired,
    #[error("WeChat refused the app's credentials (40001)")]
    BadCredential,
    #[error("WeChat refused the access token (40014)")]
    BadToken,
    #[error("the user did not grant the scope this needs (48001)")]
    ScopeNotGranted,
    #[error("WeChat answered errcode {errcode}")]
    Other { errcode: i64 },
    #[error("WeChat did not answer in time")]
    Timeout,
    #[error("WeChat could not be reached: {0}")]
    Unreachable(String),
    #[error("WeChat answered something unexpected: {0}")]
    Protocol(String),
}

impl WechatError {
    pub fn from_errcode(errcode: i64) -> Self {
        match errcode {
            40029 => WechatError::InvalidCode,
            40163 => WechatError::CodeUsed,
            42003 => WechatError::CodeExpired,
            40001 | 40125 | 40013 => WechatError::BadCredential,
            40014 | 42001 => WechatError::BadToken,
            48001 => WechatError::ScopeNotGranted,
            other => WechatError::Other { errcode: other },
        }
    }
}

/// The server side of WeChat web login: everything after the browser came back
/// with a code.
#[async_trait]
pub trait WechatProvider: Send + Sync {
    /// The URL to send the browser to.
    fn authorize_url(&self, mode: AuthorizeMode, redirect_uri: &str, state: &str) -> String;

    async fn exchange_code(&self, code: &str) -> Result<TokenGrant, WechatError>;

    async fn userinfo(&self, grant: &TokenGrant) -> Result<UserInfo, WechatError>;

    /// The identity's real-name claim from the platform claim endpoint
    /// (`wechat.realname = "platform_claim"`); `None` when the identity has
    /// none, or when no claim endpoint is configured (WeChat serves none).
    async fn real_name(&self, grant: &TokenGrant) -> Result<Option<RealNameClaim>, WechatError>;
}
