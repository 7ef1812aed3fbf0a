//! Helpers shared by the tests of the real binary (`binary.rs`, `crash.rs`):
//! processes owned by kill-on-drop guards, `serve --dev` on port 0, the
//! phone sign-in through the development outbox, read-only queries on the
//! data folder's database, `shiming dev seed` and `shiming audit`.
//!
//! Each test file compiles its own copy and uses only some of it.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_shiming");

/// How long a process may take to print its address (a debug build, on a
/// machine busy with other builds).
pub const STARTUP: Duration = Duration::from_secs(60);

/// A child process killed (SIGKILL) and reaped when dropped, so a failing
/// assertion never leaves a server or simulator running.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // Either may fail when the process already exited and was reaped: then
        // there is nothing left to stop.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A started process with its standard output read line by line: each line
/// is copied to `log` (when given) and handed to `lines`.
pub struct Spawned {
    guard: Guard,
    lines: mpsc::Receiver<String>,
    echo: Option<JoinHandle<()>>,
}

pub fn spawn(cmd: &mut Command, log: Option<&Path>) -> Spawned {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("the binary starts");
    let stdout = child.stdout.take().expect("a piped stdout");
    let guard = Guard(child);
    let mut copy = log.map(|l| OpenOptions::new().create(true).append(true).open(l).unwrap());
    let (tx, lines) = mpsc::channel();
    let echo = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(f) = &mut copy {
                let _ = writeln!(f, "{line}");
            }
            let _ = tx.send(line);
        }
    });
    Spawned {
        guard,
        lines,
        echo: Some(echo),
    }
}

