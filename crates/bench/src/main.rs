//! `shiming-bench`: drives B0, W1, W2 and W3 over loopback against a running
//! `shiming serve --dev` (`--url`) or one it starts, and reports throughput,
//! latency percentiles, errors and the server's RSS and CPU (see
//! docs/performance.md).
//!
//! - B0: a bare axum handler returning a constant body, in this process: the
//!   machine's limit for one request per operation.
//! - W1: `GET /api/v1/whoami` with a bearer token.
//! - W2: a phone sign-in (send a code, read it from `/dev/sms`, sign in).
//! - W3: a whole phone change of a signed-in account (step up by SMS, change
//!   to a new phone the carrier knows as the account's person, verify its
//!   code, confirm); with `--w3-sign-in`, each change signs a new account in
//!   first.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use reqwest::Client;
use serde::Serialize;
use serde_json::{json, Value};
use shiming_domain::IdNumber;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The limits the bench raises (by environment) on a server it starts, so
/// that the workloads measure the service and not its rate limits.
const RAISED_LIMITS: &[(&str, &str)] = &[
    ("SHIMING_SMS__PER_IP_PER_HOUR", "1000000000"),
    ("SHIMING_SMS__PER_PHONE_PER_HOUR", "1000000000"),
    ("SHIMING_SMS__SECURITY_PER_PHONE_PER_HOUR", "1000000000"),
    ("SHIMING_SMS__FAILED_TRIES_PER_IP_PER_HOUR", "1000000000"),
    ("SHIMING_SMS__RESEND_AFTER_SECS", "0"),
    ("SHIMING_REALNAME__CHECKS_PER_ACCOUNT_PER_DAY", "1000000000"),
    ("SHIMING_WECHAT__STARTS_PER_IP_PER_HOUR", "1000000000"),
];

#[derive(Parser, Debug)]
#[command(name = "shiming-bench", about = "Load benchmark for shiming over loopback")]
struct Args {
    /// Base URL of a running `shiming serve --dev` (its limits must already be
    /// raised); without it the bench starts one.
    #[arg(long)]
    url: Option<String>,
    /// With --url: the server's pid, to read its RSS and CPU from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Nodes the bench starts, on one database: more than one needs a shared
    /// PostgreSQL (`SHIMING_DATABASE__URL=postgres://…`). Each operation
    /// goes to the nodes in turn (W1: each request); all requests of one
    /// W2 or W3 operation go to one node, as a load balancer keeping a
    /// connection to one node would send them.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// The binary to start when no --url is given.
    #[arg(long, default_value = "target/release/shiming")]
    shiming: PathBuf,
    /// Seconds per workload.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent connections (closed loop) for B0, W1 and W2.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Concurrent connections for W3.
    #[arg(long, default_value_t = 16)]
    w3_connections: usize,
    /// Accounts signed in before W1, whose tokens W1 uses in turn.
    #[arg(long, default_value_t = 64)]
    w1_accounts: usize,
    /// Accounts signed in before W3; each change takes the one whose last
    /// change is longest past (at least --w3-connections are signed in).
    #[arg(long, default_value_t = 256)]
    w3_accounts: usize,
    /// Each W3 change signs a new account in first (W2's flow), as the
    /// bench's W3 did before 2026-12-04: 11 requests instead of 8.
    #[arg(long)]
    w3_sign_in: bool,
    /// Comma-separated workloads among b0, w1, w2, w3.
    #[arg(long, default_value = "b0,w1,w2,w3")]
    workloads: String,
    /// Create this many accounts straight through the store (`shiming dev
    /// seed`, on the data folder of the server the bench starts, before
    /// starting it; timed). Not with --url.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sign in this many accounts over HTTP (W2's flow, at --connections)
    /// before the workloads (timed); works with --url too.
    #[arg(long, default_value_t = 0)]
    seed_http: u64,
    /// CI mode: 1 s per workload, 4 connections (2 for W3), 4 W1 and W3
    /// accounts.
    #[arg(long)]
    smoke: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

// ---------------------------------------------------------------- the server

/// A server the bench started: killed on drop.
struct Started {
    child: tokio::process::Child,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// `shiming <args> --data-dir <data>` with the environment of the server the
/// bench starts (its limits raised, its logs at warn).
fn shiming_command(bin: &Path, args: &[&str], data: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data)
        .envs(RAISED_LIMITS.iter().copied())
        .env("SHIMING_LOG__FILTER", "warn")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

/// Seeds `accounts` through the store of the data folder `data` with `shiming
/// dev seed --dev` (the configuration `serve --dev` will read), timing the
/// whole command: opening the database, the seeding, and closing it.
async fn seed_store(bin: &Path, data: &Path, accounts: u64) -> Result<Seeded> {
    let n = accounts.to_string();
    let mut cmd = shiming_command(bin, &["dev", "seed", "--dev", "--accounts", &n], data);
    // Its progress goes with the bench's, to stderr: stdout is the report's.
    cmd.stdout(std::io::stderr());
    let t = Instant::now();
    let status = cmd
        .status()
        .await
        .with_context(|| format!("running {} dev seed", bin.display()))?;
    let took = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!("`shiming dev seed --accounts {accounts}` failed: {status}");
    }
    let size = |f: &str| std::fs::metadata(data.join(f)).map_or(0, |m| m.len());
    Ok(Seeded {
        accounts,
        errors: 0,
        seconds: took,
        accounts_per_sec: accounts as f64 / took,
        how: "through the store: `shiming dev seed --dev` on the data folder, before the server started",
        database_bytes: Some(size("shiming.db")),
        wal_bytes: Some(size("shiming.db-wal")),
    })
}

async fn start_server(bin: &Path, data: &Path) -> Result<(Started, String, u32)> {
    let mut cmd = shiming_command(bin, &["serve", "--dev", "--listen", "127.0.0.1:0"], data);
    cmd.stdout(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "starting {} (build it first: cargo build --release, or pass --shiming or --url)",
            bin.display()
        )
    })?;
    let pid = child.id().ok_or_else(|| anyhow!("the server exited at once"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let started = Started { child };
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some((_, rest)) = line.split_once("shiming is listening on ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                return Ok(url.trim_end_matches('/').to_owned());
            }
        }
        bail!("the server exited before it listened")
    })
    .await
    .context("the server did not say where it listens within 60 s")??;
    // Keep draining its stdout so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((started, url, pid))
}

