//! Configuration: built-in defaults (production, or development with `--dev`),
//! then a TOML file, then `SHIMING_…` environment variables (`__` between
//! levels: `SHIMING_SMS__PER_IP_PER_HOUR=100`), then command-line flags.
//! docs/configuration.md describes every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use shiming_domain::Secret;
use shiming_providers::sms::WebhookConfig;
use shiming_providers::wechat::AuthorizeMode;
use shiming_store::{Durability, PgTuning, SqliteTuning, StoreTuning};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The URL people and OAuth providers reach this service at; defaults to
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// Development mode: simulators, the SMS outbox, generated secrets, relaxed limits.
    pub dev: bool,
    pub database: DatabaseConfig,
    pub registration: RegistrationConfig,
    pub sms: SmsConfig,
    pub sessions: SessionConfig,
    pub realname: RealNameConfig,
    pub secrets: SecretsConfig,
    pub http: HttpConfig,
    pub dev_carrier: DevCarrierConfig,
    pub wechat: WechatSettings,
    pub dev_wechat: DevWechatConfig,
    pub rebind: RebindConfig,
    pub enterprises: EnterpriseConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WechatSettings {
    /// The WeChat app; unset outside dev means WeChat sign-in is off.
    pub appid: Option<String>,
    pub secret: Option<Secret>,
    /// Where browsers authorize (`connect/qrconnect`, `connect/oauth2/authorize`).
    pub open_base_url: String,
    /// Where codes are exchanged (`sns/oauth2/access_token`, `sns/userinfo`).
    pub api_base_url: String,
    /// Where a WeChat identity's real name comes from (`wechat.realname`);
    /// unset: `platform_claim` when `realname_url` is set, else `none`.
    pub realname: Option<WechatRealName>,
    /// The platform real-name claim endpoint (`platform_claim`): an
    /// integration of the operator's, not a WeChat endpoint.
    pub realname_url: Option<String>,
    /// The mini program of WeChat's real-name check (`city_service`).
    pub miniprogram: MiniProgramSettings,
    pub timeout_ms: u64,
    /// `qr` (PC QR login), `in_wechat_userinfo` or `in_wechat_base`.
    pub authorize_mode: AuthorizeMode,
    /// Bind by openid when WeChat gives no unionid (an app outside an open
    /// platform account); off: such an identity is refused.
    pub openid_fallback: bool,
    /// Whether an unknown WeChat identity creates an account at sign-in; off:
    /// it is told to sign in by phone and bind WeChat first.
    pub create_accounts: bool,
    /// How long a started round trip (its `state`) stays usable.
    pub flow_ttl_secs: i64,
    /// Round trips one client address may start per hour.
    pub starts_per_ip_per_hour: u32,
}

/// Where a WeChat identity's real name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WechatRealName {
    /// A WeChat identity attests nobody: the real name comes from the phone.
    None,
    /// WeChat city services' check of a name and ID number the user types,
    /// through a mini program (`POST /api/v1/account/real-name/wechat`).
    CityService,
    /// The operator's own claim endpoint, asked at every WeChat round trip.
    PlatformClaim,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MiniProgramSettings {
    pub appid: Option<String>,
    pub secret: Option<Secret>,
}

