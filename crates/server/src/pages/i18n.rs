//! The pages' two languages. Every string is a field of [`Text`], so a
//! string missing in one language does not compile; API error codes get
//! messages of their own in both ([`error_message`]).

use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::HeaderMap;
use shiming_domain::{CredentialKind, Nature, RealNameStatus, Role};

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
    pub pending_approval: &'static str,
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
    pub notice_rebind_denied: &'static str,
    pub notice_member_realname: &'static str,
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
    pub change: &'static str,
    pub rebind: &'static str,
    pub unbind: &'static str,
    pub bind: &'static str,
    pub step_word: &'static str,
    pub phone_change_title: &'static str,
    pub phone_bind_title: &'static str,
    pub wechat_rebind_title: &'static str,
    pub wechat_bind_title: &'static str,
    pub wechat_unbind_title: &'static str,
    pub step_up_title: &'static str,
    pub step_up_intro: &'static str,
    pub code_goes_to: &'static str,
    pub confirm_code: &'static str,
    pub step_up_wechat: &'static str,
    pub new_phone_title: &'static str,
    pub new_phone_label: &'static str,
    pub holder_intro: &'static str,
    pub phone_change_consent: &'static str,
    pub send_to_new_phone: &'static str,
    pub new_code_title: &'static str,
    pub code_sent_to: &'static str,
    pub other_number: &'static str,
    pub authorize_title: &'static str,
    pub authorize_rebind_intro: &'static str,
    pub authorize_bind_intro: &'static str,
    pub authorize_button: &'static str,
    pub preview_title: &'static str,
    pub preview_intro: &'static str,
    pub unbind_intro: &'static str,
    pub real_name_after: &'static str,
    pub status_after: &'static str,
    pub nature_after: &'static str,
    pub stops_signing_in: &'static str,
    pub sessions_ended: &'static str,
    pub person_changes: &'static str,
    pub confirm_before: &'static str,
    pub nothing: &'static str,
    pub accept_changes: &'static str,
    pub confirm: &'static str,
    pub done_title: &'static str,
    pub done_intro: &'static str,
    pub done_sessions: &'static str,
    pub invitation_title: &'static str,
    pub invitation_sign_in: &'static str,
    pub invitation_not_found: &'static str,
    pub enterprise: &'static str,
    pub role: &'static str,
    pub role_admin: &'static str,
    pub role_member: &'static str,
    pub expires: &'static str,
    pub invitation_state: &'static str,
    pub invitation_pending: &'static str,
    pub invitation_accepted: &'static str,
    pub invitation_declined: &'static str,
    pub invitation_revoked: &'static str,
    pub invitation_expired: &'static str,
    pub accept_invitation: &'static str,
    pub decline_invitation: &'static str,
    pub joined: &'static str,
    pub declined: &'static str,
    pub enterprise_effects: &'static str,
    pub suspended_until_approved: &'static str,
    pub enterprises_title: &'static str,
    pub no_enterprises: &'static str,
    pub your_role: &'static str,
    pub role_owner: &'static str,
    pub members_title: &'static str,
    pub account_state: &'static str,
    pub state_active: &'static str,
    pub state_frozen: &'static str,
    pub state_banned: &'static str,
    pub state_deleted: &'static str,
    pub joined_at: &'static str,
    pub flags: &'static str,
    pub flag_managed: &'static str,
    pub flag_person_changed: &'static str,
    pub flag_suspended: &'static str,
    pub flag_frozen: &'static str,
    pub filter_any: &'static str,
    pub apply_filter: &'static str,
    pub next_page: &'static str,
    pub older: &'static str,
    pub no_members: &'static str,
    pub reason: &'static str,
    pub freeze: &'static str,
    pub unfreeze: &'static str,
    pub approve_member: &'static str,
    pub member_frozen: &'static str,
    pub member_unfrozen: &'static str,
    pub member_approved: &'static str,
    pub approvals_title: &'static str,
    pub no_approvals: &'static str,
    pub member: &'static str,
    pub credential: &'static str,
    pub requested_at: &'static str,
    pub approve: &'static str,
    pub deny: &'static str,
    pub rebind_approved: &'static str,
    pub rebind_denied: &'static str,
    pub enterprise_log: &'static str,
    pub actor: &'static str,
    pub back_to_enterprise: &'static str,
    pub policies: &'static str,
    pub policy_realname_required: &'static str,
    pub policy_rebind_approval: &'static str,
    pub policy_members_may_leave: &'static str,
    pub policy_notify: &'static str,
    pub on: &'static str,
    pub off: &'static str,
}