impl Spawned {
    /// The `http://ADDR` printed on the next line that contains `label`;
    /// `None` when the process closed its output (exited) or printed no such
    /// line within [`STARTUP`].
    pub fn url_after(&self, label: &str) -> Option<String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()?;
            if let Some((_, rest)) = line.split_once(label) {
                let at = rest.find("http://")?;
                let url = rest[at..].split_whitespace().next()?.to_owned();
                assert!(!url.ends_with(":0"), "a port-0 address printed: {line}");
                return Some(url);
            }
        }
    }

    /// Waits for the process to exit, at most `within`.
    pub fn wait(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.guard.0.try_wait().unwrap() {
                // Its output is closed: the copy of it is complete.
                if let Some(echo) = self.echo.take() {
                    echo.join().unwrap();
                }
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A `serve --dev` and the addresses it printed: its own, and those of its
/// development carrier and WeChat server.
pub struct Served {
    proc: Spawned,
    pub base: String,
    pub carrier: String,
    pub wechat: String,
    log: PathBuf,
}

pub fn serve(data: &Path, logs: &Path) -> Served {
    serve_with(data, logs, &[])
}

pub fn serve_with(data: &Path, logs: &Path, env: &[(&str, &str)]) -> Served {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let log = logs.join(format!("serve-{}.log", STARTED.fetch_add(1, Ordering::Relaxed)));
    let err = OpenOptions::new().create(true).append(true).open(&log).unwrap();
    let proc = spawn(
        Command::new(BIN)
            .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env("SHIMING_DEV_CARRIER__LISTEN", "127.0.0.1:0")
            .env("SHIMING_DEV_WECHAT__LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stderr(err),
        Some(&log),
    );
    let printed = |label: &str| {
        proc.url_after(label).unwrap_or_else(|| {
            panic!(
                "`serve --dev` printed no {label:?} address:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    };
    let base = printed("shiming is listening on");
    let carrier = printed("development carrier:");
    let wechat = printed("development WeChat:");
    // Bound before it printed: it answers at once.
    let health = reqwest::blocking::get(format!("{base}/healthz")).unwrap();
    assert_eq!(health.status(), 200);
    Served {
        proc,
        base,
        carrier,
        wechat,
        log,
    }
}

impl Served {
    /// SIGTERM, and the exit status once it stopped, with its log.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.proc.guard.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self
            .proc
            .wait(Duration::from_secs(10))
            .expect("a graceful exit within 10 s of SIGTERM");
        let mut text = String::new();
        std::fs::File::open(&self.log)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        (status, text)
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        self.proc.guard.0.kill().unwrap();
        self.proc.wait(Duration::from_secs(10)).expect("dead after SIGKILL");
    }
}

/// The newest code among a phone's messages from the development outbox
/// (`GET /dev/sms`, newest first): the six digits after "Your shiming code
/// is ". The texts of binds and rebinds carry none.
pub fn code_in(messages: &Value) -> Option<String> {
    messages
        .as_array()?
        .iter()
        .filter_map(|m| m["text"].as_str())
        .find_map(|t| {
            let (_, rest) = t.split_once("Your shiming code is ")?;
            rest.get(..6).map(str::to_owned)
        })
}

/// The newest code sent to `phone`, read from the development outbox.
pub fn code_from(client: &Client, base: &str, phone: &str) -> String {
    let msgs: Value = client
        .get(format!("{base}/dev/sms"))
        .query(&[("phone", phone)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    code_in(&msgs).unwrap_or_else(|| panic!("no code in the outbox: {msgs}"))
}

/// Signs in by phone against a running binary; the answer of
/// `POST /api/v1/login/phone` (`account_id`, `created`, `token`, …).
pub fn phone_sign_in_answer(c: &Client, base: &str, phone: &str) -> Value {
    let r = c
        .post(format!("{base}/api/v1/sms/send"))
        .json(&json!({ "phone": phone, "purpose": "login" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let code = code_from(c, base, phone);
    let login = c
        .post(format!("{base}/api/v1/login/phone"))
        .json(&json!({ "phone": phone, "code": code }))
        .send()
        .unwrap();
    assert_eq!(login.status(), 200);
    let login: Value = login.json().unwrap();
    assert!(login["notices_unread"].is_u64(), "{login}");
    assert!(login["token"].is_string(), "{login}");
    login
}

/// Signs in by phone against a running binary; the bearer token.
pub fn phone_sign_in(c: &Client, base: &str, phone: &str) -> String {
    phone_sign_in_answer(c, base, phone)["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A `+86` mobile number as Account & Security shows it: `138****0001`.
pub fn masked(phone: &str) -> String {
    format!("{}****{}", &phone[3..6], &phone[phone.len() - 4..])
}

pub fn post_as(c: &Client, base: &str, token: &str, path: &str, body: Value) -> reqwest::blocking::Response {
    c.post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap()
}

pub fn get_as(c: &Client, base: &str, token: &str, path: &str) -> Value {
    let r = c.get(format!("{base}{path}")).bearer_auth(token).send().unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().unwrap()
}

/// Read-only queries on a data folder's SQLite database.
pub struct Db {
    rt: tokio::runtime::Runtime,
    pool: sqlx::SqlitePool,
}

impl Db {
    pub fn open(data: &Path) -> Db {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = format!("sqlite://{}?mode=ro", data.join("shiming.db").display());
        let pool = rt.block_on(sqlx::SqlitePool::connect(&url)).unwrap();
        Db { rt, pool }
    }

    pub fn total(&self, sql: &str) -> i64 {
        self.rt.block_on(sqlx::query_scalar(sql).fetch_one(&self.pool)).unwrap()
    }

    pub fn count(&self, sql: &str, account: &str) -> i64 {
        self.rt
            .block_on(sqlx::query_scalar(sql).bind(account).fetch_one(&self.pool))
            .unwrap()
    }

    /// The one text column of every row `sql` selects.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        self.rt.block_on(sqlx::query_scalar(sql).fetch_all(&self.pool)).unwrap()
    }

    /// An account's rebind as the database holds it: its `credential.rebound`
    /// events, its rebind records, its used-up pending changes and its phones
    /// with an attestation. A phone change committed whole is `(1, 1, 1, 1)`
    /// for the accounts of these tests (unverified until they change phone
    /// once, to a phone whose holder the carrier confirmed); none is all zeros.
    pub fn rebind_facts(&self, account: &str) -> (i64, i64, i64, i64) {
        (
            self.count(
                "SELECT COUNT(*) FROM audit_events WHERE account_id = ? AND kind = 'credential.rebound'",
                account,
            ),
            self.count("SELECT COUNT(*) FROM rebinds WHERE account_id = ?", account),
            self.count(
                "SELECT COUNT(*) FROM pending_changes WHERE account_id = ? AND consumed_at IS NOT NULL",
                account,
            ),
            self.count(
                "SELECT COUNT(*) FROM credentials c JOIN attestations a ON a.credential_id = c.id \
                 WHERE c.account_id = ? AND c.kind = 'phone'",
                account,
            ),
        )
    }

    /// Nothing in the database is half written, for every account at once,
    /// as far as these tests' accounts go: each made by a phone sign-in and
    /// changing its phone at most once (to a phone whose holder the carrier
    /// confirmed), no real name verified otherwise, no session revoked. A
    /// commit brings all its rows and events or none of them; so does a
    /// sign-in (the account, its credential, the session and their events)
    /// and a step-up (the session's window and its event).
    pub fn assert_nothing_half_applied(&self) {
        let checks: [(&str, &str); 9] = [
            (
                "an account whose rows and events disagree (phones, other credentials, \
                 account.created, rebinds, used-up changes, credential.rebound, realname.changed, \
                 account notices of the rebind, attested phones, recorded person)",
                "SELECT id || ': ' || phones || ' ' || others || ' ' || created || ' ' || rebinds || ' ' \
                 || consumed || ' ' || rebound || ' ' || changed || ' ' || noticed || ' ' || attested || ' ' \
                 || recorded FROM (SELECT a.id, \
                   (SELECT COUNT(*) FROM credentials c WHERE c.account_id = a.id AND c.kind = 'phone') AS phones, \
                   (SELECT COUNT(*) FROM credentials c WHERE c.account_id = a.id AND c.kind <> 'phone') AS others, \
                   (SELECT COUNT(*) FROM audit_events e WHERE e.account_id = a.id AND e.kind = 'account.created') \
                     AS created, \
                   (SELECT COUNT(*) FROM rebinds r WHERE r.account_id = a.id) AS rebinds, \
                   (SELECT COUNT(*) FROM pending_changes p WHERE p.account_id = a.id AND p.consumed_at IS NOT NULL) \
                     AS consumed, \
                   (SELECT COUNT(*) FROM audit_events e WHERE e.account_id = a.id AND e.kind = 'credential.rebound') \
                     AS rebound, \
                   (SELECT COUNT(*) FROM audit_events e WHERE e.account_id = a.id AND e.kind = 'realname.changed') \
                     AS changed, \
                   (SELECT COUNT(*) FROM account_notices n WHERE n.account_id = a.id \
                     AND n.kind = 'credential.rebound') AS noticed, \
                   (SELECT COUNT(*) FROM credentials c JOIN attestations t ON t.credential_id = c.id \
                     WHERE c.account_id = a.id) AS attested, \
                   a.realname_person_hash IS NOT NULL AS recorded \
                 FROM accounts a) \
                 WHERE NOT (phones = 1 AND others = 0 AND created = 1 AND rebinds IN (0, 1) \
                   AND consumed = rebinds AND rebound = rebinds AND changed = rebinds AND noticed = rebinds \
                   AND attested = rebinds AND recorded = rebinds)",
            ),
            (
                "a phone other than the one the account's newest event bound",
                "SELECT a.id FROM accounts a JOIN credentials c ON c.account_id = a.id AND c.kind = 'phone' \
                 WHERE lower(hex(c.lookup_hash)) IS NOT COALESCE( \
                   (SELECT json_extract(e.details, '$.new_lookup_hash') FROM audit_events e \
                    WHERE e.account_id = a.id AND e.kind = 'credential.rebound' ORDER BY e.seq DESC LIMIT 1), \
                   (SELECT json_extract(e.details, '$.lookup_hash') FROM audit_events e \
                    WHERE e.account_id = a.id AND e.kind = 'account.created'))",
            ),
            (
                "a rebind from a phone the account was not created with",
                "SELECT e.account_id FROM audit_events e WHERE e.kind = 'credential.rebound' \
                 AND json_extract(e.details, '$.old_lookup_hash') IS NOT \
                   (SELECT json_extract(c.details, '$.lookup_hash') FROM audit_events c \
                    WHERE c.account_id = e.account_id AND c.kind = 'account.created')",
            ),
            (
                "a recorded real-name person other than the one the phone attests, or its event's",
                "SELECT a.id FROM accounts a \
                 JOIN credentials c ON c.account_id = a.id \
                 JOIN attestations t ON t.credential_id = c.id JOIN persons p ON p.id = t.person_id \
                 WHERE a.realname_person_hash IS NOT p.person_hash \
                 OR lower(hex(p.person_hash)) IS NOT (SELECT json_extract(e.details, '$.person_hash_after') \
                   FROM audit_events e WHERE e.account_id = a.id AND e.kind = 'realname.changed')",
            ),
            (
                "an account event without its account",
                "SELECT e.seq || ' ' || e.kind FROM audit_events e WHERE e.account_id IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id)",
            ),
            (
                "a session without its session.created event",
                "SELECT s.id FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM audit_events e \
                 WHERE e.account_id = s.account_id AND e.kind = 'session.created' \
                 AND json_extract(e.details, '$.session_id') = s.id)",
            ),
            (
                "a session.created event without its session",
                "SELECT json_extract(e.details, '$.session_id') FROM audit_events e \
                 WHERE e.kind = 'session.created' AND NOT EXISTS \
                 (SELECT 1 FROM sessions s WHERE s.id = json_extract(e.details, '$.session_id'))",
            ),
            (
                "a session stepped up without its session.stepped_up event, or the reverse",
                "SELECT s.id FROM sessions s WHERE (s.step_up_until IS NOT NULL) IS NOT EXISTS \
                 (SELECT 1 FROM audit_events e WHERE e.account_id = s.account_id AND e.kind = 'session.stepped_up' \
                  AND json_extract(e.details, '$.session_id') = s.id)",
            ),
            (
                "a credential held twice",
                "SELECT hex(lookup_hash) FROM credentials GROUP BY kind, lookup_hash HAVING COUNT(*) > 1",
            ),
        ];
        for (what, sql) in checks {
            let found = self.texts(sql);
            assert!(found.is_empty(), "{what}: {} found: {found:?}", found.len());
        }
    }
}

/// `shiming dev seed --accounts N` on a data folder with the extra `args`
/// (e.g. `--dev`): (success, standard output, standard error).
pub fn seed(data: &Path, accounts: u64, args: &[&str]) -> (bool, String, String) {
    finished(
        Command::new(BIN)
            .args(["dev", "seed", "--accounts", &accounts.to_string()])
            .args(args)
            .arg("--data-dir")
            .arg(data),
    )
}

/// Runs the command to its end, without input: (success, standard output,
/// standard error).
fn finished(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `shiming enterprise …` on a data folder, with the development secrets:
/// (success, standard output, standard error).
pub fn enterprise_cli(data: &Path, args: &[&str]) -> (bool, String, String) {
    finished(
        Command::new(BIN)
            .arg("enterprise")
            .args(args)
            .args(["--dev", "--data-dir"])
            .arg(data),
    )
}

/// `shiming audit …` on a data folder: (exit code, standard output).
pub fn audit(data: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}
