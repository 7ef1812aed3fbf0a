//! The pages' two languages. Every string is a field of [`Text`], so a
//! string missing in one language does not compile; API error codes get
//! messages of their own in both ([`error_message`]).

use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::HeaderMap;

use crate::session::{self, CookieName};
use crate::state::AppState;

/// Remembers the language switch.
pub const LANG_COOKIE: CookieName = CookieName {
    plain: "shiming_lang",
    host: "__Host-shiming_lang",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    /// The `lang` attribute and the cookie's value.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(tag: &str) -> Option<Lang> {
        [Lang::ZhCn, Lang::En]
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(tag))
    }

    /// The other language, which the switch offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::ZhCn => Lang::En,
            Lang::En => Lang::ZhCn,
        }
    }

    /// The switch's cookie, then `Accept-Language`, then zh-CN.
    pub fn of(state: &AppState, headers: &HeaderMap) -> Lang {
        session::cookie_value(state, headers, LANG_COOKIE)
            .and_then(|v| Lang::parse(&v))
            .or_else(|| {
                let accepted = headers.get(ACCEPT_LANGUAGE)?.to_str().ok()?;
                Lang::accepted(accepted)
            })
            .unwrap_or(Lang::ZhCn)
    }

    /// The first language of an `Accept-Language` value that is Chinese or
    /// English, in the order the browser lists them.
    fn accepted(value: &str) -> Option<Lang> {
        value.split(',').find_map(|range| {
            let tag = range.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag.starts_with("zh") {
                Some(Lang::ZhCn)
            } else if tag.starts_with("en") {
                Some(Lang::En)
            } else {
                None
            }
        })
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::ZhCn => &ZH_CN,
            Lang::En => &EN,
        }
    }
}

/// Every string of the pages.
pub struct Text {
    pub product: &'static str,
    pub switch_to: &'static str,
    pub sign_out: &'static str,
    pub login_title: &'static str,
    pub login_intro: &'static str,
    pub phone_label: &'static str,
    pub phone_hint: &'static str,
    pub code_label: &'static str,
    pub send_code: &'static str,
    pub resend_in: &'static str,
    pub code_sent: &'static str,
    pub sign_in: &'static str,
    pub registers: &'static str,
    pub wechat_sign_in: &'static str,
    pub account_title: &'static str,
    pub real_name: &'static str,
    pub status_verified: &'static str,
    pub status_unverified: &'static str,
    pub status_inconsistent: &'static str,
    pub name: &'static str,
    pub id_number: &'static str,
    pub source: &'static str,
    pub source_phone: &'static str,
    pub source_wechat: &'static str,
    pub wechat_attests_nobody: &'static str,
    pub phone: &'static str,
    pub wechat: &'static str,
    pub none_bound: &'static str,
    pub verified_mark: &'static str,
    pub nature: &'static str,
    pub nature_personal: &'static str,
    pub nature_enterprise: &'static str,
    pub sessions: &'static str,
    pub notices: &'static str,
    pub no_notices: &'static str,
    pub notice_bound: &'static str,
    pub notice_rebound: &'static str,
    pub notice_unbound: &'static str,
    pub notice_first_sign_in: &'static str,
    pub unread: &'static str,
    pub verify_real_name: &'static str,
    pub real_name_title: &'static str,
    pub real_name_intro: &'static str,
    pub consent_text: &'static str,
    pub submit_verification: &'static str,
    pub back_to_account: &'static str,
    pub sessions_title: &'static str,
    pub this_device: &'static str,
    pub unknown_device: &'static str,
    pub signed_in_at: &'static str,
    pub last_seen: &'static str,
    pub sign_out_device: &'static str,
    pub sign_out_others: &'static str,
    pub others_signed_out: &'static str,
    pub audit_title: &'static str,
    pub no_events: &'static str,
    pub manage: &'static str,
    pub view: &'static str,
}

