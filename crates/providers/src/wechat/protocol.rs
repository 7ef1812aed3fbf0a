//! Wire shapes of WeChat's OAuth endpoints, shared by the client and the
//! development server.

use serde::{Deserialize, Serialize};

pub const QRCONNECT_PATH: &str = "/connect/qrconnect";
pub const AUTHORIZE_PATH: &str = "/connect/oauth2/authorize";
pub const ACCESS_TOKEN_PATH: &str = "/sns/oauth2/access_token";
pub const USERINFO_PATH: &str = "/sns/userinfo";
/// The default path of a platform real-name claim endpoint (see
/// docs/providers.md): an integration an operator provides, never WeChat's.
pub const REALNAME_PATH: &str = "/sns/realname";
/// The mini program's app token, the same for every caller (`cgi-bin/token`'s
/// successor).
pub const STABLE_TOKEN_PATH: &str = "/cgi-bin/stable_token";
/// A mini program's `wx.login` code for the user's openid and unionid.
pub const JSCODE2SESSION_PATH: &str = "/sns/jscode2session";
/// WeChat city services' real-name information check (实名信息校验).
pub const CHECK_REALNAME_PATH: &str = "/intp/realname/checkrealnameinfo";

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

/// `cgi-bin/stable_token`'s request body.
#[derive(Debug, Serialize, Deserialize)]
pub struct StableTokenRequest<'a> {
    pub grant_type: &'a str,
    pub appid: &'a str,
    pub secret: &'a str,
    #[serde(default)]
    pub force_refresh: bool,
}

/// An app access token and its lifetime in seconds.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppToken {
    pub access_token: String,
    pub expires_in: i64,
}

/// What `sns/jscode2session` tells of a mini program's user (its
/// `session_key` is not read: nothing here decrypts the user's data).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MiniSession {
    pub openid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

/// `intp/realname/checkrealnameinfo`'s request body.
#[derive(Serialize, Deserialize)]
pub struct RealNameCheckRequest<'a> {
    pub openid: &'a str,
    pub real_name: &'a str,
    pub cred_id: &'a str,
    /// `"1"`: a mainland identity card, the only kind WeChat checks.
    pub cred_type: &'a str,
    pub code: &'a str,
}

/// `intp/realname/checkrealnameinfo`'s answer (errcode 0).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RealNameCheckAnswer {
    /// `V_OP_NA`, `V_OP_NM_MA` or `V_OP_NM_UM`; several joined by `;`.
    pub verify_openid: String,
    /// `V_NM_ID_MA` or `V_NM_ID_UM`, when `verify_openid` is `V_OP_NM_MA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_real_name: Option<String>,
}
