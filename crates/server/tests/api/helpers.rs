//! `spawn_app`: the real service on a real port, with its data in a
//! temporary folder and the development carrier on its own port, driven
//! over HTTP, on a clock the test holds.
//!
//! The database is SQLite in that folder, or, with
//! `SHIMING_TEST_BACKEND=postgres`, a fresh PostgreSQL database per service
//! (see `shiming-testdb`): `.ci/run` runs this whole suite both ways.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use shiming_domain::AccountState;
use shiming_server::{Clock, Config, Running};
use shiming_store::AuditDraft;
use shiming_testdb::{Raw, TestDatabase};
use tempfile::TempDir;

use crate::gateway::Gateway;

pub struct TestApp {
    pub base: String,
    pub carrier: String,
    pub http: Client,
    pub data: TempDir,
    /// The PostgreSQL database, when the suite runs on PostgreSQL.
    database: Option<TestDatabase>,
    database_url: String,
    /// The service's clock: it stands still until the test moves it on.
    pub clock: Clock,
    /// Where texts go when the service sends them through a webhook (else
    /// the development outbox).
    pub gateway: Option<Gateway>,
    running: Option<Running>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_in(Stopped::fresh().await, None, tweak).await
}

/// A service sending its texts to `gateway` by the webhook protocol.
pub async fn spawn_app_with_gateway(gateway: (&Gateway, &str), tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_in(Stopped::fresh().await, Some(gateway), tweak).await
}

/// What a stopped service leaves: its data folder and its database.
pub struct Stopped {
    pub data: TempDir,
    database: Option<TestDatabase>,
}

impl Stopped {
    /// An empty folder, and an empty database where the suite runs on PostgreSQL.
    async fn fresh() -> Stopped {
        let database =
            match std::env::var("SHIMING_TEST_BACKEND").as_deref() {
                Ok("postgres") => Some(TestDatabase::create().await.expect(
                    "SHIMING_TEST_BACKEND=postgres, but the PostgreSQL tests are skipped: see the notice above",
                )),
                Ok("sqlite") | Err(_) => None,
                Ok(other) => panic!("SHIMING_TEST_BACKEND={other}: sqlite or postgres"),
            };
        Stopped {
            data: TempDir::new().unwrap(),
            database,
        }
    }

    /// The database's URL, as the service is configured with it.
    fn database_url(&self) -> String {
        match &self.database {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", self.data.path().join("shiming.db").display()),
        }
    }

    /// The service's database, opened beside it (to inspect, or to set what
    /// no API sets yet).
    pub async fn raw(&self) -> Raw {
        Raw::connect(&self.database_url()).await
    }
}

/// A service on what an earlier one left (a restart), sending texts to
/// `gateway` where given.
pub async fn spawn_in(stopped: Stopped, gateway: Option<(&Gateway, &str)>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_at(stopped, gateway, Clock::system().now(), tweak).await
}

async fn spawn_at(
    stopped: Stopped,
    gateway: Option<(&Gateway, &str)>,
    at: i64,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config::development();
    // These suites were written for a WeChat that attests its person at the
    // round trip: the platform claim integration, served by the development
    // WeChat server. `serve --dev` itself uses WeChat's own check
    // (city_service), which wechat_realname.rs and the binary's tests cover,
    // with `none` beside it.
    config.wechat.realname = Some(shiming_server::config::WechatRealName::PlatformClaim);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = stopped.data.path().to_path_buf();
    let database_url = stopped.database_url();
    config.database.url = Some(database_url.clone());
    if let Some((_, url)) = gateway {
        config.sms.sender = shiming_server::config::SmsSenderKind::Webhook;
        config.sms.webhook = Some(shiming_providers::sms::WebhookConfig {
            url: url.to_owned(),
            bearer_token: None,
            timeout_ms: 2_000,
            retries: 0,
        });
    }
    tweak(&mut config);
    let clock = Clock::manual(at);
    let running = shiming_server::start_with_clock(config, clock.clone())
        .await
        .expect("the service starts");
    TestApp {
        base: running.url(),
        carrier: format!("http://{}", running.carrier_addr.expect("dev starts a carrier")),
        http: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        data: stopped.data,
        database: stopped.database,
        database_url,
        clock,
        gateway: gateway.map(|(g, _)| g.clone()),
        running: Some(running),
    }
}