pub static ZH_CN: Text = Text {
    product: "实名账号",
    switch_to: "English",
    sign_out: "退出登录",
    login_title: "登录",
    login_intro: "使用手机号和短信验证码登录。",
    phone_label: "手机号",
    phone_hint: "中国大陆手机号，如 13800138000",
    code_label: "验证码",
    send_code: "获取验证码",
    resend_in: "秒后可重新获取",
    code_sent: "验证码已发送，5 分钟内有效。",
    sign_in: "登录",
    registers: "验证码登录即注册",
    wechat_sign_in: "微信登录",
    account_title: "账号与安全",
    real_name: "实名认证",
    status_verified: "已实名",
    status_unverified: "未实名",
    status_inconsistent: "实名信息不一致",
    name: "姓名",
    id_number: "证件号",
    source: "来源",
    source_phone: "手机号（运营商核验）",
    source_wechat: "微信",
    wechat_attests_nobody: "本服务不从微信读取实名：实名信息来自绑定的手机号。",
    phone: "手机号",
    wechat: "微信",
    none_bound: "未绑定",
    verified_mark: "已实名",
    nature: "账号类型",
    nature_personal: "个人",
    nature_enterprise: "企业",
    sessions: "登录设备",
    notices: "账号通知",
    no_notices: "暂无通知",
    notice_bound: "绑定了",
    notice_rebound: "换绑了",
    notice_unbound: "解绑了",
    notice_first_sign_in: "首次用于登录：",
    unread: "未读",
    verify_real_name: "去实名认证",
    real_name_title: "实名认证",
    real_name_intro: "输入本人姓名和身份证号，由运营商核验它们与绑定手机号的机主一致。",
    consent_text: "我同意将姓名、身份证号和手机号提交运营商用于实名核验。信息加密保存，仅用于认证。",
    submit_verification: "提交认证",
    back_to_account: "返回账号与安全",
    sessions_title: "登录设备",
    this_device: "当前设备",
    unknown_device: "未知设备",
    signed_in_at: "登录于",
    last_seen: "最近使用",
    sign_out_device: "下线",
    sign_out_others: "下线其他所有设备",
    others_signed_out: "其他设备已下线：",
    audit_title: "安全记录",
    no_events: "暂无记录",
    manage: "管理",
    view: "查看",
};

pub static EN: Text = Text {
    product: "Real-name account",
    switch_to: "中文",
    sign_out: "Sign out",
    login_title: "Sign in",
    login_intro: "Sign in with your phone number and a text-message code.",
    phone_label: "Phone number",
    phone_hint: "A mainland China mobile number, e.g. 13800138000",
    code_label: "Code",
    send_code: "Send code",
    resend_in: "s until you can ask again",
    code_sent: "The code is on its way; it works for 5 minutes.",
    sign_in: "Sign in",
    registers: "Signing in with a code creates your account if you have none",
    wechat_sign_in: "Sign in with WeChat",
    account_title: "Account & Security",
    real_name: "Real name",
    status_verified: "Verified",
    status_unverified: "Not verified",
    status_inconsistent: "Inconsistent",
    name: "Name",
    id_number: "ID number",
    source: "Source",
    source_phone: "phone (carrier check)",
    source_wechat: "WeChat",
    wechat_attests_nobody: "This service reads no real name from WeChat: the real name comes from your bound phone.",
    phone: "Phone",
    wechat: "WeChat",
    none_bound: "Not bound",
    verified_mark: "verified",
    nature: "Account type",
    nature_personal: "Personal",
    nature_enterprise: "Enterprise",
    sessions: "Signed-in devices",
    notices: "Account notices",
    no_notices: "No notices",
    notice_bound: "Bound",
    notice_rebound: "Rebound",
    notice_unbound: "Unbound",
    notice_first_sign_in: "First sign-in with",
    unread: "unread",
    verify_real_name: "Verify your real name",
    real_name_title: "Verify your real name",
    real_name_intro: "Enter your name and ID number: the carrier checks that they are those of the holder of your bound phone.",
    consent_text: "I agree that my name, ID number and phone number are sent to the carrier to verify my real name. They are stored encrypted and used for nothing else.",
    submit_verification: "Verify",
    back_to_account: "Back to Account & Security",
    sessions_title: "Signed-in devices",
    this_device: "This device",
    unknown_device: "Unknown device",
    signed_in_at: "Signed in",
    last_seen: "Last seen",
    sign_out_device: "Sign out",
    sign_out_others: "Sign out all other devices",
    others_signed_out: "Other devices signed out: ",
    audit_title: "Security log",
    no_events: "Nothing recorded yet",
    manage: "Manage",
    view: "View",
};

