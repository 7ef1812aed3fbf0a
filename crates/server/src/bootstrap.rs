//! Starting and stopping the whole service from a [`Config`]: the binary's
//! `serve` and the integration tests go through the same code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use shiming_providers::realname::{CarrierClient, CarrierConfig, DevCarrier, RealNameVerifier};
use shiming_providers::sms::{SmsSender, WebhookSender};
use shiming_providers::wechat::{
    CityService, DevApp, DevWechat, MiniProgramClient, MiniProgramConfig, WechatClient, WechatConfig, WechatProvider,
};
use shiming_store::Store;
use shiming_vault::{random_hex, Vault};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::{Config, SmsSenderKind, WechatRealName, WechatSettings};
use crate::flows::notices;
use crate::flows::outbox::OutboxSender;
use crate::routes::app;
use crate::session::seen_writer;
use crate::state::AppState;
use crate::{secrets, telemetry};

/// A running service.
pub struct Running {
    pub addr: SocketAddr,
    /// Where the development carrier listens (dev only).
    pub carrier_addr: Option<SocketAddr>,
    /// Where the development WeChat server listens (dev only).
    pub wechat_addr: Option<SocketAddr>,
    /// The service's store, for embedders and tests that act as an operator
    /// would (through the store, so the session cache sees every change).
    pub store: Arc<dyn Store>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes requests in flight, writes pending last-seen times.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Creates the data folder if missing: the database and, in dev, the secrets live there.
fn create_data_dir(config: &Config) -> anyhow::Result<()> {
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    // The folder holds the database and, in dev, the secrets: its owner only.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(&config.data_dir)
        .with_context(|| format!("creating the data folder {}", config.data_dir.display()))
}

/// Creates or upgrades the configured database's schema, needing no secrets
/// (`shiming migrate`); the audit chain is keyed when the service opens it.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    create_data_dir(config)?;
    shiming_store::migrate_schema(&config.database_url())
        .await
        .context("migrating the database")
}

/// Creates the data folder if missing, loads the secrets (generating them in
/// dev) and opens and migrates the database: what `serve` opens, and
/// `shiming dev seed` with it.
pub(crate) async fn open_data(config: &Config) -> anyhow::Result<(Arc<dyn Store>, Vault)> {
    // The data folder first: in dev the secrets are generated into it.
    create_data_dir(config)?;
    let secrets = secrets::load(config)?;
    let store = shiming_store::open(&config.database_url(), secrets.audit_key.clone(), config.store_tuning())
        .await
        .context("opening and migrating the database")?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    secrets::check_shared(&*store, &secrets, now).await?;
    Ok((store, Vault::new(&secrets.keys)))
}

/// Starts the service on the system clock.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with_clock(config, Clock::system()).await
}

/// Starts the service on `clock` (tests hold a manual one and move it on).
pub async fn start_with_clock(mut config: Config, clock: Clock) -> anyhow::Result<Running> {
    let (store, vault) = open_data(&config).await?;
    let vault = Arc::new(vault);
    telemetry::prometheus();
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    // Bound first: with port 0 the public URL (OAuth redirect_uri) needs the real port.
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://{addr}"));
    }

    let (mut carrier_addr, mut wechat_addr) = (None, None);
    let simulators = if config.dev {
        let carrier = DevCarrier::new(config.realname.api_key.as_ref().map(|k| k.expose().to_owned()));
        let (at, task) = serve_simulator(config.dev_carrier.listen, carrier.router(), &stopped).await?;
        carrier_addr = Some(at);
        tasks.push(task);

        let appid = config
            .wechat
            .appid
            .get_or_insert_with(|| "wxdev0000shiming".into())
            .clone();
        let secret = config
            .wechat
            .secret
            .get_or_insert_with(|| random_hex(16).into())
            .clone();
        let mini = &mut config.wechat.miniprogram;
        let mini = DevApp {
            appid: mini.appid.get_or_insert_with(|| "wxdevmini0shiming".into()).clone(),
            secret: mini
                .secret
                .get_or_insert_with(|| random_hex(16).into())
                .expose()
                .to_owned(),
        };
        let web = DevApp {
            appid,
            secret: secret.expose().to_owned(),
        };
        let wechat = DevWechat::new(&web, &mini);
        let (at, task) = serve_simulator(config.dev_wechat.listen, wechat.router(), &stopped).await?;
        wechat_addr = Some(at);
        tasks.push(task);
        config.wechat.open_base_url = format!("http://{at}");
        config.wechat.api_base_url = format!("http://{at}");
        if config.wechat.realname_mode() == WechatRealName::PlatformClaim {
            // The development server's claim endpoint, unless one is configured.
            config
                .wechat
                .realname_url
                .get_or_insert_with(|| format!("http://{at}{}", shiming_providers::wechat::REALNAME_PATH));
        }
        Some(carrier.admin_router().merge(wechat.admin_router()))
    } else {
        None
    };

    for (key, url) in [
        ("wechat.open_base_url", &config.wechat.open_base_url),
        ("wechat.api_base_url", &config.wechat.api_base_url),
    ] {
        let uri = url.parse::<axum::http::Uri>().ok();
        if !uri.is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some()) {
            bail!("{key} is not an absolute http(s) URL: {url}");
        }
    }
    let (wechat, city) = wechat_providers(&config.wechat)?;

    let base_url = match (&config.realname.base_url, carrier_addr) {
        (Some(url), _) => url.clone(),
        (None, Some(addr)) => format!("http://{addr}"),
        (None, None) => bail!("set realname.base_url: the carrier real-name verifier's base URL"),
    };
    let verifier: Arc<dyn RealNameVerifier> = Arc::new(CarrierClient::new(&CarrierConfig {
        base_url,
        api_key: config.realname.api_key.clone(),
        timeout_ms: config.realname.timeout_ms,
    }));

    let outbox = (config.sms.sender == SmsSenderKind::Outbox && config.dev).then(|| {
        Arc::new(OutboxSender {
            store: store.clone(),
            vault: vault.clone(),
            clock: clock.clone(),
        })
    });
    let sms: Arc<dyn SmsSender> = match (&outbox, config.sms.sender, &config.sms.webhook) {
        (Some(outbox), _, _) => outbox.clone(),
        (None, SmsSenderKind::Outbox, _) => {
            bail!("the SMS outbox is for development only: set sms.sender = \"webhook\" and sms.webhook.url")
        }
        (None, SmsSenderKind::Webhook, Some(w)) => Arc::new(WebhookSender::new(w.clone())),
        (None, SmsSenderKind::Webhook, None) => bail!("set sms.webhook.url (and optionally sms.webhook.bearer_token)"),
    };

    let (seen, writer) = seen_writer(
        store.clone(),
        Duration::from_secs(config.sessions.flush_interval_secs.max(1)),
    );
    tasks.push(tokio::spawn(writer));
    tasks.push(tokio::spawn(sweeper(store.clone(), clock.clone(), stopped.clone())));
    tasks.push(tokio::spawn(notices::dispatch(
        store.clone(),
        vault.clone(),
        sms.clone(),
        clock.clone(),
        stopped.clone(),
    )));

    let config = Arc::new(config);
    let state = AppState {
        config: config.clone(),
        store: store.clone(),
        vault,
        sms,
        outbox,
        verifier,
        wechat,
        city,
        seen,
        clock,
    };
    let router = app(state, simulators);
    let mut stopped_main = stopped;
    tasks.insert(
        0,
        tokio::spawn(async move {
            let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = stopped_main.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the server stopped");
            }
        }),
    );
    Ok(Running {
        addr,
        carrier_addr,
        wechat_addr,
        store,
        stop,
        tasks,
    })
}

