//! The real binary: `serve --dev` end to end with its logs captured, nothing
//! plain at rest or in the logs, operations endpoints, graceful shutdown,
//! seeding, and the maintenance commands. Crashes under load: crash.rs.
//!
//! Every process listens on port 0 and the test reads the address it printed,
//! so tests running side by side never race for a port; every process is
//! owned by a guard that kills it when the test ends, passed or failed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use reqwest::blocking::Client;
use serde_json::{json, Value};

#[test]
fn walkthrough_leaves_nothing_plain_at_rest_or_in_the_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let served = serve(&data, tmp.path());
    let base = served.base.clone();
    let c = Client::new();
    let phone = "+8613700001111";
    let (name, id) = ("欧阳明", "110105199003071239");

    let r = c
        .post(format!("{base}/dev/carrier/persons"))
        .json(&json!({ "phone": phone, "name": name, "id_number": id }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    // The person added at the main address is known to the carrier at the
    // address it printed: one simulator, on a port of its own.
    let check = |name: &str| -> Value {
        c.post(format!("{}/v1/mobile/three-element", served.carrier))
            .json(&json!({ "request_id": "r1", "phone": phone, "name": name, "id_number": id }))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(check(name)["result"], "match");
    assert_eq!(check("李四")["result"], "mismatch");
    // WeChat sign-in sends the browser to the WeChat it printed, and asks it
    // to come back to the real port, not to the port 0 it was given.
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = no_redirects
        .get(format!("{base}/api/v1/wechat/login/start"))
        .send()
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/connect/", served.wechat)),
        "{location}"
    );
    let callback = format!("{base}/api/v1/wechat/callback")
        .replace(':', "%3A")
        .replace('/', "%2F");
    assert!(location.contains(&format!("redirect_uri={callback}")), "{location}");

    assert_eq!(
        c.post(format!("{base}/api/v1/sms/send"))
            .json(&json!({ "phone": phone, "purpose": "login" }))
            .send()
            .unwrap()
            .status(),
        202
    );
    let code = code_from(&c, &base, phone);
    let login = c
        .post(format!("{base}/api/v1/login/phone"))
        .json(&json!({ "phone": phone, "code": code }))
        .send()
        .unwrap();
    assert_eq!(login.status(), 200);
    let login: Value = login.json().unwrap();
    assert_eq!(login["created"], true, "{login}");
    assert_eq!(login["notices_unread"], 0, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    // A wrong real-name try (its error path logs too), then the right one.
    let wrong = c
        .post(format!("{base}/api/v1/account/real-name/phone"))
        .bearer_auth(&token)
        .json(&json!({ "name": "李四", "id_number": "320102199505052468", "consent": true }))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 422);
    let ok = c
        .post(format!("{base}/api/v1/account/real-name/phone"))
        .bearer_auth(&token)
        .json(&json!({ "name": name, "id_number": id, "consent": true }))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let sec: Value = c
        .get(format!("{base}/api/v1/account/security"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(sec["real_name"]["status"], "verified");
    assert_eq!(sec["real_name"]["name_masked"], "**明", "{sec}");
    assert_eq!(sec["phone"]["number_masked"], "137****1111", "{sec}");

    // Operations endpoints, and a request id on every answer.
    let ready = c.get(format!("{base}/readyz")).send().unwrap();
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().contains_key("x-request-id"));
    let metrics = c.get(format!("{base}/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("shiming_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/api/v1/login/phone\""));

    let (status, log) = served.terminate();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    assert!(log.contains("shutting down"));
    assert!(log.contains("/api/v1/login/phone"), "requests are logged");

    let national = &phone[3..];
    let mut files = Vec::new();
    collect(&data, &mut files);
    assert!(files.iter().any(|f| f.ends_with("shiming.db")));
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        // The code is no secret after use, but it is stored only hashed, and the
        // outbox holds it sealed.
        for secret in [name, id, national, &id[6..14], token.as_str(), code.as_str()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in {}",
                f.display()
            );
        }
    }
    for secret in [name, id, national, token.as_str()] {
        assert!(!log.contains(secret), "{secret} found in the log");
    }

    // The audit chain of the walkthrough verifies.
    let (code, said) = audit(&data, &["verify"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.starts_with("audit chain intact"), "{said}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn migrate_dev_sms_and_production_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = Command::new(BIN)
        .args(["migrate", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(data.join("shiming.db").exists());

    // Outside dev, no secrets is a clear refusal to start.
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("prod"))
        .env("SHIMING_SMS__WEBHOOK__URL", "http://127.0.0.1:9/sms")
        .env("SHIMING_REALNAME__BASE_URL", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no secrets"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A database URL of no backend this build has: refused at start, by
    // `migrate` and by `serve`, saying so, and nothing is created.
    for args in [&["migrate"][..], &["serve", "--dev", "--listen", "127.0.0.1:0"]] {
        let elsewhere = tmp.path().join("elsewhere");
        let out = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&elsewhere)
            .env("SHIMING_DATABASE__URL", "mysql://127.0.0.1/shiming")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("not a database URL this build opens"),
            "{args:?}: {stderr}"
        );
        assert!(!elsewhere.join("shiming.db").exists(), "{args:?}");
    }

    // A PostgreSQL that does not answer (nothing listens on port 1): a
    // clear error naming the server without its password, and exit status 1.
    for args in [&["migrate"][..], &["serve", "--dev", "--listen", "127.0.0.1:0"]] {
        let out = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(tmp.path().join("elsewhere"))
            .env("SHIMING_DATABASE__URL", "postgres://shiming:s3cret@127.0.0.1:1/shiming")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot connect to the database at postgres://shiming:***@127.0.0.1:1/shiming"),
            "{args:?}: {stderr}"
        );
        let all = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
        assert!(!all.contains("s3cret"), "{args:?}: the password is shown: {all}");
    }

    // `shiming dev sms` prints the outbox of a running server.
    let served = serve(&data, tmp.path());
    let c = Client::new();
    let sent = c
        .post(format!("{}/api/v1/sms/send", served.base))
        .json(&json!({ "phone": "+8613800000001", "purpose": "login" }))
        .send()
        .unwrap();
    assert_eq!(sent.status(), 202);
    let out = Command::new(BIN)
        .args(["dev", "sms", "--phone", "+8613800000001", "--url", &served.base])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && printed.contains("+8613800000001") && printed.contains("验证码"),
        "{printed}"
    );
    let (status, _) = served.terminate();
    assert!(status.success(), "{status:?}");
}

