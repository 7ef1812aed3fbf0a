//! `shiming`: the account and identity service, its maintenance commands and
//! the development simulators.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use figment::providers::Serialized;
use shiming_server::config::LogFormat;
use shiming_server::Config;
use shiming_store::{ChainHead, ChainReport};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "shiming",
    version,
    about = "Accounts, bindings and real-name verification for workplace platforms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// Development mode: embedded simulators, SMS outbox, generated secrets.
        #[arg(long)]
        dev: bool,
        #[command(flatten)]
        common: Common,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Development simulators.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// The database as a whole.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Enterprises, for the platform's operators: what their owner and
    /// admins see and do through the API, straight on the database.
    Enterprise {
        #[command(subcommand)]
        command: EnterpriseCommand,
    },
}

#[derive(Subcommand)]
enum EnterpriseCommand {
    /// The enterprise: its name, policy and owner.
    Show {
        id: String,
        #[command(flatten)]
        on: OperatorArgs,
    },
    /// Its members, by the time they joined, as its admins see them (real
    /// names masked), a page at a time.
    Members {
        id: String,
        /// Only this role: owner, admin, member.
        #[arg(long)]
        role: Option<String>,
        /// Only this real-name status: verified, unverified, inconsistent.
        #[arg(long)]
        real_name: Option<String>,
        /// Only members with this flag: managed, person_changed, suspended, frozen.
        #[arg(long)]
        flag: Option<String>,
        /// Members per page, 1 to 200.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The page after this cursor (the `next` a page printed).
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        on: OperatorArgs,
    },
    /// Freeze a member within the enterprise: the account stays, its access
    /// to the enterprise ends at once. Audited, by the operator.
    Freeze {
        id: String,
        account_id: String,
        /// Why (1 to 200 characters), shown to the enterprise's admins.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        on: OperatorArgs,
    },
    /// Lift a member's freeze within the enterprise. Audited, by the operator.
    Unfreeze {
        id: String,
        account_id: String,
        #[command(flatten)]
        on: OperatorArgs,
    },
    /// The enterprise's own audit events, newest first, a page at a time.
    Audit {
        id: String,
        /// Events per page, 1 to 200.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The page before this event (the `next` a page printed).
        #[arg(long)]
        before: Option<i64>,
        #[command(flatten)]
        on: OperatorArgs,
    },
}

