//! Many nodes (#17): two `shiming serve` processes on different ports, one
//! PostgreSQL database. What one node does holds on the other at its next
//! request; limits hold across them; rebinds racing on both commit once;
//! and the audit chain stays one chain, verified by `shiming audit verify`.
//! And a node that loses its database under load: it answers 503, commits
//! nothing by halves, loses nothing it answered, and recovers by itself.
//!
//! Each test gets a fresh database (crates/testdb), dropped after it. Where
//! no PostgreSQL answers, the tests print a notice and are skipped.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use shiming_domain::IdNumber;
use shiming_testdb::{Raw, TestDatabase};

/// Limits loose enough for a test's many sign-ins from one address, and no
/// wait between two codes to one phone.
const LOOSE: &[(&str, &str)] = &[
    ("SHIMING_SMS__PER_IP_PER_HOUR", "1000000"),
    ("SHIMING_SMS__PER_PHONE_PER_HOUR", "1000000"),
    ("SHIMING_SMS__SECURITY_PER_PHONE_PER_HOUR", "1000000"),
    ("SHIMING_SMS__FAILED_TRIES_PER_IP_PER_HOUR", "1000000"),
    ("SHIMING_SMS__RESEND_AFTER_SECS", "0"),
    ("SHIMING_REALNAME__CHECKS_PER_ACCOUNT_PER_DAY", "1000000"),
    ("RUST_LOG", "warn"),
];

/// Two nodes on one fresh database, sharing their secrets (one data folder
/// holds the development secrets the first one made).
struct Nodes {
    a: Served,
    b: Served,
    url: String,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    _db: TestDatabase,
}