impl WechatSettings {
    /// `wechat.realname`, or what the older keys imply: a configured
    /// `realname_url` keeps meaning a claim endpoint.
    pub fn realname_mode(&self) -> WechatRealName {
        self.realname.unwrap_or(if self.realname_url.is_some() {
            WechatRealName::PlatformClaim
        } else {
            WechatRealName::None
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RebindConfig {
    /// How long a step-up privileges a session.
    pub step_up_secs: i64,
    /// How long a started change stays open for its proof and confirmation.
    pub flow_ttl_secs: i64,
    /// Real-name person changes one account may make in 365 days.
    pub max_person_changes_per_year: u32,
    /// The least time between two committed rebinds of an account.
    pub cooldown_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevWechatConfig {
    /// Where `serve --dev` starts the development WeChat server (port 0: any free port).
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://user:password@host:port/database`;
    /// defaults to `shiming.db` in the data folder.
    pub url: Option<String>,
    /// PostgreSQL: connections this node keeps at most. N nodes need N ×
    /// this within the server's `max_connections`.
    pub max_connections: u32,
    /// SQLite's `synchronous`: `normal` (a commit survives a killed process,
    /// the last ones may be lost on a power loss) or `full` (survives both).
    pub synchronous: Durability,
    /// SQLite read connections beside the one writer.
    pub readers: u32,
    /// SQLite page cache per connection, in KiB.
    pub cache_kib: u32,
    /// WAL pages written before they are checkpointed into the database file.
    pub checkpoint_pages: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        let tuning = SqliteTuning::default();
        DatabaseConfig {
            url: None,
            max_connections: PgTuning::default().max_connections,
            synchronous: tuning.synchronous,
            readers: tuning.readers,
            cache_kib: tuning.cache_kib,
            checkpoint_pages: tuning.checkpoint_pages,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationConfig {
    /// Whether signing in with an unknown phone number creates an account.
    pub open: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsSenderKind {
    /// The development outbox, read at `/dev/sms`.
    Outbox,
    Webhook,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmsConfig {
    pub sender: SmsSenderKind,
    pub webhook: Option<WebhookConfig>,
    pub code_ttl_secs: i64,
    pub resend_after_secs: i64,
    pub max_attempts: u32,
    /// Sign-in codes per phone number in any hour.
    pub per_phone_per_hour: u32,
    /// Account-security codes (step-up, phone change) per phone number in any
    /// hour: a bucket of their own, so that anonymous sign-in requests cannot
    /// lock the owner out of stepping up.
    pub security_per_phone_per_hour: u32,
    pub per_ip_per_hour: u32,
    /// Wrong or unmatched code tries one client address may make in any hour,
    /// across phones and purposes.
    pub failed_tries_per_ip_per_hour: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionConfig {
    pub idle_timeout_secs: i64,
    pub absolute_timeout_secs: i64,
    /// `Secure` on the session cookie; defaults to on outside dev.
    pub cookie_secure: Option<bool>,
    /// Last-seen is recorded at most this often per session.
    pub touch_interval_secs: i64,
    /// How often recorded last-seen times are written, in one batch.
    pub flush_interval_secs: u64,
    /// Sessions kept validated in memory, so that a session check reads no
    /// row; 0 turns the cache off.
    pub cache_entries: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnterpriseConfig {
    /// Enterprises one account may create per day: each is a namespace
    /// someone else's session could otherwise fill without end.
    pub creations_per_account_per_day: u32,
    /// How long an invitation's code works.
    pub invitation_ttl_secs: i64,
    /// Invitations one enterprise may send per day.
    pub invitations_per_enterprise_per_day: u32,
    /// Invitations one phone may receive per day, from all enterprises:
    /// each is a text message to someone who did not ask for it.
    pub invitations_per_phone_per_day: u32,
    /// How long a rebind waits for an admin's approval, where the managing
    /// enterprise's policy asks for one.
    pub approval_ttl_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RealNameConfig {
    /// Base URL of the carrier three-element check (protocol v1). In dev it
    /// defaults to the development carrier started beside the service.
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    pub timeout_ms: u64,
    /// Carrier checks one account may ask for per day.
    pub checks_per_account_per_day: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SecretsConfig {
    /// 32 bytes, base64: the AES-256-GCM key of personal data at rest.
    pub encryption_key: Option<Secret>,
    pub encryption_key_file: Option<PathBuf>,
    /// 32 bytes, base64: the HMAC pepper of keyed hashes.
    pub pepper: Option<Secret>,
    pub pepper_file: Option<PathBuf>,
    /// 32 bytes, base64: the HMAC key of the audit chain's links. Unset: derived from the pepper.
    pub audit_key: Option<Secret>,
    pub audit_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpConfig {
    /// A header set by a trusted reverse proxy carrying the client address
    /// (e.g. `X-Forwarded-For`; the last entry of its last line is used). Unset: the peer address.
    pub client_ip_header: Option<String>,
    pub request_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevCarrierConfig {
    /// Where `serve --dev` starts the development carrier (port 0: any free port).
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `shiming_server=debug,info`.
    pub filter: String,
}

impl Config {
    /// Production defaults.
    pub fn production() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("a valid address"),
            data_dir: PathBuf::from("data"),
            public_url: None,
            dev: false,
            database: DatabaseConfig::default(),
            registration: RegistrationConfig { open: true },
            sms: SmsConfig {
                sender: SmsSenderKind::Webhook,
                webhook: None,
                code_ttl_secs: 300,
                resend_after_secs: 60,
                max_attempts: 5,
                per_phone_per_hour: 5,
                security_per_phone_per_hour: 5,
                per_ip_per_hour: 20,
                failed_tries_per_ip_per_hour: 30,
            },
            sessions: SessionConfig {
                idle_timeout_secs: 7 * 86400,
                absolute_timeout_secs: 30 * 86400,
                cookie_secure: None,
                touch_interval_secs: 60,
                flush_interval_secs: 5,
                cache_entries: SqliteTuning::default().cached_sessions,
            },
            realname: RealNameConfig {
                base_url: None,
                api_key: None,
                timeout_ms: 5000,
                checks_per_account_per_day: 5,
            },
            secrets: SecretsConfig::default(),
            http: HttpConfig {
                client_ip_header: None,
                request_timeout_secs: 30,
            },
            dev_carrier: DevCarrierConfig {
                listen: "127.0.0.1:0".parse().expect("a valid address"),
            },
            wechat: WechatSettings {
                appid: None,
                secret: None,
                open_base_url: "https://open.weixin.qq.com".into(),
                api_base_url: "https://api.weixin.qq.com".into(),
                realname: None,
                realname_url: None,
                miniprogram: MiniProgramSettings::default(),
                timeout_ms: 5000,
                authorize_mode: AuthorizeMode::Qr,
                openid_fallback: false,
                create_accounts: true,
                flow_ttl_secs: 600,
                starts_per_ip_per_hour: 60,
            },
            dev_wechat: DevWechatConfig {
                listen: "127.0.0.1:0".parse().expect("a valid address"),
            },
            rebind: RebindConfig {
                step_up_secs: 600,
                flow_ttl_secs: 900,
                max_person_changes_per_year: 2,
                cooldown_secs: 86_400,
            },
            enterprises: EnterpriseConfig {
                creations_per_account_per_day: 5,
                invitation_ttl_secs: 7 * 86_400,
                invitations_per_enterprise_per_day: 200,
                invitations_per_phone_per_day: 3,
                approval_ttl_secs: 7 * 86_400,
            },
            log: LogConfig {
                format: LogFormat::Text,
                filter: "info".into(),
            },
        }
    }

    /// Development defaults: simulators on, limits loose enough for a
    /// walkthrough and a test suite from one address.
    pub fn development() -> Self {
        let mut c = Self::production();
        c.dev = true;
        c.sms.sender = SmsSenderKind::Outbox;
        c.sms.per_phone_per_hour = 20;
        c.sms.security_per_phone_per_hour = 20;
        c.sms.failed_tries_per_ip_per_hour = 100;
        c.sms.per_ip_per_hour = 200;
        c.realname.checks_per_account_per_day = 50;
        c.wechat.starts_per_ip_per_hour = 600;
        // WeChat's own real-name check, against the development WeChat
        // server's mini program endpoints: the path production would take.
        c.wechat.realname = Some(WechatRealName::CityService);
        c.rebind.cooldown_secs = 0;
        c.enterprises.creations_per_account_per_day = 50;
        c.enterprises.invitations_per_phone_per_day = 20;
        c
    }

    /// The layered sources: defaults for the mode, the file, the environment.
    /// Callers merge command-line flags on top.
    pub fn figment(dev: bool, file: Option<&Path>) -> Figment {
        let base = if dev { Self::development() } else { Self::production() };
        let mut f = Figment::from(Serialized::defaults(base));
        if let Some(file) = file {
            f = f.merge(Toml::file_exact(file));
        }
        f.merge(Env::prefixed("SHIMING_").split("__"))
    }

    pub fn load(figment: Figment) -> Result<Self, Box<figment::Error>> {
        figment.extract().map_err(Box::new)
    }

    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("shiming.db").display()))
    }

    /// How the store is opened: the database's settings and the session cache.
    pub fn store_tuning(&self) -> StoreTuning {
        StoreTuning {
            sqlite: SqliteTuning {
                synchronous: self.database.synchronous,
                readers: self.database.readers,
                cache_kib: self.database.cache_kib,
                checkpoint_pages: self.database.checkpoint_pages,
                cached_sessions: self.sessions.cache_entries,
            },
            postgres: PgTuning {
                max_connections: self.database.max_connections,
                cached_sessions: self.sessions.cache_entries,
                ..PgTuning::default()
            },
        }
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn cookie_secure(&self) -> bool {
        self.sessions.cookie_secure.unwrap_or(!self.dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "shiming.toml",
                "listen = \"127.0.0.1:9000\"\n[sms]\nper_ip_per_hour = 7\n",
            )?;
            jail.set_env("SHIMING_SMS__PER_IP_PER_HOUR", "9");
            jail.set_env("SHIMING_REGISTRATION__OPEN", "false");
            let c = Config::load(Config::figment(true, Some(Path::new("shiming.toml")))).unwrap();
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.sms.per_ip_per_hour, 9, "the environment wins over the file");
            assert!(!c.registration.open);
            assert!(c.dev);
            assert_eq!(c.sms.sender, SmsSenderKind::Outbox);
            assert!(!c.cookie_secure());
            Ok(())
        });
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let mut c = Config::production();
        let secrets = [
            "enc-k3y",
            "pepp3r",
            "aud1t-key",
            "wx-s3cret",
            "carrier-k3y",
            "sms-t0ken",
        ];
        c.secrets.encryption_key = Some(secrets[0].into());
        c.secrets.pepper = Some(secrets[1].into());
        c.secrets.audit_key = Some(secrets[2].into());
        c.wechat.secret = Some(secrets[3].into());
        c.wechat.miniprogram.secret = Some(secrets[3].into());
        c.realname.api_key = Some(secrets[4].into());
        c.sms.webhook = Some(WebhookConfig {
            url: "https://sms.example.com".into(),
            bearer_token: Some(secrets[5].into()),
            timeout_ms: 1000,
            retries: 0,
        });
        let shown = format!("{c:?} {c:#?}");
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("https://sms.example.com"), "the rest is shown");
    }

    #[test]
    fn production_defaults_are_strict() {
        let c = Config::production();
        assert!(c.cookie_secure());
        assert_eq!(c.sms.sender, SmsSenderKind::Webhook);
        assert!(Config::development().sms.per_ip_per_hour >= 50);
        assert!(Config::development().sms.per_phone_per_hour >= 10);
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn a_wechat_identity_attests_nobody_unless_configured_and_the_old_key_keeps_working() {
        let mut c = Config::production();
        assert_eq!(c.wechat.realname_mode(), WechatRealName::None);
        c.wechat.realname_url = Some("https://claims.example.com/realname".into());
        assert_eq!(c.wechat.realname_mode(), WechatRealName::PlatformClaim);
        c.wechat.realname = Some(WechatRealName::CityService);
        assert_eq!(c.wechat.realname_mode(), WechatRealName::CityService);
    }
}