impl Text {
    /// A real-name status, as the pages say it.
    pub fn status_word(&self, s: RealNameStatus) -> &'static str {
        match s {
            RealNameStatus::Verified => self.status_verified,
            RealNameStatus::Unverified => self.status_unverified,
            RealNameStatus::Inconsistent => self.status_inconsistent,
        }
    }

    /// An account's nature, as the pages say it.
    pub fn nature_word(&self, n: Nature) -> &'static str {
        match n {
            Nature::Personal => self.nature_personal,
            Nature::Enterprise => self.nature_enterprise,
        }
    }

    /// A kind of credential, as the pages say it.
    pub fn kind_word(&self, k: CredentialKind) -> &'static str {
        match k {
            CredentialKind::Phone => self.phone,
            CredentialKind::Wechat => self.wechat,
        }
    }

    /// A role in an enterprise, as the pages say it.
    pub fn role_word(&self, r: Role) -> &'static str {
        match r {
            Role::Owner => self.role_owner,
            Role::Admin => self.role_admin,
            Role::Member => self.role_member,
        }
    }
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
    pending_approval: "您的企业要求管理员审批换绑：已提交审批，批准后生效，结果会通知您。",
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
    notice_rebind_denied: "企业管理员拒绝了换绑",
    notice_member_realname: "企业成员的实名信息已变更（经由）",
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
    change: "更换",
    rebind: "换绑",
    unbind: "解绑",
    bind: "绑定",
    step_word: "步骤",
    phone_change_title: "更换绑定手机号",
    phone_bind_title: "绑定手机号",
    wechat_rebind_title: "换绑微信",
    wechat_bind_title: "绑定微信",
    wechat_unbind_title: "解绑微信",
    step_up_title: "验证身份",
    step_up_intro: "为了账号安全，更换或解绑前请先验证身份。验证在一段时间内有效。",
    code_goes_to: "验证码将发送到当前手机号：",
    confirm_code: "验证",
    step_up_wechat: "用微信验证",
    new_phone_title: "新手机号及机主",
    new_phone_label: "新手机号",
    holder_intro:
        "新号码的机主：如是当前实名认证的本人，姓名和身份证号留空；否则请填写机主的姓名和身份证号，由运营商核验。",
    phone_change_consent: "我同意将新号码及其机主的姓名、身份证号提交运营商核验。",
    send_to_new_phone: "发送验证码到新号码",
    new_code_title: "验证新号码",
    code_sent_to: "验证码已发送到",
    other_number: "换个号码",
    authorize_title: "微信授权",
    authorize_rebind_intro: "请用要换绑的新微信授权；授权后会显示变更内容，确认后才会生效。",
    authorize_bind_intro: "请用要绑定的微信授权。",
    authorize_button: "前往微信授权",
    preview_title: "确认变更",
    preview_intro: "确认后将发生以下变化：",
    unbind_intro: "解绑后将发生以下变化：",
    real_name_after: "变更后的实名",
    status_after: "实名状态",
    nature_after: "账号类型",
    stops_signing_in: "将不能再登录",
    sessions_ended: "将下线的其他设备",
    person_changes: "实名人将变更为另一人。",
    confirm_before: "请在此时间前确认：",
    nothing: "无",
    accept_changes: "我已了解上述变化",
    confirm: "确认",
    done_title: "已完成",
    done_intro: "变更已生效。当前实名状态：",
    done_sessions: "已下线的其他设备：",
    invitation_title: "企业邀请",
    invitation_sign_in: "请用收到这条邀请短信的手机号登录后查看邀请。",
    invitation_not_found: "没有找到发给本账号手机号的这条邀请。请确认登录的是收到短信的手机号。",
    enterprise: "企业",
    role: "身份",
    role_admin: "管理员",
    role_member: "成员",
    expires: "有效期至",
    invitation_state: "状态",
    invitation_pending: "待接受",
    invitation_accepted: "已接受",
    invitation_declined: "已拒绝",
    invitation_revoked: "已撤回",
    invitation_expired: "已过期",
    accept_invitation: "接受邀请",
    decline_invitation: "拒绝",
    joined: "您已加入该企业。",
    declined: "您已拒绝这条邀请。",
    enterprise_effects: "企业",
    suspended_until_approved: "：将不再管理本账号，您在该企业的成员身份将暂停，直至管理员重新确认",
    enterprises_title: "我的企业",
    no_enterprises: "您还没有加入任何企业。",
    your_role: "我的身份",
    role_owner: "创建者",
    members_title: "成员",
    account_state: "账号状态",
    state_active: "正常",
    state_frozen: "已冻结",
    state_banned: "已封禁",
    state_deleted: "已注销",
    joined_at: "加入时间",
    flags: "标记",
    flag_managed: "企业托管",
    flag_person_changed: "实名人已变更",
    flag_suspended: "已暂停",
    flag_frozen: "已冻结",
    filter_any: "全部",
    apply_filter: "筛选",
    next_page: "下一页",
    older: "更早的记录",
    no_members: "没有符合条件的成员。",
    reason: "原因",
    freeze: "冻结",
    unfreeze: "解冻",
    approve_member: "重新确认",
    member_frozen: "已冻结该成员。",
    member_unfrozen: "已解冻该成员。",
    member_approved: "已重新确认该成员。",
    approvals_title: "待审批的换绑",
    no_approvals: "暂无待审批的换绑。",
    member: "成员",
    credential: "换绑",
    requested_at: "申请时间",
    approve: "批准",
    deny: "拒绝",
    rebind_approved: "已批准，成员的换绑已生效。",
    rebind_denied: "已拒绝，成员会收到通知。",
    enterprise_log: "企业操作记录",
    actor: "操作人",
    back_to_enterprise: "返回企业",
    policies: "企业规则",
    policy_realname_required: "成员须完成实名认证",
    policy_rebind_approval: "托管账号换绑须经审批",
    policy_members_may_leave: "成员可自行退出",
    policy_notify: "成员实名变更时通知管理员",
    on: "是",
    off: "否",
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
    pending_approval: "Your enterprise has its admins approve rebinds: your change waits for their approval, and you will be told of their answer.",
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
    notice_rebind_denied: "An admin of your enterprise denied the rebind to",
    notice_member_realname: "A member's real name changed, by",
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
    change: "Change",
    rebind: "Rebind",
    unbind: "Unbind",
    bind: "Bind",
    step_word: "Step",
    phone_change_title: "Change the bound phone",
    phone_bind_title: "Bind a phone",
    wechat_rebind_title: "Rebind WeChat",
    wechat_bind_title: "Bind WeChat",
    wechat_unbind_title: "Unbind WeChat",
    step_up_title: "Confirm it is you",
    step_up_intro: "To keep your account safe, confirm it is you before a credential changes. The confirmation lasts a few minutes.",
    code_goes_to: "The code goes to your current phone:",
    confirm_code: "Confirm",
    step_up_wechat: "Confirm with WeChat",
    new_phone_title: "The new phone and its holder",
    new_phone_label: "New phone number",
    holder_intro: "The new number's holder: leave the name and ID number empty if it is you, the account's verified person; otherwise enter the holder's, for the carrier to check.",
    phone_change_consent: "I agree that the new number and its holder's name and ID number are sent to the carrier to check them.",
    send_to_new_phone: "Send a code to the new phone",
    new_code_title: "Verify the new phone",
    code_sent_to: "A code was sent to",
    other_number: "Use another number",
    authorize_title: "Authorize in WeChat",
    authorize_rebind_intro: "Authorize with the new WeChat: you will see what changes, and nothing changes until you confirm.",
    authorize_bind_intro: "Authorize with the WeChat to bind.",
    authorize_button: "Continue in WeChat",
    preview_title: "Review the change",
    preview_intro: "When you confirm, this is what changes:",
    unbind_intro: "Unbinding does this:",
    real_name_after: "Real name after",
    status_after: "Real-name status after",
    nature_after: "Account type after",
    stops_signing_in: "Will no longer sign in",
    sessions_ended: "Other devices signed out",
    person_changes: "The real-name person changes to another person.",
    confirm_before: "Confirm before",
    nothing: "None",
    accept_changes: "I understand the changes above",
    confirm: "Confirm",
    done_title: "Done",
    done_intro: "The change is made. Your real name now:",
    done_sessions: "Other devices signed out: ",
    invitation_title: "Invitation",
    invitation_sign_in: "Sign in with the phone number the invitation was texted to, to see it.",
    invitation_not_found: "No such invitation for this account's phone number. Check that you signed in with the number the text came to.",
    enterprise: "Enterprise",
    role: "Role",
    role_admin: "Admin",
    role_member: "Member",
    expires: "Expires",
    invitation_state: "State",
    invitation_pending: "Waiting for your answer",
    invitation_accepted: "Accepted",
    invitation_declined: "Declined",
    invitation_revoked: "Revoked",
    invitation_expired: "Expired",
    accept_invitation: "Accept",
    decline_invitation: "Decline",
    joined: "You joined the enterprise.",
    declined: "You declined the invitation.",
    enterprise_effects: "Enterprises",
    suspended_until_approved: ": stops managing this account, and your membership there is suspended until an admin approves you again",
    enterprises_title: "Enterprises",
    no_enterprises: "You are a member of no enterprise.",
    your_role: "Your role",
    role_owner: "Owner",
    members_title: "Members",
    account_state: "Account",
    state_active: "active",
    state_frozen: "frozen",
    state_banned: "banned",
    state_deleted: "deleted",
    joined_at: "Joined",
    flags: "Flags",
    flag_managed: "managed",
    flag_person_changed: "person changed",
    flag_suspended: "suspended",
    flag_frozen: "frozen",
    filter_any: "any",
    apply_filter: "Filter",
    next_page: "Next page",
    older: "Older",
    no_members: "No member matches.",
    reason: "Reason",
    freeze: "Freeze",
    unfreeze: "Unfreeze",
    approve_member: "Approve again",
    member_frozen: "The member is frozen.",
    member_unfrozen: "The member is unfrozen.",
    member_approved: "The member is approved again.",
    approvals_title: "Rebinds awaiting approval",
    no_approvals: "No rebind is waiting.",
    member: "Member",
    credential: "Rebinds",
    requested_at: "Asked",
    approve: "Approve",
    deny: "Deny",
    rebind_approved: "Approved: the member's rebind is done.",
    rebind_denied: "Denied: the member is told.",
    enterprise_log: "Enterprise log",
    actor: "By",
    back_to_enterprise: "Back to the enterprise",
    policies: "Policies",
    policy_realname_required: "Members must verify their real name",
    policy_rebind_approval: "Rebinds of managed accounts need approval",
    policy_members_may_leave: "Members may leave",
    policy_notify: "Admins are told of real-name changes",
    on: "yes",
    off: "no",
};