impl Nodes {
    /// `None` when the PostgreSQL tests are skipped (the notice is printed).
    fn start(env: &[(&str, &str)]) -> Option<Nodes> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let db = rt.block_on(TestDatabase::create())?;
        let url = db.url.clone();
        Some(Self::start_on(rt, db, [&url, &url], env))
    }

    /// Two nodes on `db`, A and B reaching it at `urls` (the database's own
    /// URL, or one through a proxy).
    fn start_on(rt: tokio::runtime::Runtime, db: TestDatabase, urls: [&str; 2], env: &[(&str, &str)]) -> Nodes {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let node = |url: &str| {
            let mut all: Vec<(&str, &str)> = vec![("SHIMING_DATABASE__URL", url)];
            all.extend_from_slice(env);
            serve_with(&data, dir.path(), &all)
        };
        // One after the other: the first makes the schema and the secrets.
        let a = node(urls[0]);
        let b = node(urls[1]);
        assert_ne!(a.base, b.base);
        Nodes {
            a,
            b,
            url: db.url.clone(),
            rt,
            dir,
            _db: db,
        }
    }

    fn raw(&self) -> Raw {
        self.rt.block_on(Raw::connect(&self.url))
    }

    fn scalar(&self, sql: &str) -> i64 {
        let raw = self.raw();
        self.rt.block_on(raw.scalar(sql)).expect("a value")
    }

    /// A change written with the triggers off: the nodes are not told of it.
    fn hidden(&self, sql: &str) {
        self.rt.block_on(async {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SET LOCAL session_replication_role = replica")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
            pool.close().await;
        });
    }

    /// Tells the nodes that the account's sessions changed, as the triggers
    /// do, then waits for both to have heard it.
    fn tell(&self, account_id: &str) {
        let raw = self.raw();
        self.rt
            .block_on(raw.exec(&format!("SELECT pg_notify('shiming_sessions', 'a {account_id}')")));
        self.barrier();
    }

    /// What an operator's tool does after writing in plain SQL (see
    /// docs/deployment.md): a barrier on the nodes' session channel, then
    /// the acknowledgement of each of the two nodes, which they send once
    /// they have handled everything committed before it.
    fn barrier(&self) {
        self.rt.block_on(async {
            let mut listener = sqlx::postgres::PgListener::connect(&self.url).await.unwrap();
            listener.listen("shiming_sessions").await.unwrap();
            sqlx::query("SELECT pg_notify('shiming_sessions', 'b operator 1')")
                .execute(&mut listener)
                .await
                .unwrap();
            let mut acked = std::collections::HashSet::new();
            while acked.len() < 2 {
                let heard = tokio::time::timeout(Duration::from_secs(5), listener.recv())
                    .await
                    .expect("both nodes acknowledge a barrier")
                    .unwrap();
                if let Some(node) = heard.payload().strip_prefix("k operator 1 ") {
                    acked.insert(node.to_owned());
                }
            }
        });
    }

    /// `shiming audit verify` on the shared database: its one line.
    fn audit_verify(&self) -> String {
        let out = std::process::Command::new(BIN)
            .args(["audit", "verify", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .env("SHIMING_DATABASE__URL", &self.url)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

fn status_as(c: &Client, base: &str, token: &str, path: &str) -> u16 {
    c.get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Steps up `token`'s session on `base` by a code to `phone`.
fn step_up(c: &Client, base: &str, token: &str, phone: &str) {
    let r = post_as(c, base, token, "/api/v1/step-up/sms", json!({}));
    assert_eq!(r.status(), 202);
    let code = code_from(c, base, phone);
    let r = post_as(c, base, token, "/api/v1/step-up/verify", json!({ "code": code }));
    assert_eq!(r.status(), 200);
}

/// Steps up and proves a change of `token`'s phone to `new`, held by the
/// `n`th test person (told to `base`'s carrier first), all on `base`.
fn prove_phone_change(c: &Client, base: &str, token: &str, old: &str, new: &str, n: u64) {
    step_up(c, base, token, old);
    let (name, id_number) = ("王小明", IdNumber::sample(n).as_str().to_owned());
    let r = c
        .post(format!("{base}/dev/carrier/persons"))
        .json(&json!({ "phone": new, "name": name, "id_number": id_number }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = post_as(
        c,
        base,
        token,
        "/api/v1/account/phone/change",
        json!({ "new_phone": new, "name": name, "id_number": id_number, "consent": true }),
    );
    assert_eq!(r.status(), 202);
    let code = code_from(c, base, new);
    let r = post_as(
        c,
        base,
        token,
        "/api/v1/account/phone/change/verify",
        json!({ "code": code }),
    );
    assert_eq!(r.status(), 200);
}

const CONFIRM: &str = "/api/v1/account/phone/change/confirm";

fn confirm(c: &Client, base: &str, token: &str) -> (u16, Value) {
    let r = post_as(c, base, token, CONFIRM, json!({ "accept_consequences": true }));
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

#[test]
fn what_one_node_does_holds_on_the_other_at_its_next_request() {
    let Some(n) = Nodes::start(LOOSE) else { return };
    let c = Client::new();
    let (a, b) = (n.a.base.as_str(), n.b.base.as_str());
    let old = "+8613800138001";

    // A session made on A works on B, for the same account.
    let signed = phone_sign_in_answer(&c, a, old);
    let token = signed["token"].as_str().unwrap().to_owned();
    let account = get_as(&c, b, &token, "/api/v1/whoami");
    assert_eq!(account["account_id"], signed["account_id"]);

    // A sign-out on A: that session is refused on B at once.
    let other = phone_sign_in(&c, b, old);
    assert_eq!(status_as(&c, a, &other, "/api/v1/whoami"), 200);
    assert_eq!(post_as(&c, a, &other, "/api/v1/logout", json!({})).status(), 200);
    assert_eq!(status_as(&c, b, &other, "/api/v1/whoami"), 401);

    // A revocation on A: refused on B.
    let revoked = phone_sign_in(&c, b, old);
    let listed = get_as(&c, a, &token, "/api/v1/account/sessions");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    let id = sessions.iter().find(|s| s["current"] != true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .delete(format!("{a}/api/v1/account/sessions/{id}"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status_as(&c, b, &revoked, "/api/v1/whoami"), 401);

    // A phone change committed on A: B refuses the account's other session,
    // keeps the one that confirmed, shows the new phone, and the old phone
    // signs in on B to a new account of its own.
    let bystander = phone_sign_in(&c, b, old);
    let new = "+8613900139001";
    prove_phone_change(&c, a, &token, old, new, 1);
    assert_eq!(confirm(&c, a, &token).0, 200);
    assert_eq!(status_as(&c, b, &bystander, "/api/v1/whoami"), 401);
    let security = get_as(&c, b, &token, "/api/v1/account/security");
    assert_eq!(security["phone"]["number_masked"], masked(new), "{security}");
    let again = phone_sign_in_answer(&c, b, old);
    assert_eq!(again["created"], true, "the old phone no longer reaches the account");
    assert_ne!(again["account_id"], signed["account_id"]);

    // A freeze, then a ban, written to the shared database in plain SQL (as
    // an operator's tool commits them), each followed by the tool's barrier:
    // both nodes see each at the next request.
    let raw = n.raw();
    let id = signed["account_id"].as_str().unwrap();
    for base in [a, b] {
        warm(&c, base, &token);
    }
    n.rt.block_on(raw.exec(&format!("UPDATE accounts SET state = 'frozen' WHERE id = '{id}'")));
    n.barrier();
    for base in [a, b] {
        assert_eq!(get_as(&c, base, &token, "/api/v1/whoami")["state"], "frozen");
    }
    n.rt.block_on(raw.exec(&format!("UPDATE accounts SET state = 'banned' WHERE id = '{id}'")));
    n.barrier();
    for base in [a, b] {
        assert_eq!(status_as(&c, base, &token, "/api/v1/whoami"), 401);
    }
    assert!(n.audit_verify().starts_with("audit chain intact"));
}

/// Asks twice: the second answer comes from the node's cache once the
/// first filled it.
fn warm(c: &Client, base: &str, token: &str) {
    for _ in 0..2 {
        assert_eq!(status_as(c, base, token, "/api/v1/whoami"), 200);
    }
}

/// The tests below prove something only if the nodes serve sessions from
/// their caches: here a change the nodes are not told of (written with the
/// triggers off) is not seen by a node that cached the session, until the
/// node is told of it on the channel.
#[test]
fn a_node_serves_a_cached_session_until_told_of_a_change() {
    let Some(n) = Nodes::start(LOOSE) else { return };
    let c = Client::new();
    let b = n.b.base.as_str();
    let signed = phone_sign_in_answer(&c, n.a.base.as_str(), "+8613800138011");
    let (token, id) = (
        signed["token"].as_str().unwrap(),
        signed["account_id"].as_str().unwrap(),
    );
    let state = || get_as(&c, b, token, "/api/v1/whoami")["state"].clone();
    // A node serves from its cache once it heard its first heartbeat back:
    // a fraction of a second after it started.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        n.hidden(&format!("UPDATE accounts SET state = 'active' WHERE id = '{id}'"));
        n.tell(id);
        warm(&c, b, token);
        n.hidden(&format!("UPDATE accounts SET state = 'frozen' WHERE id = '{id}'"));
        if state() == "active" {
            break;
        }
        assert!(Instant::now() < deadline, "B never served the session from its cache");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state(), "active", "still cached: nothing told B");
    n.tell(id);
    assert_eq!(state(), "frozen");
}

/// Whatever one node does to a session, the other, which cached it, sees at
/// its very next request: sign-outs, revocations, step-ups and phone
/// changes, in both directions, many rounds.
#[test]
fn no_node_serves_a_stale_session_after_a_change_on_the_other() {
    let Some(n) = Nodes::start(LOOSE) else { return };
    let c = Client::new();
    let nodes = [n.a.base.as_str(), n.b.base.as_str()];
    for round in 0..24_usize {
        let (here, there) = (nodes[round % 2], nodes[1 - round % 2]);
        let phone = format!("+86137{round:08}");
        let token = phone_sign_in(&c, here, &phone);
        let other = phone_sign_in(&c, here, &phone);
        for t in [&token, &other] {
            warm(&c, there, t);
            warm(&c, here, t);
        }
        let what = match round % 4 {
            0 => {
                assert_eq!(post_as(&c, here, &other, "/api/v1/logout", json!({})).status(), 200);
                "a sign-out"
            }
            1 => {
                let listed = get_as(&c, here, &token, "/api/v1/account/sessions");
                let sessions = listed["sessions"].as_array().unwrap();
                let id = sessions.iter().find(|s| s["current"] != true).unwrap()["id"]
                    .as_str()
                    .unwrap();
                let r = c
                    .delete(format!("{here}/api/v1/account/sessions/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 200);
                "a revocation"
            }
            2 => {
                let r = c
                    .delete(format!("{here}/api/v1/account/sessions/others"))
                    .bearer_auth(&token)
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 200);
                "the others signed out"
            }
            _ => {
                // A step-up on one node privileges the session on the other.
                let new = format!("+86136{round:08}");
                let (name, id_number) = ("王小明", IdNumber::sample(100 + round as u64).as_str().to_owned());
                let change = json!({ "new_phone": new, "name": name, "id_number": id_number, "consent": true });
                let start = |c: &Client| post_as(c, there, &token, "/api/v1/account/phone/change", change.clone());
                assert_eq!(start(&c).status(), 403, "round {round}: no step-up yet");
                step_up(&c, here, &token, &phone);
                let person = json!({ "phone": new, "name": name, "id_number": id_number });
                let r = c
                    .post(format!("{there}/dev/carrier/persons"))
                    .json(&person)
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 201);
                let r = start(&c);
                assert_eq!(r.status(), 202, "round {round}: {}", r.text().unwrap());
                // And a phone change committed there ends the other session here.
                let verify = json!({ "code": code_from(&c, there, &new) });
                let r = post_as(&c, there, &token, "/api/v1/account/phone/change/verify", verify);
                assert_eq!(r.status(), 200);
                assert_eq!(confirm(&c, there, &token).0, 200, "round {round}");
                assert_eq!(
                    status_as(&c, here, &other, "/api/v1/whoami"),
                    401,
                    "round {round}: the phone change"
                );
                continue;
            }
        };
        assert_eq!(
            status_as(&c, there, &other, "/api/v1/whoami"),
            401,
            "round {round}: {what} on {here}"
        );
        assert_eq!(
            status_as(&c, here, &other, "/api/v1/whoami"),
            401,
            "round {round}: {what} on {here}"
        );
        assert_eq!(status_as(&c, there, &token, "/api/v1/whoami"), 200);
    }
}

#[test]
fn limits_hold_across_nodes() {
    let limits = [
        ("SHIMING_SMS__PER_PHONE_PER_HOUR", "3"),
        ("SHIMING_SMS__RESEND_AFTER_SECS", "0"),
        ("SHIMING_SMS__MAX_ATTEMPTS", "4"),
        ("RUST_LOG", "warn"),
    ];
    let Some(n) = Nodes::start(&limits) else { return };
    let c = Client::new();
    let nodes = [n.a.base.as_str(), n.b.base.as_str()];
    let send = |base: &str, phone: &str| {
        c.post(format!("{base}/api/v1/sms/send"))
            .json(&json!({ "phone": phone, "purpose": "login" }))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };

    // Three codes per phone an hour, whichever node sends them.
    let phone = "+8613700137001";
    let sent: Vec<u16> = (0..5).map(|i| send(nodes[i % 2], phone)).collect();
    assert_eq!(sent, [202, 202, 202, 429, 429]);

    // Four tries of one code, whichever node takes them: after four wrong
    // ones, the right code is refused too.
    let phone = "+8613700137002";
    assert_eq!(send(nodes[0], phone), 202);
    let code = code_from(&c, nodes[0], phone);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let try_code = |base: &str, code: &str| {
        c.post(format!("{base}/api/v1/login/phone"))
            .json(&json!({ "phone": phone, "code": code }))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    for i in 0..4 {
        assert_ne!(try_code(nodes[i % 2], wrong), 200);
    }
    assert_ne!(try_code(nodes[1], &code), 200, "the code was tried four times");
    assert_eq!(n.scalar("SELECT MAX(attempts) FROM sms_codes"), 4);
}

#[test]
fn rebinds_racing_on_two_nodes_commit_once_and_the_chain_stays_one() {
    let Some(n) = Nodes::start(LOOSE) else { return };
    let c = Client::new();
    let (a, b) = (n.a.base.as_str(), n.b.base.as_str());
    const RACES: u64 = 20;
    let mut firsts = [0; 2];
    for i in 0..RACES {
        // Two accounts, one signed in on each node, each proving a change of
        // its phone to the same new phone. At once: X confirms on A, X's
        // confirm is submitted again on B, and Y confirms on B.
        let (old_x, old_y, new) = (
            format!("+86137{i:08}"),
            format!("+86138{i:08}"),
            format!("+86139{i:08}"),
        );
        let x = phone_sign_in(&c, a, &old_x);
        let y = phone_sign_in(&c, b, &old_y);
        prove_phone_change(&c, a, &x, &old_x, &new, 2 * i);
        prove_phone_change(&c, b, &y, &old_y, &new, 2 * i);
        let answers = thread::scope(|s| {
            let racers = [
                s.spawn(|| confirm(&c, a, &x)),
                s.spawn(|| confirm(&c, b, &x)),
                s.spawn(|| confirm(&c, b, &y)),
            ];
            racers.map(|r| r.join().unwrap())
        });
        // One commit of the three: the others meet the phone bound meanwhile
        // (409 credential_in_use) or the change used up (410 flow_expired).
        let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "race {i}: {answers:?}"
        );
        for (status, body) in &answers {
            match status {
                200 => {}
                409 => assert_eq!(body["error"]["code"], "credential_in_use", "race {i}: {answers:?}"),
                410 => assert_eq!(body["error"]["code"], "flow_expired", "race {i}: {answers:?}"),
                other => panic!("race {i}: {other}: {answers:?}"),
            }
        }
        let winner = if statuses[2] == 200 { 1 } else { 0 };
        firsts[winner] += 1;
        let token = [&x, &y][winner];
        let security = get_as(&c, b, token, "/api/v1/account/security");
        assert_eq!(security["phone"]["number_masked"], masked(&new), "race {i}");
    }
    eprintln!("X won {} races, Y {}", firsts[0], firsts[1]);
    // Every account holds one phone; one rebind per race, with its one event.
    assert_eq!(
        n.scalar(
            "SELECT COUNT(*) FROM accounts a WHERE (SELECT COUNT(*) FROM credentials c WHERE c.account_id = a.id) <> 1"
        ),
        0
    );
    assert_eq!(n.scalar("SELECT COUNT(*) FROM rebinds"), RACES as i64);
    assert_eq!(
        n.scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'credential.rebound'"),
        RACES as i64
    );

    // Sign-ins on both nodes at once, four threads each: one chain holds
    // every event, in order, verified by the CLI.
    thread::scope(|s| {
        for t in 0..8 {
            let (c, base) = (&c, if t % 2 == 0 { a } else { b });
            s.spawn(move || {
                for k in 0..10 {
                    phone_sign_in(c, base, &format!("+86136{t:02}{k:06}"));
                }
            });
        }
    });
    let events = n.scalar("SELECT COUNT(*) FROM audit_events");
    assert_eq!(n.scalar("SELECT MAX(seq) FROM audit_events"), events, "no gap, no fork");
    assert_eq!(n.audit_verify(), format!("audit chain intact: {events} events"));
}

#[test]
fn a_node_with_other_secrets_is_refused_at_start_and_writes_nothing() {
    const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    const K3: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secrets = |key: &'static str, pepper: &'static str| {
        vec![
            ("SHIMING_DATABASE__URL", db.url.clone()),
            ("SHIMING_SECRETS__ENCRYPTION_KEY", key.to_owned()),
            ("SHIMING_SECRETS__PEPPER", pepper.to_owned()),
        ]
    };
    let first = secrets(K1, K2);
    let borrowed: Vec<(&str, &str)> = first.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let node = serve_with(&dir.path().join("a"), dir.path(), &borrowed);
    let c = Client::new();
    let token = phone_sign_in(&c, &node.base, "+8613800138009");
    let raw = rt.block_on(Raw::connect(&db.url));
    let before = rt.block_on(raw.dump());

    let mut with_audit_key = secrets(K1, K2);
    with_audit_key.push(("SHIMING_SECRETS__AUDIT_KEY", K3.to_owned()));
    for (vars, refused) in [
        (secrets(K3, K2), "encryption key (secrets.encryption_key)"),
        (secrets(K1, K3), "pepper (secrets.pepper)"),
        (
            with_audit_key,
            "audit key (secrets.audit_key, or the pepper it is derived from)",
        ),
    ] {
        let out = std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("b"))
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{refused}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "this node's {refused} is not the one this database's data was written with"
            )),
            "{refused}: {stderr}"
        );
    }
    assert_eq!(rt.block_on(raw.dump()), before, "a refused node wrote nothing");
    // The node with the right secrets serves on.
    assert_eq!(status_as(&c, &node.base, &token, "/api/v1/whoami"), 200);
}

/// While an upgrade rolls through, a node of the old build starts on a
/// database a newer build has migrated further.
#[test]
fn a_node_starts_on_a_schema_a_newer_build_migrated() {
    let Some(n) = Nodes::start(&[("RUST_LOG", "warn")]) else {
        return;
    };
    let raw = n.raw();
    n.rt.block_on(raw.exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer build', TRUE, '\\x00'::BYTEA, 0)",
    ));
    let (status, log) = n.b.terminate();
    assert!(status.success(), "{log}");
    let again = serve_with(
        &n.dir.path().join("data"),
        n.dir.path(),
        &[("SHIMING_DATABASE__URL", &n.url)],
    );
    let c = Client::new();
    let token = phone_sign_in(&c, &again.base, "+8613800138011");
    assert_eq!(status_as(&c, &n.a.base, &token, "/api/v1/whoami"), 200);
}

/// An embedded deployment moves to PostgreSQL: `shiming db copy`, then a
/// node on PostgreSQL with the same secrets serves the same accounts and
/// sessions, and goes on.
#[test]
fn an_embedded_deployment_moves_to_postgresql_with_db_copy() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let c = Client::new();
    let embedded = serve_with(&data, dir.path(), LOOSE);
    let (old, new) = ("+8613800138021", "+8613900139021");
    let token = phone_sign_in(&c, &embedded.base, old);
    prove_phone_change(&c, &embedded.base, &token, old, new, 21);
    assert_eq!(confirm(&c, &embedded.base, &token).0, 200);
    phone_sign_in(&c, &embedded.base, "+8613800138022");
    let (status, _) = embedded.terminate();
    assert!(status.success());
    let (code, verified) = audit(&data, &["verify"]);
    assert_eq!(code, Some(0), "{verified}");

    let from = format!("sqlite://{}", data.join("shiming.db").display());
    let copy = || {
        std::process::Command::new(BIN)
            .args(["db", "copy", "--from", &from, "--to", &db.url, "--data-dir"])
            .arg(&data)
            .output()
            .unwrap()
    };
    let out = copy();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let events = verified
        .trim_start_matches("audit chain intact: ")
        .trim_end_matches(" events");
    assert!(
        stdout.contains(&format!("audit chain intact on the target: {events} events")),
        "{stdout}"
    );
    assert!(
        stdout.contains("accounts                      2 rows, the same on both"),
        "{stdout}"
    );

    // Into a database that holds data: refused, and nothing is changed.
    let raw = rt.block_on(Raw::connect(&db.url));
    let before = rt.block_on(raw.dump());
    let again = copy();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("the target already holds data"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(rt.block_on(raw.dump()), before);

    // A node on PostgreSQL, same secrets: the session and the change are
    // there, the old phone is not the account's, and new rows follow the
    // copied ones.
    // (The rate limits moved too: the loose ones of this test again.)
    let mut env = vec![("SHIMING_DATABASE__URL", db.url.as_str())];
    env.extend_from_slice(LOOSE);
    let moved = serve_with(&data, dir.path(), &env);
    assert_eq!(status_as(&c, &moved.base, &token, "/api/v1/whoami"), 200);
    let security = get_as(&c, &moved.base, &token, "/api/v1/account/security");
    assert_eq!(security["phone"]["number_masked"], masked(new));
    assert_eq!(phone_sign_in_answer(&c, &moved.base, old)["created"], true);
    let other = phone_sign_in(&c, &moved.base, "+8613700137023");
    prove_phone_change(&c, &moved.base, &other, "+8613700137023", "+8613900139023", 23);
    assert_eq!(confirm(&c, &moved.base, &other).0, 200);
}

/// A TCP proxy in front of PostgreSQL that the test can cut (every open
/// connection dropped, new ones refused) and restore: the database lost and
/// back, for the nodes behind it only, while the server goes on serving the
/// other tests.
struct Proxy {
    addr: std::net::SocketAddr,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    /// A proxy in front of the database at `url`, and the URL through it.
    fn before(rt: &tokio::runtime::Runtime, url: &str, late: Duration) -> (Proxy, String) {
        // postgres://user@HOST:PORT/name
        let (head, tail) = url.split_once('@').unwrap();
        let (upstream, name) = tail.split_once('/').unwrap();
        let proxy = Proxy::start(rt, upstream.to_owned(), late);
        let through = format!("{head}@{}/{name}", proxy.addr);
        (proxy, through)
    }

    /// Forwards connections to `upstream`; what the database sends arrives
    /// `late`, as over a slow network.
    fn start(rt: &tokio::runtime::Runtime, upstream: String, late: Duration) -> Proxy {
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (o, l) = (open.clone(), links.clone());
        rt.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    if late.is_zero() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        return;
                    }
                    let (mut client_read, client_write) = client.into_split();
                    let (server_read, mut server_write) = server.into_split();
                    let up = async move {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    };
                    tokio::join!(up, delayed(server_read, client_write, late));
                });
                l.lock().unwrap().push(link.abort_handle());
            }
        });
        Proxy { addr, open, links }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// Carries `from` to `to` `late`, as a slow network would: the bytes keep