#[derive(Args)]
struct OperatorArgs {
    /// Development configuration and secrets, as `serve --dev`.
    #[arg(long)]
    dev: bool,
    /// Print the JSON the API answers instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Move an embedded SQLite database to an empty PostgreSQL database,
    /// then check every table's row count and the audit chain on the target.
    /// Stop the node using the source first.
    Copy {
        /// The SQLite database, e.g. sqlite://data/shiming.db.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The PostgreSQL database, e.g. postgres://shiming@db/shiming.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Where the audit key comes from (the secrets the data was written with).
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE", env = "SHIMING_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder: the SQLite database and development secrets [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the keyed chain of the audit log: exit 0 when intact.
    Verify {
        #[command(flatten)]
        common: Common,
        /// A head printed earlier by `shiming audit head`: the chain must
        /// still hold that event unchanged (catches a truncated or rolled-back log).
        #[arg(long, value_name = "SEQ:MAC")]
        head: Option<ChainHead>,
    },
    /// Verify the chain and print its head, SEQ:MAC, to record outside the database.
    Head {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Print the development SMS outbox of a running `serve --dev`.
    Sms {
        /// Only this phone's messages.
        #[arg(long)]
        phone: Option<String>,
        /// The running service.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "SHIMING_URL")]
        url: String,
    },
    /// Benchmarking: create N personal accounts straight through the store,
    /// each with one phone (+8619000000000, +8619000000001, …), as a first
    /// phone sign-in creates them. Phones already bound are left as they are.
    Seed {
        /// How many accounts: phones 0 to N-1 of the seeded range.
        #[arg(long, value_name = "N")]
        accounts: u64,
        /// Development configuration and secrets, as `serve --dev` (secrets
        /// generated into the data folder when it has none).
        #[arg(long)]
        dev: bool,
        #[command(flatten)]
        common: Common,
        /// Account creations in flight at once (the store commits them in batches).
        #[arg(long, value_name = "K", default_value_t = shiming_server::seed::DEFAULT_IN_FLIGHT)]
        in_flight: usize,
    },
    /// Run the development carrier (real-name three-element checks) alone.
    Carrier {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
    /// Run the development WeChat server (OAuth 2.0 web login, the mini
    /// program's real-name check) alone.
    Wechat {
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: SocketAddr,
        /// The website app it serves (OAuth sign-in).
        #[arg(long, default_value = "wxdev0000shiming")]
        appid: String,
        #[arg(long, default_value = "dev-secret")]
        secret: String,
        /// The mini program it serves (the real-name check).
        #[arg(long, default_value = "wxdevmini0shiming")]
        mini_appid: String,
        #[arg(long, default_value = "dev-mini-secret")]
        mini_secret: String,
    },
}

fn load_config(dev: bool, common: &Common, listen: Option<SocketAddr>) -> anyhow::Result<Config> {
    let mut figment = Config::figment(dev, common.config.as_deref());
    if dev {
        figment = figment.merge(Serialized::default("dev", true));
    }
    if let Some(dir) = &common.data_dir {
        figment = figment.merge(Serialized::default("data_dir", dir));
    }
    if let Some(addr) = listen {
        figment = figment.merge(Serialized::default("listen", addr));
    }
    Ok(Config::load(figment)?)
}

fn init_logs(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: in files and log collectors
        // escape codes are noise, and break searching.
        .with_ansi(std::io::stderr().is_terminal());
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("shiming: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { dev, common, listen } => {
            let config = load_config(dev, &common, listen)?;
            init_logs(&config);
            serve(config).await?;
        }
        Command::Migrate { common } => {
            let config = load_config(false, &common, None)?;
            shiming_server::migrate(&config).await?;
            println!(
                "database at {} is up to date",
                shiming_store::redacted(&config.database_url())
            );
        }
        Command::Audit { command } => return audit(command).await,
        Command::Enterprise { command } => enterprise(command).await?,
        Command::Db {
            command: DbCommand::Copy { from, to, common },
        } => {
            let config = load_config(false, &common, None)?;
            let key = shiming_server::secrets::audit_key(&config)
                .context("the audit key: set secrets.audit_key, or the secrets it is derived from")?;
            let copied = shiming_store::copy(&from, &to, key).await?;
            println!(
                "copied {} to {}",
                shiming_store::redacted(&from),
                shiming_store::redacted(&to)
            );
            for (table, rows) in &copied.rows {
                println!("  {table:<20} {rows:>10} rows, the same on both");
            }
            if let ChainReport::Intact { head } = copied.chain {
                println!("audit chain intact on the target: {} events", head.seq);
            }
        }
        Command::Dev {
            command: DevCommand::Sms { phone, url },
        } => {
            let mut req = reqwest::Client::new().get(format!("{}/dev/sms", url.trim_end_matches('/')));
            if let Some(p) = &phone {
                req = req.query(&[("phone", p)]);
            }
            let resp = req
                .send()
                .await
                .with_context(|| format!("is `shiming serve --dev` running at {url}?"))?;
            let status = resp.status();
            let body: serde_json::Value = resp
                .json()
                .await
                .context("the outbox answered something that is not JSON")?;
            if !status.is_success() {
                anyhow::bail!("the outbox answered HTTP {status}: {body}");
            }
            for m in body.as_array().into_iter().flatten() {
                println!(
                    "{}  {}  {}",
                    m["sent_at"].as_str().unwrap_or(""),
                    m["phone"].as_str().unwrap_or(""),
                    m["text"].as_str().unwrap_or("")
                );
            }
        }
        Command::Dev {
            command:
                DevCommand::Seed {
                    accounts,
                    dev,
                    common,
                    in_flight,
                },
        } => {
            let config = load_config(dev, &common, None)?;
            init_logs(&config);
            seed(&config, accounts, in_flight).await?;
        }
        Command::Dev {
            command: DevCommand::Carrier { listen },
        } => {
            let carrier = shiming_providers::realname::DevCarrier::new(None);
            serve_simulator("development carrier", listen, carrier.router()).await?;
        }
        Command::Dev {
            command:
                DevCommand::Wechat {
                    listen,
                    appid,
                    secret,
                    mini_appid,
                    mini_secret,
                },
        } => {
            use shiming_providers::wechat::{DevApp, DevWechat};
            let web = DevApp { appid, secret };
            let mini = DevApp {
                appid: mini_appid,
                secret: mini_secret,
            };
            let wechat = DevWechat::new(&web, &mini);
            serve_simulator("development WeChat", listen, wechat.router()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `audit verify` and `audit head`: exit 0 when the chain is intact, 2 when broken.
async fn audit(command: AuditCommand) -> anyhow::Result<ExitCode> {
    let (common, recorded) = match &command {
        AuditCommand::Verify { common, head } => (common, *head),
        AuditCommand::Head { common } => (common, None),
    };
    let config = load_config(false, common, None)?;
    let key = shiming_server::secrets::audit_key(&config)
        .context("the audit key: set secrets.audit_key, or the secrets it is derived from")?;
    // Not migrated: reading the chain must not change the database it reads.
    let store = shiming_store::open_existing(&config.database_url(), key).await?;
    Ok(match (store.verify_chain(recorded).await?, command) {
        (ChainReport::Broken { seq, reason }, _) => {
            println!("audit chain broken at event {seq}: {reason}");
            ExitCode::from(2)
        }
        (ChainReport::Intact { head }, AuditCommand::Verify { .. }) => {
            println!("audit chain intact: {} events", head.seq);
            ExitCode::SUCCESS
        }
        (ChainReport::Intact { head }, AuditCommand::Head { .. }) => {
            println!("{head}");
            ExitCode::SUCCESS
        }
    })
}

/// `enterprise …`: prints what the operator asked for, as text or JSON.
async fn enterprise(command: EnterpriseCommand) -> anyhow::Result<()> {
    use shiming_server::operator::{filter, Operator};
    let on = match &command {
        EnterpriseCommand::Show { on, .. }
        | EnterpriseCommand::Members { on, .. }
        | EnterpriseCommand::Freeze { on, .. }
        | EnterpriseCommand::Unfreeze { on, .. }
        | EnterpriseCommand::Audit { on, .. } => on,
    };
    let config = load_config(on.dev, &on.common, None)?;
    let json = on.json;
    let operator = Operator::open(&config).await?;
    let shown = match &command {
        EnterpriseCommand::Show { id, .. } => operator.show(id).await?,
        EnterpriseCommand::Members {
            id,
            role,
            real_name,
            flag,
            limit,
            after,
            ..
        } => {
            let filter = filter(role.as_deref(), real_name.as_deref(), flag.as_deref())?;
            operator.members(id, &filter, after.as_deref(), *limit).await?
        }
        EnterpriseCommand::Freeze {
            id, account_id, reason, ..
        } => {
            operator.freeze(id, account_id, Some(reason)).await?;
            serde_json::json!({ "frozen": true })
        }
        EnterpriseCommand::Unfreeze { id, account_id, .. } => {
            operator.freeze(id, account_id, None).await?;
            serde_json::json!({ "frozen": false })
        }
        EnterpriseCommand::Audit { id, limit, before, .. } => operator.audit(id, *before, *limit).await?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    match command {
        EnterpriseCommand::Show { .. } => {
            for field in ["id", "name", "owner", "created_at", "policy"] {
                println!("{field:<11} {}", text(&shown[field]));
            }
        }
        EnterpriseCommand::Members { .. } => {
            for m in shown["members"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:<6}  {}  {:<12} {:<4}  {}  {}",
                    text(&m["account_id"]),
                    text(&m["role"]),
                    text(&m["joined_at"]),
                    text(&m["real_name"]["status"]),
                    text(&m["real_name"]["name_masked"]),
                    text(&m["display_name"]),
                    text(&m["flags"]),
                );
            }
            if !shown["next"].is_null() {
                println!("next page: --after {}", text(&shown["next"]));
            }
        }
        EnterpriseCommand::Freeze { account_id, .. } => println!("{account_id} is frozen in the enterprise"),
        EnterpriseCommand::Unfreeze { account_id, .. } => {
            println!("{account_id} is no longer frozen in the enterprise")
        }
        EnterpriseCommand::Audit { .. } => {
            for e in shown["events"].as_array().into_iter().flatten() {
                println!(
                    "{:>6}  {}  {:<40} {}  {}",
                    text(&e["seq"]),
                    text(&e["at"]),
                    text(&e["type"]),
                    text(&e["account_id"]),
                    text(&e["details"]),
                );
            }
            if !shown["next"].is_null() {
                println!("next page: --before {}", text(&shown["next"]));
            }
        }
    }
    Ok(())
}

/// `dev seed`: opens the database and secrets as `serve` does and creates
/// the accounts, printing where, what and how fast.
async fn seed(config: &Config, accounts: u64, in_flight: usize) -> anyhow::Result<()> {
    use shiming_server::seed::{phone, Seeder, MAX_ACCOUNTS};
    if accounts == 0 || accounts > MAX_ACCOUNTS {
        anyhow::bail!("--accounts must be between 1 and {MAX_ACCOUNTS}");
    }
    let secrets_file = config.data_dir.join(shiming_server::secrets::FILE);
    let had_secrets_file = secrets_file.exists();
    let seeder = Seeder::open(config).await?;
    println!(
        "seeding {accounts} personal accounts into {}{}",
        shiming_store::redacted(&config.database_url()),
        if config.dev { " (development configuration)" } else { "" }
    );
    println!(
        "  phones {} .. {}, one phone credential each, account.created audited (via \"seed\")",
        phone(0).e164(),
        phone(accounts - 1).e164()
    );
    println!(
        "  secrets: {}",
        if !had_secrets_file && secrets_file.exists() {
            format!("generated now into {}", secrets_file.display())
        } else if config.secrets.encryption_key.is_some() || config.secrets.encryption_key_file.is_some() {
            "from the configuration".to_owned()
        } else {
            format!("from {}", secrets_file.display())
        }
    );
    let started = std::time::Instant::now();
    let mut shown = started;
    let seeded = seeder
        .seed(0..accounts, in_flight, |done| {
            if shown.elapsed().as_secs() >= 5 {
                shown = std::time::Instant::now();
                let secs = started.elapsed().as_secs_f64();
                println!("  {done} of {accounts} in {secs:.0} s ({:.0}/s)", done as f64 / secs);
            }
        })
        .await?;
    let secs = seeded.elapsed.as_secs_f64();
    println!(
        "seeded {} accounts in {secs:.1} s ({:.0}/s, {in_flight} in flight); {} phones were bound already",
        seeded.created,
        seeded.created as f64 / secs,
        seeded.existing
    );
    Ok(())
}

/// Runs one development simulator alone until Ctrl-C or SIGTERM.
async fn serve_simulator(what: &str, listen: SocketAddr, router: axum::Router) -> anyhow::Result<()> {
    init_logs(&Config::development());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("{what} listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(terminated())
        .await?;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let dev = config.dev;
    let data_dir = config.data_dir.clone();
    let database = shiming_store::redacted(&config.database_url());
    let running = shiming_server::start(config).await?;
    let url = running.url();
    println!(
        "shiming is listening on {url}{}",
        if dev { " (development mode)" } else { "" }
    );
    if dev {
        println!("  data folder:          {} (generated secrets)", data_dir.display());
        println!("  database:             {database}");
        if let Some(addr) = running.carrier_addr {
            println!("  development carrier:  http://{addr}");
        }
        if let Some(addr) = running.wechat_addr {
            println!("  development WeChat:   http://{addr}");
        }
        println!("  sign in with a test phone:");
        println!("    curl -s -X POST {url}/api/v1/sms/send -H 'Content-Type: application/json' -d '{{\"phone\":\"+8613800000001\",\"purpose\":\"login\"}}'");
        println!("    curl -s '{url}/dev/sms?phone=%2B8613800000001'      # the code, from the SMS outbox");
        println!("    curl -s -X POST {url}/api/v1/login/phone -H 'Content-Type: application/json' -d '{{\"phone\":\"+8613800000001\",\"code\":\"<code>\"}}'");
    }
    terminated().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn terminated() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