/// `dev seed` writes accounts straight through the store as a first phone
/// sign-in would: the service then signs each seeded phone in to its seeded
/// account (`created: false`), the audit chain verifies, and seeding again
/// over a larger range adds only the phones no account holds.
#[test]
fn seeded_accounts_sign_in_by_phone_and_the_chain_verifies() {
    use shiming_server::seed::phone;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Outside dev, with no secrets configured, it refuses as `serve` does.
    let (ok, _, stderr) = seed(&tmp.path().join("prod"), 50, &[]);
    assert!(!ok && stderr.contains("no secrets"), "{stderr}");

    let (ok, out, stderr) = seed(&data, 50, &["--dev"]);
    assert!(ok, "{stderr}");
    assert!(out.contains("+8619000000000 .. +8619000000049"), "{out}");
    assert!(out.contains("secrets: generated now"), "{out}");
    assert!(out.contains("seeded 50 accounts in"), "{out}");
    // The keyed chain's switch event, then one account.created per account.
    assert_eq!(
        audit(&data, &["verify"]),
        (Some(0), "audit chain intact: 51 events".into())
    );
    let db = Db::open(&data);
    assert_eq!(db.total("SELECT COUNT(*) FROM accounts WHERE nature = 'personal'"), 50);
    assert_eq!(db.total("SELECT COUNT(*) FROM credentials WHERE kind = 'phone'"), 50);
    assert_eq!(
        db.total(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'account.created' \
             AND json_extract(details, '$.via') = 'seed'"
        ),
        50
    );
    let seeded = db.texts("SELECT id FROM accounts");
    drop(db);

    let served = serve(&data, tmp.path());
    let c = Client::new();
    let mut signed_in = Vec::new();
    for i in [0, 17, 49] {
        let login = phone_sign_in_answer(&c, &served.base, phone(i).e164());
        assert_eq!(login["created"], false, "seeded phone {i}: {login}");
        let id = login["account_id"].as_str().unwrap().to_owned();
        assert!(seeded.contains(&id), "seeded phone {i} signed in to {id}");
        let token = login["token"].as_str().unwrap();
        let security = get_as(&c, &served.base, token, "/api/v1/account/security");
        assert_eq!(
            security["phone"]["number_masked"],
            masked(phone(i).e164()),
            "{security}"
        );
        signed_in.push(id);
    }
    signed_in.dedup();
    assert_eq!(signed_in.len(), 3, "{signed_in:?}");
    // The next phone of the range is no one's yet.
    let login = phone_sign_in_answer(&c, &served.base, phone(50).e164());
    assert_eq!(login["created"], true, "{login}");
    let (status, _) = served.terminate();
    assert!(status.success(), "{status:?}");

    // Again over 60 phones: the 50 seeded and the one signed in stay as they are.
    let (ok, out, stderr) = seed(&data, 60, &["--dev"]);
    assert!(ok, "{stderr}");
    assert!(out.contains("secrets: from"), "{out}");
    assert!(
        out.contains("seeded 9 accounts in") && out.contains("51 phones were bound already"),
        "{out}"
    );
    let (code, said) = audit(&data, &["verify"]);
    assert_eq!(code, Some(0), "{said}");
    let db = Db::open(&data);
    assert_eq!(db.total("SELECT COUNT(*) FROM accounts"), 60);
    db.assert_nothing_half_applied();
}

