//! Issuing and checking one-time SMS codes.

use shiming_domain::{CodePurpose, Phone, SmsCode};
use shiming_store::{CodeHolder, CodeTry, NewCode, NewPendingChange, RateLimit, Tried};

use super::security::phone_hash;
use crate::error::{ApiError, ApiResult};
use crate::session::Authenticated;
use crate::state::AppState;

/// What a client learns about a sent code.
pub struct Sent {
    pub expires_in: i64,
    pub resend_after: i64,
}

fn code_hash(state: &AppState, phone: &Phone, purpose: CodePurpose, code: &SmsCode) -> Vec<u8> {
    state
        .vault
        .keyed_hash(
            "sms-code",
            &format!("{}\u{1f}{}\u{1f}{}", purpose.as_str(), phone.e164(), code.as_str()),
        )
        .to_vec()
}

fn message(purpose: CodePurpose, code: &SmsCode, ttl_minutes: i64) -> String {
    let what = match purpose {
        CodePurpose::Login => "登录",
        CodePurpose::StepUp => "身份验证",
        CodePurpose::PhoneChange => "更换绑定手机号",
    };
    format!(
        "【shiming】您的{what}验证码是 {}，{ttl_minutes} 分钟内有效，请勿告诉他人。Your shiming code is {}.",
        code.as_str(),
        code.as_str()
    )
}

/// The client address's hourly allowance of code tries that fail.
fn failed_tries_limit(state: &AppState, client_ip: &str, now: i64) -> RateLimit {
    RateLimit {
        bucket: "code_failed_ip_hour".into(),
        key: state.vault.keyed_hash("ip", client_ip).to_vec(),
        window: 3600,
        limit: state.config.sms.failed_tries_per_ip_per_hour,
        now,
    }
}

/// Issues a code for `purpose` to `phone` and sends it (opening `opens`, the
/// pending change it proves, with it); a code for an account (step-up,
/// phone change) serves the calling session only. Limits: one code
/// per phone and purpose per cool-down; hourly caps per phone, sign-in codes
/// and account-security codes in buckets of their own; an hourly cap per
/// client address across purposes.
pub async fn send(
    state: &AppState,
    phone: &Phone,
    purpose: CodePurpose,
    who: Option<&Authenticated>,
    client_ip: &str,
    opens: Option<NewPendingChange>,
) -> ApiResult<Sent> {
    let cfg = &state.config.sms;
    let now = state.now();
    let phone_hash = phone_hash(&state.vault, phone);
    let (phone_bucket, per_phone) = match purpose {
        CodePurpose::Login => ("sms_phone_hour:login", cfg.per_phone_per_hour),
        CodePurpose::StepUp | CodePurpose::PhoneChange => ("sms_phone_hour:account", cfg.security_per_phone_per_hour),
    };
    let limits = [
        RateLimit {
            bucket: format!("sms_resend:{}", purpose.as_str()),
            key: phone_hash.clone(),
            window: cfg.resend_after_secs,
            limit: 1,
            now,
        },
        RateLimit {
            bucket: phone_bucket.into(),
            key: phone_hash.clone(),
            window: 3600,
            limit: per_phone,
            now,
        },
        RateLimit {
            bucket: "sms_ip_hour".into(),
            key: state.vault.keyed_hash("ip", client_ip).to_vec(),
            window: 3600,
            limit: cfg.per_ip_per_hour,
            now,
        },
    ];
    let code = SmsCode::from_random(rand::random::<u32>);
    let text = message(purpose, &code, (cfg.code_ttl_secs + 59) / 60);
    // The development outbox takes the text in the code's own transaction;
    // a gateway is called once the code is stored.
    let outbox = state.outbox.as_ref().map(|o| o.message(phone, &text));
    let in_outbox = outbox.is_some();
    let record = NewCode {
        account_id: who.map(|w| w.account_id.clone()),
        session_id: who.map(|w| w.session_id.clone()),
        phone_hash,
        purpose,
        code_hash: code_hash(state, phone, purpose, &code),
        created_at: now,
        expires_at: now + cfg.code_ttl_secs,
        outbox,
        opens,
    };
    let id = state.store.issue_code(record, &limits).await?;
    if !in_outbox {
        if let Err(e) = state.sms.send(phone, &text).await {
            // An unsent code must not stay usable, nor be reported as sent, nor
            // hold the person back by a cool-down for a text that never came.
            state.store.discard_code(id, &limits).await?;
            return Err(e.into());
        }
    }
    metrics::counter!("shiming_sms_sent_total", "purpose" => purpose.as_str()).increment(1);
    Ok(Sent {
        expires_in: cfg.code_ttl_secs,
        resend_after: cfg.resend_after_secs,
    })
}

/// Checks a typed code against the live code of the phone and purpose (and
/// the session it was sent for, where it was sent for one), and uses it up
/// on a match, then takes `then` (a check the code is the licence for, such
/// as the carrier's), all in one transaction. See [`code_try`] for what a
/// try counts.
pub async fn check(
    state: &AppState,
    phone: &Phone,
    purpose: CodePurpose,
    who: Option<&Authenticated>,
    typed: &SmsCode,
    client_ip: &str,
    then: Vec<RateLimit>,
) -> ApiResult<()> {
    let code = code_try(state, phone, purpose, who, typed, client_ip, then);
    match state.store.take_try(code).await? {
        Tried::UsedUp { then: Ok(()) } => Ok(()),
        refused => Err(refusal(state, who, refused)),
    }
}

/// A try of a typed code, for the store to make in the transaction of the
/// commit the code proves ([`check`]'s, a sign-in's, a step-up's). Every
/// try is counted atomically on the code before it is compared; the try
/// that reaches the limit burns it. Every try also counts against the
/// client address's allowance of failed tries, in the same transaction,
/// and a match gives it back.
pub fn code_try(
    state: &AppState,
    phone: &Phone,
    purpose: CodePurpose,
    who: Option<&Authenticated>,
    typed: &SmsCode,
    client_ip: &str,
    then: Vec<RateLimit>,
) -> CodeTry {
    let now = state.now();
    CodeTry {
        phone_hash: phone_hash(&state.vault, phone),
        purpose,
        holder: who.map(|w| CodeHolder {
            account_id: w.account_id.clone(),
            session_id: w.session_id.clone(),
        }),
        typed_hash: code_hash(state, phone, purpose, typed),
        now,
        max_attempts: state.config.sms.max_attempts,
        limits: vec![failed_tries_limit(state, client_ip, now)],
        then,
    }
}

/// The error for a code the store did not use up. An anonymous caller
/// (sign-in) gets one answer for every failure of the code, so that nobody
/// learns whether a phone has a code waiting, i.e. who is signing in.
pub fn refusal(state: &AppState, who: Option<&Authenticated>, tried: Tried) -> ApiError {
    let max = state.config.sms.max_attempts;
    let error = match tried {
        Tried::NoCode => ApiError::CodeExpired,
        Tried::Wrong { attempts } => {
            metrics::counter!("shiming_sms_code_wrong_total").increment(1);
            if attempts >= max {
                ApiError::TooManyAttempts
            } else {
                ApiError::CodeIncorrect {
                    left: Some(max - attempts),
                }
            }
        }
        Tried::UsedUp { then: Err(e) } => return e.into(),
        Tried::UsedUp { then: Ok(()) } => ApiError::Internal("a code used up was reported refused".into()),
    };
    match error {
        ApiError::CodeExpired | ApiError::CodeIncorrect { .. } | ApiError::TooManyAttempts if who.is_none() => {
            ApiError::CodeIncorrect { left: None }
        }
        error => error,
    }
}
