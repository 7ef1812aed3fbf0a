//! What every handler shares.

use std::sync::Arc;

use shiming_providers::realname::RealNameVerifier;
use shiming_providers::sms::SmsSender;
use shiming_providers::wechat::{CityService, WechatProvider};
use shiming_store::{Liveness, Store};
use shiming_vault::Vault;

use crate::clock::Clock;
use crate::config::Config;
use crate::flows::outbox::OutboxSender;
use crate::session::SeenRecorder;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    pub sms: Arc<dyn SmsSender>,
    /// The development outbox, when `sms` is it: a code's text is stored
    /// with the code, in one transaction, instead of being sent after it.
    pub outbox: Option<Arc<OutboxSender>>,
    pub verifier: Arc<dyn RealNameVerifier>,
    /// WeChat sign-in, when configured.
    pub wechat: Option<Arc<dyn WechatProvider>>,
    /// WeChat's real-name check, under `wechat.realname = "city_service"`.
    pub city: Option<Arc<dyn CityService>>,
    pub seen: SeenRecorder,
    pub clock: Clock,
}

impl AppState {
    /// Unix seconds now, by the service's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// When a session is live now: within both its absolute expiry and the
    /// idle timeout.
    pub fn liveness(&self) -> Liveness {
        let now = self.now();
        Liveness {
            now,
            seen_since: now - self.config.sessions.idle_timeout_secs,
        }
    }
}

/// Unix seconds as RFC 3339 for responses.
pub fn rfc3339(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