/// An audit event's name for people, by its type.
pub fn event_name(lang: Lang, kind: &str) -> &'static str {
    let (zh, en) = match kind {
        "account.created" => ("创建账号", "Account created"),
        "account.state_changed" => ("账号状态变更", "Account state changed"),
        "account.nature_changed" => ("账号变为个人账号", "Account became personal"),
        "enterprise.member_provisioned" => ("为成员开通账号", "Opened an account for a member"),
        "enterprise.member_person_changed" => (
            "实名人变更，企业成员身份暂停",
            "Real-name person changed: membership suspended",
        ),
        "enterprise.member_approved" => ("重新确认成员", "Approved a member again"),
        "enterprise.member_frozen" => ("冻结成员", "Froze a member"),
        "enterprise.member_unfrozen" => ("解冻成员", "Unfroze a member"),
        "enterprise.rebind_approval_requested" => ("换绑待企业审批", "Asked the enterprise to approve a rebind"),
        "enterprise.rebind_approved" => ("批准成员换绑", "Approved a member's rebind"),
        "enterprise.rebind_denied" => ("拒绝成员换绑", "Denied a member's rebind"),
        "session.created" => ("登录", "Signed in"),
        "session.revoked" => ("一个设备退出或被下线", "A device signed out"),
        "sessions.revoked_others" => ("下线其他设备", "Other devices signed out"),
        "session.stepped_up" => ("安全验证", "Identity confirmed (step-up)"),
        "realname.verified" => ("实名认证", "Real name verified"),
        "realname.changed" => ("实名信息变更", "Real name changed"),
        "credential.bound" => ("绑定", "Bound"),
        "credential.rebound" => ("换绑", "Rebound"),
        "credential.unbound" => ("解绑", "Unbound"),
        "enterprise.created" => ("创建企业", "Enterprise created"),
        "enterprise.renamed" => ("修改企业名称", "Enterprise renamed"),
        "enterprise.policy_changed" => ("修改企业规则", "Enterprise policy changed"),
        "enterprise.left" => ("退出企业", "Left an enterprise"),
        "enterprise.member_removed" => ("移出成员", "Removed a member"),
        "enterprise.role_changed" => ("调整成员身份", "Changed a member's role"),
        "enterprise.ownership_transferred" => ("转让企业", "Handed an enterprise on"),
        "enterprise.invited" => ("邀请成员", "Invited someone"),
        "enterprise.invitation_revoked" => ("撤回邀请", "Revoked an invitation"),
        "enterprise.joined" => ("加入企业", "Joined an enterprise"),
        "enterprise.invitation_declined" => ("拒绝邀请", "Declined an invitation"),
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
        "step_up_required" => (
            "验证已过期，请重新验证身份。",
            "Your confirmation expired: confirm it is you again.",
        ),
        "step_up_unavailable" => (
            "无法验证身份：账号没有可用于验证的手机号或微信。",
            "There is no phone or WeChat to confirm it is you with.",
        ),
        "flow_expired" => ("操作已过期，请重新开始。", "This step expired: start again."),
        "credential_in_use" => (
            "该号码或微信已绑定其他账号。",
            "This number or WeChat is bound to another account.",
        ),
        "no_change" => ("与当前绑定的相同，无需更换。", "That is the one bound already."),
        "person_incomplete" => (
            "请同时填写机主的姓名和身份证号，或都留空。",
            "Enter both the holder's name and ID number, or neither.",
        ),
        "consequences_not_accepted" => (
            "请先勾选“我已了解上述变化”。",
            "Tick \u{201c}I understand the changes above\u{201d} first.",
        ),
        "preview_changed" => (
            "账号情况已变化，请重新查看变更内容后确认。",
            "Something changed meanwhile: review the changes again, then confirm.",
        ),
        "last_credential" => (
            "这是账号唯一的登录方式，不能解绑：请先绑定手机号。",
            "This is the account's only way to sign in: bind a phone before unbinding it.",
        ),
        "no_wechat_bound" => ("账号未绑定微信。", "No WeChat is bound to this account."),
        "already_bound" => ("账号已绑定微信。", "This account has WeChat bound already."),
        "rebind_limit" => (
            "换绑过于频繁，请稍后再试。",
            "Too many rebinds lately: try again later.",
        ),
        "credential_not_verified" => (
            "新的号码或微信未通过实名核验。",
            "The new number or WeChat did not pass the real-name check.",
        ),
        "wechat_denied" => ("您拒绝了微信授权。", "You declined the WeChat authorization."),
        "wrong_identity" => (
            "请使用账号已绑定的微信验证。",
            "Confirm with the WeChat bound to this account.",
        ),
        "wechat_not_bound" => (
            "该微信未绑定账号：请先用手机号登录，再绑定微信。",
            "This WeChat is bound to no account: sign in by phone, then bind it.",
        ),
        "oauth_state_invalid" | "wechat_code_invalid" | "wechat_scope_not_granted" => (
            "微信授权未完成，请重试。",
            "The WeChat authorization did not complete: try again.",
        ),
        "wechat_not_configured" | "wechat_unavailable" => (
            "微信暂时不可用，请稍后再试或使用手机号。",
            "WeChat is unavailable: try later, or use your phone.",
        ),
        "unauthenticated" => ("请重新登录。", "Sign in again."),
        "invitation_expired" => (
            "邀请已过期，请联系管理员重新邀请。",
            "The invitation expired: ask the admin for a new one.",
        ),
        "invitation_closed" => (
            "这条邀请已被处理或撤回。",
            "The invitation was answered or revoked already.",
        ),
        "invalid_request" => ("请检查填写的内容。", "Check what you entered."),
        "enterprise_admin_required" => (
            "只有企业创建者和管理员可以这样做。",
            "Only the owner and admins may do this.",
        ),
        "enterprise_owner_required" => ("只有企业创建者可以这样做。", "Only the owner may do this."),
        "membership_frozen" => ("您在该企业中已被冻结。", "You are frozen in this enterprise."),
        "membership_suspended" => (
            "您的实名人已变更，在管理员重新确认前暂停。",
            "Your real-name person changed: suspended until an admin approves you again.",
        ),
        "realname_required" => (
            "该企业要求成员完成实名认证。",
            "This enterprise asks its members to verify their real name.",
        ),
        "approval_closed" => ("这项换绑已被处理。", "This rebind was decided already."),
        "own_approval" => (
            "不能审批自己的换绑，请由其他管理员或创建者审批。",
            "You cannot approve your own rebind: another admin, or the owner, does.",
        ),
        "unbind_needs_approval" => (
            "该账号由企业托管，企业要求换绑经审批，不能直接解绑微信；请改为换绑。",
            "Your enterprise approves changes to this account: rebind WeChat instead of unbinding it.",
        ),
        "leave_forbidden" => (
            "该企业不允许成员自行退出。",
            "This enterprise keeps members from leaving by themselves.",
        ),
        "owner_must_transfer" => ("请先转让企业。", "Hand the ownership on first."),
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

    /// Every event an account's security log can show has a name of its
    /// own in both languages: each kind of architecture.md's table of the
    /// events written, but the chain's own (which belongs to no account).
    #[test]
    fn every_event_written_has_a_name() {
        let page = include_str!("../../../../docs/architecture.md");
        let table = page
            .split("\n## ")
            .find(|s| s.starts_with("Audit events written today"))
            .expect("the table of events");
        let kinds: Vec<&str> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .filter(|k| *k != "audit.chain_keyed")
            .collect();
        assert!(kinds.len() > 20, "{kinds:?}");
        for kind in kinds {
            for lang in [Lang::ZhCn, Lang::En] {
                assert_ne!(event_name(lang, kind), event_name(lang, "no.such.event"), "{kind}");
            }
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