#[test]
fn the_dev_simulators_are_absent_outside_dev() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = spawn(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path())
            .env(
                "SHIMING_SECRETS__ENCRYPTION_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            )
            .env(
                "SHIMING_SECRETS__PEPPER",
                "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            )
            .env("SHIMING_SMS__WEBHOOK__URL", "http://127.0.0.1:9/sms")
            .env("SHIMING_REALNAME__BASE_URL", "http://127.0.0.1:9")
            .stdin(Stdio::null())
            .stderr(Stdio::null()),
        None,
    );
    let base = proc
        .url_after("shiming is listening on")
        .expect("the server printed its address");
    assert_eq!(reqwest::blocking::get(format!("{base}/healthz")).unwrap().status(), 200);
    for path in ["/dev/sms", "/dev/carrier/persons", "/dev/wechat/users"] {
        let r = reqwest::blocking::get(format!("{base}{path}")).unwrap();
        assert_eq!(r.status(), 404, "{path}");
        // The router's own "no such route", not some other refusal.
        let body: Value = r.json().unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
}

#[test]
fn the_development_carrier_runs_alone() {
    let proc = spawn(
        Command::new(BIN)
            .args(["dev", "carrier", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::null()),
        None,
    );
    let base = proc
        .url_after("development carrier listening on")
        .expect("the carrier printed its address");
    let url = format!("{base}/v1/mobile/three-element");
    let c = Client::new();
    let ask = |name: &str| -> Value {
        let body =
            json!({ "request_id": "r1", "phone": "+8613800000001", "name": name, "id_number": "110101199003076632" });
        c.post(&url).json(&body).send().unwrap().json().unwrap()
    };
    assert_eq!(ask("张三"), json!({ "request_id": "r1", "result": "match" }));
    assert_eq!(ask("李四")["result"], "mismatch");
}

#[test]
fn the_development_wechat_runs_alone() {
    let proc = spawn(
        Command::new(BIN)
            .args([
                "dev",
                "wechat",
                "--listen",
                "127.0.0.1:0",
                "--appid",
                "wxapp",
                "--secret",
                "s",
            ])
            .stderr(Stdio::null()),
        None,
    );
    let base = proc
        .url_after("development WeChat listening on")
        .expect("the WeChat server printed its address");
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = format!(
        "{base}/connect/qrconnect?appid=wxapp&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&response_type=code&scope=snsapi_login&state=s1&dev_user=dev-union-lisi"
    );
    let resp = http.get(&authorize).send().unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://127.0.0.1:1/cb?"), "{location}");
    assert!(location.contains("state=s1"), "{location}");
    let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();
    let token_url =
        format!("{base}/sns/oauth2/access_token?appid=wxapp&secret=s&code={code}&grant_type=authorization_code");
    let grant: Value = http.get(&token_url).send().unwrap().json().unwrap();
    assert_eq!(grant["unionid"], "dev-union-lisi");
    let again: Value = http.get(&token_url).send().unwrap().json().unwrap();
    assert_eq!(again["errcode"], 40163);
}

#[test]
fn audit_verify_names_the_first_broken_event() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let served = serve(&data, tmp.path());
    let c = Client::new();
    phone_sign_in(&c, &served.base, "+8613800000001");
    let (status, _) = served.terminate();
    assert!(status.success(), "{status:?}");
    // The keyed chain's switch event, then the sign-in's account and session.
    let (code, said) = audit(&data, &["verify"]);
    assert_eq!((code, said.as_str()), (Some(0), "audit chain intact: 3 events"));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("shiming.db").display()))
            .await
            .unwrap();
        sqlx::query("UPDATE audit_events SET kind = 'account.forged' WHERE seq = 1")
            .execute(&db)
            .await
            .unwrap();
    });
    let (code, said) = audit(&data, &["verify"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("broken at event 1"), "{said}");

    // No database is an error (exit 1), not an intact or a broken chain, and
    // reading creates none: with the audit key given, only the database is missing.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(&empty)
        .env(
            "SHIMING_SECRETS__AUDIT_KEY",
            "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("database"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "verify wrote into the folder"
    );
}