/// A resident ID number: the 17 digits given, then their GB 11643 check character.
pub fn id_number(prefix17: &str) -> String {
    let w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let s: u32 = prefix17.bytes().zip(w).map(|(d, k)| u32::from(d - b'0') * k).sum();
    format!("{prefix17}{}", b"10X98765432"[(s % 11) as usize] as char)
}

/// Asserts a refusal's status and code, reading its body.
/// A new enterprise of the account of `token`, named 示例科技: its id.
pub async fn enterprise(app: &TestApp, token: &str) -> String {
    let r = app
        .post_as(token, "/api/v1/enterprises", json!({ "name": "示例科技" }))
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// Has `token`, an admin of `enterprise`, open an enterprise-managed account
/// for `phone` (one without an account), known as `name`: its id.
pub async fn provisioned(app: &TestApp, token: &str, enterprise: &str, phone: &str, name: &str) -> String {
    let r = app
        .post_as(
            token,
            &format!("/api/v1/enterprises/{enterprise}/members"),
            json!({ "phone": phone, "display_name": name }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["outcome"], "provisioned");
    added["account_id"].as_str().unwrap().to_owned()
}

pub async fn assert_error(resp: Response, status: u16, code: &str) {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.expect("an error body is JSON");
    assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{body}");
}

/// Asserts that a refused request changed nothing an account shows.
pub fn assert_unchanged(before: &Value, after: &Value) {
    assert_eq!(before, after, "a refused request changed the account");
}

/// Two racing answers as (status, error code or ""), sorted: the outcome of a race.
pub async fn outcomes(x: Response, y: Response) -> Vec<(u16, String)> {
    let mut all = Vec::new();
    for r in [x, y] {
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        all.push((status, body["error"]["code"].as_str().unwrap_or("").to_owned()));
    }
    all.sort();
    all
}

/// How many of the account's audit events are of `kind`.
pub async fn events_of(app: &TestApp, token: &str, kind: &str) -> usize {
    app.json_as(token, "/api/v1/account/audit").await["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .count()
}

/// A 4xx/5xx answer's `error.code`.
pub async fn error_code(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.expect("an error body is JSON");
    (status, body["error"]["code"].as_str().expect("error.code").to_owned())
}

impl TestApp {
    /// Moves the service's clock on: time passes without waiting for it.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(secs);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: Value) -> Response {
        self.http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> Response {
        self.http
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn send_code(&self, phone: &str) -> Response {
        self.post("/api/v1/sms/send", json!({ "phone": phone, "purpose": "login" }))
            .await
    }

    /// The outbox of one phone, newest first.
    pub async fn outbox(&self, phone: &str) -> Vec<Value> {
        if let Some(gateway) = &self.gateway {
            return gateway.delivered(phone);
        }
        let resp = self
            .http
            .get(self.url("/dev/sms"))
            .query(&[("phone", phone)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// The newest text to a phone containing `needle`, waited for: notices are
    /// sent after their commit, by the notice task.
    pub async fn text_containing(&self, phone: &str, needle: &str) -> String {
        for _ in 0..100 {
            let found = self
                .outbox(phone)
                .await
                .into_iter()
                .filter_map(|m| m["text"].as_str().map(str::to_owned))
                .find(|t| t.contains(needle));
            if let Some(text) = found {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no text containing {needle:?} reached {phone}");
    }

    /// The newest code sent to a phone.
    /// Read from the newest text that carries a code ("Your shiming code is
    /// NNNNNN."), never from a notice whose account id has six digits in a row.
    pub async fn latest_code(&self, phone: &str) -> String {
        self.outbox(phone)
            .await
            .iter()
            .filter_map(|m| m["text"].as_str())
            .find_map(|t| {
                t.split_once("Your shiming code is ")
                    .map(|(_, rest)| rest[..6].to_owned())
            })
            .expect("a text with a code")
    }

    pub async fn login(&self, phone: &str, code: &str) -> Response {
        self.post("/api/v1/login/phone", json!({ "phone": phone, "code": code }))
            .await
    }

    /// Signs in by phone; returns (token, account_id).
    pub async fn sign_in(&self, phone: &str) -> (String, String) {
        assert_eq!(self.send_code(phone).await.status(), 202);
        let code = self.latest_code(phone).await;
        let resp = self.login(phone, &code).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        (
            body["token"].as_str().unwrap().to_owned(),
            body["account_id"].as_str().unwrap().to_owned(),
        )
    }

    /// The id of the session `token` opens, from its own list of sessions.
    pub async fn current_session_id(&self, token: &str) -> String {
        self.json_as(token, "/api/v1/account/sessions").await["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .expect("the calling session is listed")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Everything an account shows of itself: Account & Security, its
    /// sessions, its audit trail, its notices (compare with [`assert_unchanged`]).
    pub async fn snapshot(&self, token: &str) -> Value {
        let mut all = json!({});
        for path in [
            "/api/v1/account/security",
            "/api/v1/account/sessions",
            "/api/v1/account/audit",
            "/api/v1/account/notices",
        ] {
            all[path] = self.json_as(token, path).await;
        }
        all
    }

    /// An account on `phone`, its real name verified by the carrier as `person`; its token.
    pub async fn verified_account(&self, phone: &str, person: (&str, &str)) -> String {
        self.add_carrier_person(phone, person.0, person.1).await;
        let (token, _) = self.sign_in(phone).await;
        let r = self
            .post_as(
                &token,
                "/api/v1/account/real-name/phone",
                json!({ "name": person.0, "id_number": person.1, "consent": true }),
            )
            .await;
        assert_eq!(r.status(), 200);
        token
    }

    /// Sets an account's state as an administrator's freeze, ban or deletion
    /// will: through the running service's store.
    pub async fn set_state(&self, account_id: &str, state: &str) {
        let state = AccountState::parse(state).expect("an account state");
        let audit = AuditDraft::new(
            "account.state_changed",
            account_id,
            self.clock.now(),
            json!({ "state": state.as_str(), "by": "operator" }),
        );
        let store = &self.running.as_ref().expect("running").store;
        assert!(store.set_account_state(account_id, state, audit).await.unwrap());
    }

    /// Confirms a change (or an unbind) at `path`, accepting its consequences.
    pub async fn accept(&self, token: &str, path: &str) -> Response {
        self.post_as(token, path, json!({ "accept_consequences": true })).await
    }

    /// Steps 1 and 2 of a phone change to `phone` held by `person`: the start
    /// (which must send a code), then the code: the verify's answer, the preview.
    pub async fn prove_phone_change(&self, token: &str, phone: &str, person: (&str, &str)) -> Response {
        let r = self
            .post_as(
                token,
                "/api/v1/account/phone/change",
                json!({ "new_phone": phone, "name": person.0, "id_number": person.1, "consent": true }),
            )
            .await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let code = self.latest_code(phone).await;
        self.post_as(token, "/api/v1/account/phone/change/verify", json!({ "code": code }))
            .await
    }

    /// Steps the session up by a code to its bound phone.
    pub async fn step_up(&self, token: &str, phone: &str) {
        assert_eq!(
            self.post_as(token, "/api/v1/step-up/sms", json!({})).await.status(),
            202
        );
        let code = self.latest_code(phone).await;
        let resp = self
            .post_as(token, "/api/v1/step-up/verify", json!({ "code": code }))
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }

    /// The account's notices, newest first.
    pub async fn notices(&self, token: &str) -> Value {
        self.json_as(token, "/api/v1/account/notices").await
    }

    /// `GET path` with `token`, which must answer 200: its JSON.
    pub async fn json_as(&self, token: &str, path: &str) -> Value {
        let resp = self.get_as(token, path).await;
        assert_eq!(resp.status(), 200, "{path}");
        resp.json().await.unwrap()
    }

    pub async fn add_carrier_person(&self, phone: &str, name: &str, id_number: &str) {
        let resp = self
            .post(
                "/dev/carrier/persons",
                json!({ "phone": phone, "name": name, "id_number": id_number }),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }

    pub async fn carrier_fault(&self, mode: &str) {
        let resp = self
            .http
            .post(format!("{}/dev/carrier/fault", self.carrier))
            .json(&json!({ "mode": mode }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }

    pub async fn security(&self, token: &str) -> Value {
        self.json_as(token, "/api/v1/account/security").await
    }

    pub async fn add_wechat_user(&self, nickname: &str, claim: Option<(&str, &str)>) -> String {
        let mut body = json!({ "nickname": nickname });
        if let Some((name, id)) = claim {
            body["name"] = json!(name);
            body["id_number"] = json!(id);
        }
        let resp = self.post("/dev/wechat/users", body).await;
        assert_eq!(resp.status(), 201);
        resp.json::<Value>().await.unwrap()["unionid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Makes the development WeChat answer `errcode` (or hang) at an endpoint; `None` clears.
    pub async fn wechat_fault(&self, fault: Option<Value>) {
        let resp = self.post("/dev/wechat/fault", fault.unwrap_or(json!({}))).await;
        assert_eq!(resp.status(), 204);
    }

    /// A browser: keeps cookies, follows no redirects.
    pub fn browser(&self) -> Browser {
        Browser {
            http: Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.base.clone(),
            token: None,
        }
    }

    /// The service's database, opened beside it (to inspect, or to set what
    /// no API sets yet).
    pub async fn raw(&self) -> Raw {
        Raw::connect(&self.database_url).await
    }

    /// How many rows a table of the service's database holds.
    pub async fn rows(&self, table: &str) -> i64 {
        self.raw().await.count(table, "TRUE").await
    }

    /// Everything the service keeps at rest: every byte of the data folder,
    /// and on PostgreSQL every row of the database as text (a blob in hex).
    pub async fn at_rest(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.data.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                all.extend(std::fs::read(path).unwrap());
            }
        }
        if self.database.is_some() {
            for (table, rows) in self.raw().await.dump().await {
                all.extend(format!("{table}: {rows:?}\n").into_bytes());
            }
        }
        all
    }

    /// Stops the service and starts it again on the same data folder, `secs`
    /// later by its clock.
    pub async fn restart_after(self, secs: i64) -> TestApp {
        let at = self.clock.now() + secs;
        let data = self.stop().await;
        spawn_at(data, None, at, |_| {}).await
    }

    /// Stops the service (it writes what it batched); the data folder and
    /// the database are handed back to look into, and go when dropped.
    pub async fn stop(mut self) -> Stopped {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        Stopped {
            data: self.data,
            database: self.database,
        }
    }
}

pub struct Browser {
    pub http: Client,
    pub base: String,
    /// A bearer token to send besides the cookies.
    pub token: Option<String>,
}

impl Browser {
    pub async fn get(&self, path_or_url: &str, json: bool) -> Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let mut req = self.http.get(url);
        if json {
            req = req.header("Accept", "application/json");
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Starts a round trip at `start` and approves it at the development WeChat
    /// as `unionid`: the callback URL, not yet visited.
    pub async fn approve(&self, start: &str, unionid: &str) -> String {
        let resp = self.get(start, false).await;
        assert_eq!(resp.status(), 302, "{start}: {}", resp.text().await.unwrap());
        let authorize = resp.headers()["location"].to_str().unwrap().to_owned();
        let resp = self.get(&format!("{authorize}&dev_user={unionid}"), false).await;
        assert_eq!(resp.status(), 303);
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    /// A whole round trip, the callback read as JSON.
    pub async fn round_trip(&self, start: &str, unionid: &str) -> Response {
        let callback = self.approve(start, unionid).await;
        self.get(&callback, true).await
    }

    pub async fn security(&self) -> Value {
        let resp = self.get("/api/v1/account/security", true).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }
}

/// How many lines of `/metrics` name `route`: its series (a summary's quantiles each a line).
pub async fn metric_series(app: &TestApp, route: &str) -> usize {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("route=\"{route}\"");
    text.lines().filter(|l| l.contains(&label)).count()
}