/// Serves a development simulator on its own port until the service stops.
/// The WeChat clients the configuration asks for: the website app's OAuth
/// (with the claim endpoint only under `platform_claim`), and the mini
/// program's real-name check under `city_service`. Nothing is configured
/// to call an endpoint WeChat does not serve unless an operator names it.
#[allow(clippy::type_complexity)] // two optional trait objects, named at the call
fn wechat_providers(
    wx: &WechatSettings,
) -> anyhow::Result<(Option<Arc<dyn WechatProvider>>, Option<Arc<dyn CityService>>)> {
    let mode = wx.realname_mode();
    let realname_url = match (mode, &wx.realname_url) {
        (WechatRealName::PlatformClaim, Some(url)) => Some(url.clone()),
        (WechatRealName::PlatformClaim, None) => {
            bail!("wechat.realname = \"platform_claim\" needs wechat.realname_url, the claim endpoint")
        }
        _ => None,
    };
    let wechat: Option<Arc<dyn WechatProvider>> = match (&wx.appid, &wx.secret) {
        (Some(appid), Some(secret)) => Some(Arc::new(WechatClient::new(WechatConfig {
            appid: appid.clone(),
            secret: secret.clone(),
            open_base_url: wx.open_base_url.clone(),
            api_base_url: wx.api_base_url.clone(),
            realname_url,
            timeout_ms: wx.timeout_ms,
        }))),
        (None, None) if mode == WechatRealName::None => None,
        (None, None) => bail!("wechat.realname needs WeChat sign-in: set wechat.appid and wechat.secret"),
        _ => bail!("set both wechat.appid and wechat.secret (or neither, to leave WeChat sign-in off)"),
    };
    let city: Option<Arc<dyn CityService>> = match (mode, &wx.miniprogram.appid, &wx.miniprogram.secret) {
        (WechatRealName::CityService, Some(appid), Some(secret)) => {
            Some(Arc::new(MiniProgramClient::new(MiniProgramConfig {
                appid: appid.clone(),
                secret: secret.clone(),
                api_base_url: wx.api_base_url.clone(),
                timeout_ms: wx.timeout_ms,
            })))
        }
        (WechatRealName::CityService, _, _) => bail!(
            "wechat.realname = \"city_service\" needs wechat.miniprogram.appid and .secret: the mini program granted the city-service real-name check"
        ),
        _ => None,
    };
    Ok((wechat, city))
}

async fn serve_simulator(
    at: SocketAddr,
    router: axum::Router,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(at)
        .await
        .with_context(|| format!("binding a development simulator at {at}"))?;
    let addr = listener.local_addr()?;
    let mut stopped = stopped.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok((addr, task))
}

/// Deletes expired sessions and codes and old rate-limit hits every ten minutes.
async fn sweeper(store: Arc<dyn Store>, clock: Clock, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = store.sweep(clock.now(), 2 * 86_400).await {
                    tracing::warn!(error = %e, "sweep failed");
                }
            }
            _ = stopped.changed() => break,
        }
    }
}