/// B0: a bare axum server in this process, returning a constant body. It
/// runs on a runtime of its own (as many workers as CPUs, on its own
/// threads), as the service does in its process, so that it does not share
/// the load generator's scheduler.
fn start_b0() -> Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("b0".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return drop(tx.send(Err(anyhow!(e)))),
        };
        rt.block_on(async move {
            let app = axum::Router::new().route("/", axum::routing::get(|| async { "shiming-bench b0" }));
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => return drop(tx.send(Err(anyhow!(e)))),
            };
            let addr = listener.local_addr().map_err(|e| anyhow!(e));
            let _ = tx.send(addr.map(|a| format!("http://{a}")));
            let _ = axum::serve(listener, app).await;
        });
    })?;
    rx.recv()?
}

// ------------------------------------------------------- /proc: RSS and CPU

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of the process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let after = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// The RSS of the servers together, in KiB.
fn rss_sum(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| rss_kib(p)).sum()
}

/// The CPU time of the servers together, in clock ticks.
fn ticks_sum(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| cpu_ticks(p)).sum()
}

/// Samples the servers' RSS (all nodes together) every 50 ms while a
/// workload runs.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
    ticks0: Option<u64>,
    started: Instant,
}

impl Sampler {
    fn start(pids: Vec<u32>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let ticks0 = ticks_sum(&pids);
        let task = tokio::spawn(async move {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_sum(&pids).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak.max(rss_sum(&pids).unwrap_or(0))
        });
        Sampler {
            stop,
            task,
            ticks0,
            started: Instant::now(),
        }
    }

    /// (peak RSS in KiB, CPU % of one core over the workload), of all nodes.
    async fn finish(self, pids: &[u32], hz: u64) -> (Option<u64>, Option<f64>) {
        let ticks1 = ticks_sum(pids);
        let wall = self.started.elapsed().as_secs_f64();
        self.stop.store(true, Ordering::Relaxed);
        let peak = self.task.await.ok().filter(|&p| p > 0);
        let cpu = match (self.ticks0, ticks1) {
            (Some(a), Some(b)) => Some((b - a) as f64 / hz as f64 / wall * 100.0),
            _ => None,
        };
        (peak, cpu)
    }
}

