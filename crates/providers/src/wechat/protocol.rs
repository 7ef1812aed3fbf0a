//! Wire shapes of WeChat's OAuth endpoints, shared by the client and the
//! development server.

use serde::{Deserialize, Serialize};

pub const QRCONNECT_PATH: &str = "/connect/qrconnect";
pub const AUTHORIZE_PATH: &str = "/connect/oauth2/authorize";
pub const ACCESS_TOKEN_PATH: &str = "/sns/oauth2/access_token";
pub const USERINFO_PATH: &str = "/sns/userinfo";
/// The real-name information authorization of the platform, in WeChat's style.
pub const REALNAME_PATH: &str = "/sns/realname";

/// How the browser is sent to WeChat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizeMode {
    /// PC QR login at `connect/qrconnect`, `scope=snsapi_login`.
    Qr,
    /// Inside WeChat, silent: `snsapi_base` (no userinfo).
    InWechatBase,
    /// Inside WeChat, with consent: `snsapi_userinfo`.
    InWechatUserinfo,
}

impl AuthorizeMode {
    pub fn scope(self) -> &'static str {
        match self {
            AuthorizeMode::Qr => "snsapi_login",
            AuthorizeMode::InWechatBase => "snsapi_base",
            AuthorizeMode::InWechatUserinfo => "snsapi_userinfo",
        }
    }
}

/// What `sns/oauth2/access_token` grants.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub openid: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserInfo {
    pub openid: String,
    pub nickname: String,
    #[serde(default)]
    pub headimgurl: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

/// The person WeChat's real-name verification attests for an identity, as
/// given to the platform (unvalidated here; the caller validates).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RealNameClaim {
    pub name: String,
    pub id_number: String,
}

impl std::fmt::Debug for RealNameClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RealNameClaim(..)")
    }
}

/// `sns/realname`'s answer: `verified` false carries no person.
#[derive(Debug, Serialize, Deserialize)]
pub struct RealNameAnswer {
    pub openid: String,
    pub verified: bool,
    #[serde(default, flatten)]
    pub claim: Option<RealNameClaim>,
}

/// WeChat's error body, sent with HTTP 200.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub errcode: i64,
    pub errmsg: String,
}