/// An audit event's name for people, by its type.
pub fn event_name(lang: Lang, kind: &str) -> &'static str {
    let (zh, en) = match kind {
        "account.created" => ("创建账号", "Account created"),
        "session.created" => ("登录", "Signed in"),
        "session.revoked" => ("一个设备退出或被下线", "A device signed out"),
        "sessions.revoked_others" => ("下线其他设备", "Other devices signed out"),
        "session.stepped_up" => ("安全验证", "Identity confirmed (step-up)"),
        "realname.verified" => ("实名认证", "Real name verified"),
        "realname.changed" => ("实名信息变更", "Real name changed"),
        "credential.bound" => ("绑定", "Bound"),
        "credential.rebound" => ("换绑", "Rebound"),
        "credential.unbound" => ("解绑", "Unbound"),
        _ => ("其他操作", "Other"),
    };
    match lang {
        Lang::ZhCn => zh,
        Lang::En => en,
    }
}

/// A refusal's message for people, by its API code, in `lang`.
pub fn error_message(lang: Lang, code: &str) -> &'static str {
    let (zh, en) = match code {
        "invalid_phone" => (
            "请输入正确的中国大陆手机号。",
            "Enter a valid mainland China mobile number.",
        ),
        "invalid_code" => ("验证码为 6 位数字。", "The code is 6 digits."),
        "code_incorrect" => ("验证码错误或已失效。", "The code is wrong or no longer works."),
        "code_expired" => ("验证码已过期，请重新获取。", "The code expired: ask for a new one."),
        "too_many_attempts" => (
            "错误次数过多，请重新获取验证码。",
            "Too many wrong tries: ask for a new code.",
        ),
        "rate_limited" => (
            "操作太频繁，请稍后再试。",
            "Too many requests: try again a little later.",
        ),
        "registration_closed" => ("暂不开放注册。", "Registration is closed."),
        "account_restricted" => ("该账号已被限制使用。", "This account is restricted."),
        "sms_delivery_failed" => (
            "短信发送失败，请稍后再试。",
            "The text could not be sent: try again later.",
        ),
        "csrf_invalid" => (
            "页面已过期，请刷新后重试。",
            "The page expired: reload it and try again.",
        ),
        "consent_required" => ("请先勾选同意。", "Tick the consent box first."),
        "invalid_name" => ("请输入正确的姓名。", "Enter your name as on your ID card."),
        "invalid_id_number" => ("请输入正确的 18 位身份证号。", "Enter a valid 18-character ID number."),
        "realname_mismatch" => (
            "运营商核验未通过：姓名、身份证号与手机号机主不一致。",
            "The carrier did not confirm it: the name and ID number are not those of the phone's holder.",
        ),
        "realname_not_editable" => (
            "实名信息不能直接修改，只能通过换绑手机号或微信变更。",
            "A real name cannot be edited: it changes only by rebinding the phone or WeChat.",
        ),
        "no_phone_bound" => ("请先绑定手机号。", "Bind a phone first."),
        "verifier_unavailable" => (
            "核验服务暂时不可用，请稍后再试。",
            "The check is unavailable: try again later.",
        ),
        "not_found" => ("没有找到。", "Not found."),
        _ => ("出错了，请稍后再试。", "Something went wrong: try again later."),
    };
    match lang {
        Lang::ZhCn => zh,
        Lang::En => en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_gives_the_first_of_ours_in_the_browsers_order() {
        for (header, want) in [
            ("en-US,en;q=0.9,zh-CN;q=0.8", Some(Lang::En)),
            ("fr-FR, zh-TW;q=0.8, en;q=0.5", Some(Lang::ZhCn)),
            ("EN", Some(Lang::En)),
            ("de-DE", None),
            ("", None),
        ] {
            assert_eq!(Lang::accepted(header), want, "{header}");
        }
    }

    #[test]
    fn the_switch_cookie_names_a_language_or_nothing() {
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("zh-cn"), Some(Lang::ZhCn));
        assert_eq!(Lang::parse("fr"), None);
        for lang in [Lang::ZhCn, Lang::En] {
            assert_eq!(Lang::parse(lang.tag()), Some(lang));
            assert_eq!(lang.other().other(), lang);
        }
    }
}