// ------------------------------------------------------------ the load loop

enum Until {
    Deadline(Instant),
    /// A shared count of operations to start, and its end.
    Count(Arc<AtomicU64>, u64),
}

#[derive(Default)]
struct Outcome {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u64>,
    first_errors: Vec<String>,
}

/// A closed loop: `connections` workers, each starting its next operation as
/// soon as the previous one ends. Latency is that of a whole operation.
async fn closed_loop<F, Fut>(connections: usize, until: Until, op: F) -> (Outcome, Duration)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let until = Arc::new(until);
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let op = op.clone();
        let until = until.clone();
        workers.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            loop {
                let go = match &*until {
                    Until::Deadline(end) => Instant::now() < *end,
                    Until::Count(next, n) => next.fetch_add(1, Ordering::Relaxed) < *n,
                };
                if !go {
                    break;
                }
                let t = Instant::now();
                match op().await {
                    Ok(()) => {
                        out.ok += 1;
                        out.latencies_us.push(t.elapsed().as_micros() as u64);
                    }
                    Err(e) => {
                        out.errors += 1;
                        if out.first_errors.len() < 3 {
                            out.first_errors.push(format!("{e:#}"));
                        }
                    }
                }
            }
            out
        }));
    }
    let mut all = Outcome::default();
    for w in workers {
        let out = w.await.expect("a worker panicked");
        all.ok += out.ok;
        all.errors += out.errors;
        all.latencies_us.extend(out.latencies_us);
        for e in out.first_errors {
            if all.first_errors.len() < 5 && !all.first_errors.contains(&e) {
                all.first_errors.push(e);
            }
        }
    }
    (all, t0.elapsed())
}

fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

// ------------------------------------------------------------ the API flows

/// An account signed in for W3: its session, its phone now, and the person
/// every phone it changes to is registered to at the carrier.
struct W3Account {
    token: String,
    phone: String,
    id_number: String,
}

/// The name of every W3 person (the ID numbers tell them apart).
const W3_NAME: &str = "王小明";

struct Ctx {
    http: Client,
    /// The nodes' base URLs, taken in turn.
    bases: Vec<String>,
    next_node: AtomicU64,
    next_phone: AtomicU64,
    next_person: AtomicU64,
    tokens: Vec<String>,
    next_token: AtomicU64,
    /// W3's signed-in accounts, the one changed longest ago first.
    w3_accounts: Mutex<VecDeque<W3Account>>,
    /// Latencies (µs) of each request of W2 and W3 (and the seeding), by path.
    steps: Mutex<BTreeMap<&'static str, Vec<u64>>>,
}

impl Ctx {
    fn record(&self, path: &'static str, since: Instant) {
        let us = since.elapsed().as_micros() as u64;
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        steps.entry(path).or_default().push(us);
    }

    /// The per-request latencies recorded since the last call.
    fn take_steps(&self) -> Vec<Step> {
        let steps = std::mem::take(&mut *self.steps.lock().unwrap_or_else(|e| e.into_inner()));
        steps
            .into_iter()
            .map(|(path, mut lat)| {
                lat.sort_unstable();
                Step {
                    path,
                    requests: lat.len(),
                    p50_ms: percentile_ms(&lat, 50.0),
                    p99_ms: percentile_ms(&lat, 99.0),
                }
            })
            .collect()
    }

    /// A mainland mobile number no earlier operation of this run used.
    fn phone(&self) -> String {
        let n = self.next_phone.fetch_add(1, Ordering::Relaxed) % 1_000_000_000;
        format!("+8613{n:09}")
    }

    /// The node the next operation goes to.
    fn node(&self) -> &str {
        let i = self.next_node.fetch_add(1, Ordering::Relaxed) as usize;
        &self.bases[i % self.bases.len()]
    }