/// their order and their pace.
async fn delayed(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, late: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let read = async move {
        let mut buf = vec![0; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if tx
                .send((tokio::time::Instant::now() + late, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let write = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

/// The writer waits for the other nodes: B, which hears from the database
/// 150 ms late (through a proxy), never serves a session that A ended and
/// answered, although B answers from its cache at once. Without A's wait
/// (its barrier, and B's acknowledgement), B serves the ended session.
#[test]
fn a_node_that_hears_late_is_waited_for() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDatabase::create()) else {
        return;
    };
    let late = Duration::from_millis(150);
    let (_proxy, through) = Proxy::before(&rt, &db.url, late);
    let direct = db.url.clone();
    let n = Nodes::start_on(rt, db, [&direct, &through], LOOSE);
    let c = Client::new();
    let (a, b) = (n.a.base.as_str(), n.b.base.as_str());
    for round in 0..6 {
        let phone = format!("+86135{round:08}");
        let token = phone_sign_in(&c, a, &phone);
        let other = phone_sign_in(&c, a, &phone);
        // Until B answers from its cache: sooner than the database could.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = Instant::now();
            assert_eq!(status_as(&c, b, &other, "/api/v1/whoami"), 200);
            if t.elapsed() < late / 2 {
                break;
            }
            assert!(Instant::now() < deadline, "B never answered from its cache");
        }
        if round % 2 == 0 {
            assert_eq!(post_as(&c, a, &other, "/api/v1/logout", json!({})).status(), 200);
        } else {
            let r = c
                .delete(format!("{a}/api/v1/account/sessions/others"))
                .bearer_auth(&token)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        assert_eq!(status_as(&c, b, &other, "/api/v1/whoami"), 401, "round {round}");
    }
}

#[test]
fn a_node_that_loses_its_database_answers_503_loses_nothing_and_recovers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDatabase::create()) else {
        return;
    };
    let (proxy, through) = Proxy::before(&rt, &db.url, Duration::ZERO);
    let n = Nodes::start_on(rt, db, [&through, &through], LOOSE);
    let base = n.a.base.clone();
    let c = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let ready = || c.get(format!("{base}/readyz")).send().unwrap().status().as_u16();
    assert_eq!(ready(), 200);

    // Light load: one sign-in after another, each by a new phone, noting
    // which answered 200 (committed) and what else was answered.
    let stop = AtomicBool::new(false);
    let (signed_in, answers) = thread::scope(|s| {
        let load = s.spawn(|| {
            let mut signed_in = Vec::new();
            let mut answers = BTreeMap::<u16, usize>::new();
            for k in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let phone = format!("+86135{k:08}");
                let sent = c
                    .post(format!("{base}/api/v1/sms/send"))
                    .json(&json!({ "phone": phone, "purpose": "login" }))
                    .send()
                    .unwrap();
                *answers.entry(sent.status().as_u16()).or_default() += 1;
                if sent.status() != 202 {
                    continue;
                }
                let messages = c
                    .get(format!("{base}/dev/sms"))
                    .query(&[("phone", &phone)])
                    .send()
                    .unwrap();
                if messages.status() != 200 {
                    *answers.entry(messages.status().as_u16()).or_default() += 1;
                    continue;
                }
                let code = code_in(&messages.json().unwrap()).unwrap();
                let login = c
                    .post(format!("{base}/api/v1/login/phone"))
                    .json(&json!({ "phone": phone, "code": code }))
                    .send()
                    .unwrap();
                *answers.entry(login.status().as_u16()).or_default() += 1;
                if login.status() == 200 {
                    let body: Value = login.json().unwrap();
                    signed_in.push(body["token"].as_str().unwrap().to_owned());
                } else {
                    let body: Value = login.json().unwrap();
                    assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
                }
            }
            (signed_in, answers)
        });
        thread::sleep(Duration::from_millis(500));
        proxy.cut();
        // While it is lost: not ready, and a request needing it answers 503.
        let deadline = Instant::now() + Duration::from_secs(20);
        while ready() != 503 {
            assert!(Instant::now() < deadline, "/readyz stayed ready without the database");
            thread::sleep(Duration::from_millis(50));
        }
        let r = c
            .post(format!("{base}/api/v1/sms/send"))
            .json(&json!({ "phone": "+8613400134000", "purpose": "login" }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "storage_unavailable");
        thread::sleep(Duration::from_secs(2));
        proxy.restore();
        // Back without a restart.
        let deadline = Instant::now() + Duration::from_secs(20);
        while ready() != 200 {
            assert!(Instant::now() < deadline, "/readyz did not recover");
            thread::sleep(Duration::from_millis(100));
        }
        thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        load.join().unwrap()
    });
    eprintln!(
        "answers under the cut: {answers:?}; {} sign-ins answered 200",
        signed_in.len()
    );
    assert!(
        answers.get(&503).copied().unwrap_or(0) > 0,
        "the load met the cut: {answers:?}"
    );
    assert!(
        answers.keys().all(|s| matches!(s, 200 | 202 | 503)),
        "only successes and 503: {answers:?}"
    );

    // Every sign-in answered 200 is there: its session works, on both nodes.
    for token in &signed_in {
        for base in [&n.a.base, &n.b.base] {
            assert_eq!(status_as(&c, base, token, "/api/v1/whoami"), 200);
        }
    }
    // Nothing half applied: each account has its one phone and its creation
    // event, each session its event; and the chain verifies.
    assert_eq!(
        n.scalar(
            "SELECT COUNT(*) FROM accounts a WHERE (SELECT COUNT(*) FROM credentials c WHERE c.account_id = a.id) <> 1"
        ),
        0
    );
    assert_eq!(
        n.scalar("SELECT COUNT(*) FROM accounts"),
        n.scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'account.created'")
    );
    assert_eq!(
        n.scalar("SELECT COUNT(*) FROM sessions"),
        n.scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'session.created'")
    );
    assert!(n.scalar("SELECT COUNT(*) FROM sessions") >= signed_in.len() as i64);
    assert!(n.audit_verify().starts_with("audit chain intact"));
}