#[test]
fn a_recorded_head_catches_a_truncated_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let served = serve(&data, tmp.path());
    let c = Client::new();
    phone_sign_in(&c, &served.base, "+8613800000001");
    phone_sign_in(&c, &served.base, "+8613800000002");
    let (status, _) = served.terminate();
    assert!(status.success(), "{status:?}");

    let (code, head) = audit(&data, &["head"]);
    assert_eq!(code, Some(0), "{head}");
    let (seq, mac) = head.split_once(':').expect("SEQ:MAC");
    assert_eq!(seq, "5", "the switch, then an account and a session per sign-in");
    assert!(mac.len() == 64 && mac.bytes().all(|b| b.is_ascii_hexdigit()), "{head}");
    let (code, said) = audit(&data, &["verify", "--head", &head]);
    assert_eq!((code, said.as_str()), (Some(0), "audit chain intact: 5 events"));
    // The chain is keyed: under another audit key (configured, not derived) it is broken.
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .env(
            "SHIMING_SECRETS__AUDIT_KEY",
            "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("broken at event 1"));

    // The newest two events removed and the recorded tip moved back.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("shiming.db").display()))
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_events WHERE seq > 3")
            .execute(&db)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)")
            .execute(&db)
            .await
            .unwrap();
    });
    let (code, said) = audit(&data, &["verify"]);
    assert_eq!((code, said.as_str()), (Some(0), "audit chain intact: 3 events"));
    let (code, said) = audit(&data, &["verify", "--head", &head]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.starts_with("audit chain broken at event 5: the chain ends before the recorded head"),
        "{said}"
    );
    let (code, head_now) = audit(&data, &["head"]);
    assert_eq!(code, Some(0));
    assert!(head_now.starts_with("3:"), "{head_now}");

    let out = Command::new(BIN)
        .args(["audit", "verify", "--head", "5:nothex", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    // A usage error: refused before any chain is read. (clap's usage exit
    // code is 2, the code of a broken chain too; what tells them apart is
    // that nothing is said about the chain.)
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SEQ:MAC"));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn logs_to_a_file_carry_no_colour_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(&tmp.path().join("data"), tmp.path());
    Client::new()
        .get(format!("{}/api/v1/whoami", served.base))
        .send()
        .unwrap();
    let (status, log) = served.terminate();
    assert!(status.success());
    assert!(log.contains("/api/v1/whoami"), "the request was logged");
    assert!(
        !log.contains('\x1b'),
        "escape codes in a log that is no terminal:\n{log}"
    );
}

/// `serve --dev` as a newcomer runs it: WeChat sign-in proves the identity
/// only, and the real name comes from WeChat's own check through the
/// development WeChat server's mini program endpoints; nothing calls an
/// endpoint WeChat does not serve.
#[test]
fn serve_dev_verifies_a_wechat_real_name_through_wechats_own_check() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(&tmp.path().join("data"), tmp.path());
    let base = served.base.clone();
    let c = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The OAuth round trip, by hand: the state cookie goes back with the callback.
    let start = c.get(format!("{base}/api/v1/wechat/login/start")).send().unwrap();
    let cookie = start.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let approved = c
        .get(format!("{authorize}&dev_user=dev-union-zhangsan"))
        .send()
        .unwrap();
    let callback = approved.headers()["location"].to_str().unwrap().to_owned();
    let signed_in: Value = c
        .get(callback)
        .header("Cookie", &cookie)
        .header("Accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = signed_in["token"].as_str().expect("signed in").to_owned();
    let security = || -> Value {
        c.get(format!("{base}/api/v1/account/security"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let sec = security();
    assert_eq!(sec["wechat_realname"], "city_service", "{sec}");
    assert_eq!(sec["real_name"]["status"], "unverified", "{sec}");

    let codes: Value = c
        .post(format!("{base}/dev/wechat/miniprogram/codes"))
        .json(&json!({ "unionid": "dev-union-zhangsan" }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let r = c
        .post(format!("{base}/api/v1/account/real-name/wechat"))
        .bearer_auth(&token)
        .json(&json!({
            "name": "张三", "id_number": "110101199003076632", "consent": true,
            "login_code": codes["login_code"], "consent_code": codes["consent_code"],
        }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let sec = security();
    assert_eq!(
        (&sec["real_name"]["status"], &sec["real_name"]["source"]),
        (&json!("verified"), &json!("wechat")),
        "{sec}"
    );
    let calls: Value = c
        .get(format!("{base}/dev/wechat/calls"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let called: Vec<&str> = calls.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        called,
        [
            "/cgi-bin/stable_token",
            "/connect/qrconnect",
            "/intp/realname/checkrealnameinfo",
            "/sns/jscode2session",
            "/sns/oauth2/access_token",
            "/sns/userinfo"
        ],
        "only WeChat's own endpoints"
    );
}

/// The data folder's database remembers the secrets it was written with: a
/// start with others (a restored backup, a mistyped secret) is refused.
#[test]
fn a_start_with_other_secrets_than_the_data_was_written_with_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let served = serve(&data, tmp.path());
    phone_sign_in(&Client::new(), &served.base, "+8613800138010");
    let (status, _) = served.terminate();
    assert!(status.success());
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env(
            "SHIMING_SECRETS__ENCRYPTION_KEY",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .env(
            "SHIMING_SECRETS__PEPPER",
            "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("this node's encryption key (secrets.encryption_key) is not the one"),
        "{stderr}"
    );
}

#[test]
fn operators_read_an_enterprise_and_freeze_a_member_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let served = serve(&data, tmp.path());
    let c = Client::new();
    let owner = phone_sign_in(&c, &served.base, "+8613900000051");
    let r = post_as(
        &c,
        &served.base,
        &owner,
        "/api/v1/enterprises",
        json!({ "name": "示例科技" }),
    );
    let id = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    let add = json!({ "phone": "+8613900000052", "display_name": "王五" });
    let r = post_as(
        &c,
        &served.base,
        &owner,
        &format!("/api/v1/enterprises/{id}/members"),
        add,
    );
    let member = r.json::<Value>().unwrap()["account_id"].as_str().unwrap().to_owned();

    // Read while the service runs: the admins' view, masked as the API masks it.
    let (ok, out, err) = enterprise_cli(&data, &["members", &id, "--json"]);
    assert!(ok, "{err}");
    let page: Value = serde_json::from_str(&out).unwrap();
    // Owner and member joined within one second: found by id, not by place.
    let all = page["members"].as_array().unwrap();
    let listed = all.iter().find(|m| m["account_id"] == member.as_str()).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (
            listed["account_id"].as_str(),
            listed["display_name"].as_str(),
            &listed["flags"]
        ),
        (Some(member.as_str()), Some("王五"), &json!(["managed"]))
    );
    let (ok, out, _) = enterprise_cli(&data, &["members", &id, "--flag", "managed"]);
    assert!(ok && out.contains(&member) && out.lines().count() == 1, "{out}");
    let (ok, out, _) = enterprise_cli(&data, &["show", &id]);
    assert!(ok && out.contains("示例科技"), "{out}");

    // Freezing ends the member's access to the enterprise at once; audited, by the operator.
    let member_token = phone_sign_in(&c, &served.base, "+8613900000052");
    let members_path = format!("{}/api/v1/enterprises/{id}/members", served.base);
    // What the member's own session gets from the members list.
    let members_seen = || {
        let r = c.get(&members_path).bearer_auth(&member_token).send().unwrap();
        r.status()
    };
    assert_eq!(members_seen(), 200);
    let (ok, out, err) = enterprise_cli(&data, &["freeze", &id, &member, "--reason", "审计 audit"]);
    assert!(ok && out.contains("frozen"), "{out}{err}");
    assert_eq!(members_seen(), 403);
    let (ok, out, _) = enterprise_cli(&data, &["audit", &id, "--json", "--limit", "1"]);
    let log: Value = serde_json::from_str(&out).unwrap();
    assert!(ok);
    assert_eq!(
        (
            log["events"][0]["type"].as_str(),
            log["events"][0]["details"]["by"].as_str()
        ),
        (Some("enterprise.member_frozen"), Some("operator"))
    );
    assert!(enterprise_cli(&data, &["unfreeze", &id, &member]).0);
    assert_eq!(members_seen(), 200);

    // Bad input: a clear error, and nothing changes.
    for (args, said) in [
        (vec!["show", "ent_nope"], "there is no enterprise ent_nope"),
        (vec!["members", id.as_str(), "--flag", "red"], "unknown flag"),
        (vec!["members", id.as_str(), "--limit", "0"], "--limit"),
        (vec!["freeze", id.as_str(), "acc_nope", "--reason", "x"], "no member"),
        (
            vec!["freeze", id.as_str(), member.as_str(), "--reason", " "],
            "--reason",
        ),
    ] {
        let (ok, _, err) = enterprise_cli(&data, &args);
        assert!(!ok && err.contains(said), "{args:?}: {err}");
    }
    let (status, _) = served.terminate();
    assert!(status.success(), "{status:?}");
    let (code, said) = audit(&data, &["verify"]);
    assert_eq!(code, Some(0), "{said}");
}