    async fn post(&self, node: &str, token: Option<&str>, path: &'static str, body: Value, want: u16) -> Result<Value> {
        let t = Instant::now();
        let mut req = self.http.post(format!("{node}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let answer = expect(req.send().await.with_context(|| format!("POST {path}"))?, want, path).await;
        self.record(path, t);
        answer
    }

    /// The newest code sent to `phone`, from the development outbox.
    async fn latest_code(&self, node: &str, phone: &str) -> Result<String> {
        let t = Instant::now();
        let resp = self
            .http
            .get(format!("{node}/dev/sms"))
            .query(&[("phone", phone)])
            .send()
            .await
            .context("GET /dev/sms")?;
        let messages = expect(resp, 200, "/dev/sms").await;
        self.record("/dev/sms", t);
        let messages = messages?;
        messages
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["text"].as_str())
            .find_map(|t| {
                let (_, rest) = t.split_once("Your shiming code is ")?;
                rest.get(..6).map(str::to_owned)
            })
            .ok_or_else(|| anyhow!("no code in the outbox for {phone}"))
    }

    /// W2: a phone sign-in; the session's token.
    async fn sign_in(&self, node: &str, phone: &str) -> Result<String> {
        self.post(
            node,
            None,
            "/api/v1/sms/send",
            json!({ "phone": phone, "purpose": "login" }),
            202,
        )
        .await?;
        let code = self.latest_code(node, phone).await?;
        let body = self
            .post(
                node,
                None,
                "/api/v1/login/phone",
                json!({ "phone": phone, "code": code }),
                200,
            )
            .await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no token in the sign-in answer"))
    }

    async fn w1(&self) -> Result<()> {
        let i = self.next_token.fetch_add(1, Ordering::Relaxed) as usize;
        let token = &self.tokens[i % self.tokens.len()];
        let resp = self
            .http
            .get(format!("{}/api/v1/whoami", self.node()))
            .bearer_auth(token)
            .send()
            .await
            .context("GET /api/v1/whoami")?;
        expect(resp, 200, "/api/v1/whoami").await.map(drop)
    }

    async fn w2(&self) -> Result<()> {
        self.sign_in(self.node(), &self.phone()).await.map(drop)
    }

    /// A new account, signed in, with a person of its own.
    async fn w3_account(&self) -> Result<W3Account> {
        let phone = self.phone();
        let token = self.sign_in(self.node(), &phone).await?;
        let id_number = IdNumber::sample(self.next_person.fetch_add(1, Ordering::Relaxed))
            .as_str()
            .to_owned();
        Ok(W3Account {
            token,
            phone,
            id_number,
        })
    }

    /// W3: one phone change, of a new account (`sign_in`) or of the pooled
    /// account changed longest ago, which goes back to the pool afterwards.
    async fn w3(&self, sign_in: bool) -> Result<()> {
        let mut account = if sign_in {
            self.w3_account().await?
        } else {
            let pooled = self.w3_accounts.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            pooled.ok_or_else(|| anyhow!("no W3 account is free (--w3-accounts below --w3-connections?)"))?
        };
        let changed = self.change_phone(self.node(), &account).await;
        if let Ok(new_phone) = &changed {
            account.phone.clone_from(new_phone);
        }
        if !sign_in {
            self.w3_accounts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_back(account);
        }
        changed.map(drop)
    }

    /// Step-up, a new phone registered to the account's person at the
    /// carrier, its code, the preview, the confirm; the new phone.
    async fn change_phone(&self, node: &str, account: &W3Account) -> Result<String> {
        let t = Some(account.token.as_str());
        self.post(node, t, "/api/v1/step-up/sms", json!({}), 202).await?;
        let code = self.latest_code(node, &account.phone).await?;
        self.post(node, t, "/api/v1/step-up/verify", json!({ "code": code }), 200)
            .await?;
        let new_phone = self.phone();
        let person = json!({ "phone": new_phone, "name": W3_NAME, "id_number": account.id_number });
        // The carrier is the node's development one: told on the node that asks it.
        self.post(node, None, "/dev/carrier/persons", person, 201).await?;
        self.post(
            node,
            t,
            "/api/v1/account/phone/change",
            json!({ "new_phone": new_phone, "name": W3_NAME, "id_number": account.id_number, "consent": true }),
            202,
        )
        .await?;
        let code = self.latest_code(node, &new_phone).await?;
        self.post(
            node,
            t,
            "/api/v1/account/phone/change/verify",
            json!({ "code": code }),
            200,
        )
        .await?;
        self.post(
            node,
            t,
            "/api/v1/account/phone/change/confirm",
            json!({ "accept_consequences": true }),
            200,
        )
        .await?;
        Ok(new_phone)
    }
}

async fn expect(resp: reqwest::Response, want: u16, what: &str) -> Result<Value> {
    let status = resp.status().as_u16();
    let body = resp.text().await.with_context(|| format!("{what}: reading the body"))?;
    if status != want {
        let short: String = body.chars().take(200).collect();
        bail!("{what}: {status} (wanted {want}): {short}");
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

// ----------------------------------------------------------------- the report

#[derive(Serialize)]
struct Row {
    workload: String,
    operation: String,
    http_requests_per_op: u32,
    connections: usize,
    seconds: f64,
    ok: u64,
    errors: u64,
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    server_rss_before_kib: Option<u64>,
    server_rss_peak_kib: Option<u64>,
    server_cpu_pct_of_one_core: Option<f64>,
    /// The bench process itself (load generator; for B0 also the bare server).
    bench_cpu_pct_of_one_core: Option<f64>,
    first_errors: Vec<String>,
    /// W2 and W3: each request of the flow (successful or not).
    steps: Vec<Step>,
}

#[derive(Serialize)]
struct Step {
    path: &'static str,
    requests: usize,
    p50_ms: f64,
    p99_ms: f64,
}

#[derive(Serialize)]
struct Seeded {
    accounts: u64,
    errors: u64,
    seconds: f64,
    accounts_per_sec: f64,
    how: &'static str,
    /// Seeding through the store: the database file's size after it, and
    /// its write-ahead log's (not yet checkpointed into the file).
    database_bytes: Option<u64>,
    wal_bytes: Option<u64>,
}

#[derive(Serialize)]
struct Report {
    server: String,
    /// Nodes on one database (their CPU and RSS are reported together).
    nodes: usize,
    server_started_by_bench: bool,
    limits_raised: Vec<String>,
    cpus: usize,
    clock_ticks_per_sec: u64,
    server_rss_idle_kib: Option<u64>,
    /// `--seed`: through the store, before the server started.
    seed: Option<Seeded>,
    /// `--seed-http`: phone sign-ins over HTTP.
    seed_http: Option<Seeded>,
    rows: Vec<Row>,
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn print_table(report: &Report) {
    println!();
    println!(
        "server: {} ({} node{}, {}), {} CPUs, idle RSS {} KiB",
        report.server,
        report.nodes,
        if report.nodes == 1 { "" } else { "s" },
        if report.server_started_by_bench {
            "started by the bench"
        } else {
            "given by --url"
        },
        report.cpus,
        opt(report.server_rss_idle_kib)
    );
    if report.limits_raised.is_empty() {
        println!("limits: as the running server is configured (the bench raised none)");
    } else {
        println!("limits raised by environment: {}", report.limits_raised.join(" "));
    }
    if let Some(s) = &report.seed {
        println!(
            "seed: {} accounts through the store in {:.1} s ({:.0}/s); database {} MiB, WAL {} MiB",
            s.accounts,
            s.seconds,
            s.accounts_per_sec,
            opt(s.database_bytes.map(mib)),
            opt(s.wal_bytes.map(mib))
        );
    }
    if let Some(s) = &report.seed_http {
        println!(
            "seed: {} accounts signed in over HTTP in {:.1} s ({:.0}/s, {} errors)",
            s.accounts, s.seconds, s.accounts_per_sec, s.errors
        );
    }
    println!();
    println!(
        "{:<4} {:<36} {:>4} {:>9} {:>6} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8} {:>10}",
        "wl",
        "operation",
        "conn",
        "ok",
        "errors",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "RSS0 KiB",
        "RSSpk KiB",
        "srv CPU%",
        "bench CPU%"
    );
    for r in &report.rows {
        println!(
            "{:<4} {:<36} {:>4} {:>9} {:>6} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>10} {:>10} {:>8} {:>10}",
            r.workload,
            r.operation,
            r.connections,
            r.ok,
            r.errors,
            r.ops_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            opt(r.server_rss_before_kib),
            opt(r.server_rss_peak_kib),
            opt(r.server_cpu_pct_of_one_core.map(|c| format!("{c:.0}"))),
            opt(r.bench_cpu_pct_of_one_core.map(|c| format!("{c:.0}"))),
        );
    }
    for r in &report.rows {
        for s in &r.steps {
            println!(
                "{:<4}   {:<36} {:>9} requests, p50 {:>8.2} ms, p99 {:>8.2} ms",
                r.workload, s.path, s.requests, s.p50_ms, s.p99_ms
            );
        }
    }
    for r in &report.rows {
        for e in &r.first_errors {
            println!("{} error: {e}", r.workload);
        }
    }
}

// ----------------------------------------------------------------------- main

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.duration = 1;
        args.connections = 4;
        args.w3_connections = 2;
        args.w1_accounts = 4;
        args.w3_accounts = 4;
    }
    let workloads: Vec<String> = args
        .workloads
        .split(',')
        .map(|w| w.trim().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(bad) = workloads
        .iter()
        .find(|w| !["b0", "w1", "w2", "w3"].contains(&w.as_str()))
    {
        bail!("unknown workload {bad:?}: use b0, w1, w2, w3");
    }
    let duration = Duration::from_secs(args.duration.max(1));
    let hz = clock_ticks_per_sec();

    if args.seed > 0 && args.url.is_some() {
        bail!("--seed writes to the database of a server the bench starts, before starting it: with --url, run `shiming dev seed` on that server's data folder before starting it, or use --seed-http");
    }

    let shared = std::env::var("SHIMING_DATABASE__URL").is_ok_and(|u| u.starts_with("postgres"));
    if args.nodes > 1 && (args.url.is_some() || !shared) {
        bail!("--nodes starts several nodes on one shared PostgreSQL: set SHIMING_DATABASE__URL=postgres://… (and no --url)");
    }

    let mut seeded = None;
    // The data folder the started nodes share (the first makes the
    // development secrets, the others read them): removed on exit.
    let data = tempfile::tempdir()?;
    let mut started = Vec::new();
    let (bases, pids, limits_raised) = match &args.url {
        Some(url) => (
            vec![url.trim_end_matches('/').to_owned()],
            Vec::from_iter(args.pid),
            Vec::new(),
        ),
        None => {
            if args.seed > 0 {
                eprintln!("shiming-bench: seeding {} accounts through the store", args.seed);
                seeded = Some(seed_store(&args.shiming, data.path(), args.seed).await?);
            }
            let (mut bases, mut pids) = (Vec::new(), Vec::new());
            for _ in 0..args.nodes.max(1) {
                let (guard, url, pid) = start_server(&args.shiming, data.path()).await?;
                started.push(guard);
                bases.push(url);
                pids.push(pid);
            }
            let limits = RAISED_LIMITS.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (bases, pids, limits)
        }
    };
    let base = bases.join(" ");
    eprintln!("shiming-bench: server at {base}");

    let http = Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    // Phones start at a point of this run's clock, so that runs against one
    // long-running server rarely reuse a phone.
    let phone0 = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() % 1000 * 1_000_000;
    let mut ctx = Ctx {
        http: http.clone(),
        bases,
        next_node: AtomicU64::new(0),
        next_phone: AtomicU64::new(phone0),
        next_person: AtomicU64::new(phone0 % 16_800_000),
        tokens: Vec::new(),
        next_token: AtomicU64::new(0),
        w3_accounts: Mutex::new(VecDeque::new()),
        steps: Mutex::new(BTreeMap::new()),
    };

    let rss_idle = rss_sum(&pids).filter(|_| !pids.is_empty());
    let mut report = Report {
        server: base.clone(),
        nodes: ctx.bases.len(),
        server_started_by_bench: args.url.is_none(),
        limits_raised,
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        clock_ticks_per_sec: hz,
        server_rss_idle_kib: rss_idle,
        seed: seeded,
        seed_http: None,
        rows: Vec::new(),
    };

    if workloads.iter().any(|w| w == "w1") {
        for _ in 0..args.w1_accounts.max(1) {
            let phone = ctx.phone();
            let token = ctx
                .sign_in(ctx.node(), &phone)
                .await
                .context("signing in W1's accounts")?;
            ctx.tokens.push(token);
        }
    }
    if workloads.iter().any(|w| w == "w3") && !args.w3_sign_in {
        let n = args.w3_accounts.max(args.w3_connections);
        let mut pool = VecDeque::with_capacity(n);
        for _ in 0..n {
            pool.push_back(ctx.w3_account().await.context("signing in W3's accounts")?);
        }
        *ctx.w3_accounts.lock().unwrap_or_else(|e| e.into_inner()) = pool;
    }
    let ctx = Arc::new(ctx);

    if args.seed_http > 0 {
        eprintln!("shiming-bench: seeding {} accounts over HTTP", args.seed_http);
        let c = ctx.clone();
        let (out, took) = closed_loop(
            args.connections,
            Until::Count(Arc::new(AtomicU64::new(0)), args.seed_http),
            move || {
                let c = c.clone();
                async move { c.w2().await }
            },
        )
        .await;
        report.seed_http = Some(Seeded {
            accounts: out.ok,
            errors: out.errors,
            seconds: took.as_secs_f64(),
            accounts_per_sec: out.ok as f64 / took.as_secs_f64(),
            how: "phone sign-ins over HTTP (W2's flow), at --connections",
            database_bytes: None,
            wal_bytes: None,
        });
    }

    for w in &workloads {
        eprintln!("shiming-bench: running {w} for {} s", duration.as_secs());
        let (operation, per_op, connections, server_pids) = match w.as_str() {
            "b0" => ("bare axum GET, constant body", 1, args.connections, &[][..]),
            "w1" => ("GET /api/v1/whoami (bearer)", 1, args.connections, &pids[..]),
            "w2" => ("phone sign-in (send, outbox, login)", 3, args.connections, &pids[..]),
            _ if args.w3_sign_in => ("phone change (sign-in .. confirm)", 11, args.w3_connections, &pids[..]),
            _ => ("phone change (step-up .. confirm)", 8, args.w3_connections, &pids[..]),
        };
        ctx.take_steps();
        let rss_before = rss_sum(server_pids).filter(|_| !server_pids.is_empty());
        let me = std::process::id();
        let my_ticks0 = cpu_ticks(me);
        let sampler = (!server_pids.is_empty()).then(|| Sampler::start(server_pids.to_vec()));
        let until = Until::Deadline(Instant::now() + duration);
        let (out, took) = match w.as_str() {
            "b0" => {
                let url = start_b0()?;
                let http = http.clone();
                closed_loop(connections, until, move || {
                    let req = http.get(&url).bearer_auth("b0");
                    async move { expect(req.send().await?, 200, "b0").await.map(drop) }
                })
                .await
            }
            name => {
                let c = ctx.clone();
                let name = name.to_owned();
                let w3_sign_in = args.w3_sign_in;
                closed_loop(connections, until, move || {
                    let c = c.clone();
                    let name = name.clone();
                    async move {
                        match name.as_str() {
                            "w1" => c.w1().await,
                            "w2" => c.w2().await,
                            _ => c.w3(w3_sign_in).await,
                        }
                    }
                })
                .await
            }
        };
        let (peak, cpu) = match sampler {
            Some(s) => s.finish(server_pids, hz).await,
            None => (None, None),
        };
        let bench_cpu = match (my_ticks0, cpu_ticks(me)) {
            (Some(a), Some(b)) => Some((b - a) as f64 / hz as f64 / took.as_secs_f64() * 100.0),
            _ => None,
        };
        let mut lat = out.latencies_us;
        lat.sort_unstable();
        let secs = took.as_secs_f64();
        report.rows.push(Row {
            workload: w.to_uppercase(),
            operation: operation.to_owned(),
            http_requests_per_op: per_op,
            connections,
            seconds: secs,
            ok: out.ok,
            errors: out.errors,
            ops_per_sec: out.ok as f64 / secs,
            p50_ms: percentile_ms(&lat, 50.0),
            p99_ms: percentile_ms(&lat, 99.0),
            max_ms: lat.last().map_or(0.0, |&m| m as f64 / 1000.0),
            server_rss_before_kib: rss_before,
            server_rss_peak_kib: peak,
            server_cpu_pct_of_one_core: cpu,
            bench_cpu_pct_of_one_core: bench_cpu,
            first_errors: out.first_errors,
            steps: ctx.take_steps(),
        });
    }

    print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let errors: u64 = report.rows.iter().map(|r| r.errors).sum();
    if args.smoke && (errors > 0 || report.rows.iter().any(|r| r.ok == 0)) {
        bail!("smoke run: {errors} errors, or a workload with no successful operation");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_from_the_sorted_latencies() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 50.0), 51.0);
        assert_eq!(percentile_ms(&v, 99.0), 99.0);
        assert_eq!(percentile_ms(&[], 99.0), 0.0);
    }
}
