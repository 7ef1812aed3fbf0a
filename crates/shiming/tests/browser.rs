//! The pages in a real browser: headless Chromium driven through WebDriver
//! (chromedriver), against the real binary. Screenshots of each page, in
//! both languages, at a phone's width and a desktop's, go to
//! docs/screenshots/.
//!
//! `.ci/run` installs Debian's `chromium` and `chromium-driver`. Where they
//! are missing, the browser tests print how to install them and pass
//! without running: they never fail for want of a browser.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver of its own on a free port, killed when dropped.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The driver, or `None` (with a notice) on a machine without the browser.
fn driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        eprintln!(
            "NOTICE: browser tests skipped: {CHROMIUM} and {CHROMEDRIVER} are missing \
             (install them with `apt-get install chromium chromium-driver`; .ci/run does)"
        );
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // Owned (and killed on drop) before anything can fail.
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(driver: &Driver, accept_language: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--window-size=360,800", format!("--lang={accept_language}")],
            "prefs": { "intl.accept_languages": accept_language },
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the page at a phone's width and a desktop's, as `<name>-<lang>-{mobile,desktop}.png`.
async fn shoot(c: &Client, name: &str, lang: &str) {
    for (size, (w, h)) in [("mobile", (360, 800)), ("desktop", (1280, 860))] {
        c.set_window_size(w, h).await.unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{name}-{lang}-{size}.png")), png).unwrap();
    }
    c.set_window_size(360, 800).await.unwrap();
}

async fn type_in(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css)).await.unwrap().send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// The newest sign-in code texted to `phone` (the development outbox).
async fn code_for(base: &str, phone: &str) -> String {
    let messages: Value = reqwest::Client::new()
        .get(format!("{base}/dev/sms"))
        .query(&[("phone", phone)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    code_in(&messages).expect("a code was texted")
}

/// Starts `serve --dev` (blocking, as the other binary tests do), then runs
/// `scenario` with its base URL on a runtime of its own.
fn with_service<F: std::future::Future<Output = ()>>(scenario: impl FnOnce(String) -> F) {
    let tmp = tempfile::tempdir().unwrap();
    // A resend cool-down of 2 s: long enough to see the countdown, short
    // enough for a second device to sign in by the same number.
    let served = serve_with(
        &tmp.path().join("data"),
        tmp.path(),
        &[("SHIMING_SMS__RESEND_AFTER_SECS", "2")],
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(scenario(served.base.clone()));
}

#[test]
fn sign_in_by_phone_read_account_and_security_switch_language_and_sign_out() {
    let Some(driver) = driver() else { return };
    with_service(|base| async move { sign_in_scenario(&driver, &base).await });
}

async fn sign_in_scenario(driver: &Driver, base: &str) {
    let c = browser(driver, "zh-CN").await;

    // `/` sends a stranger to the sign-in page, in Chinese by default.
    c.goto(&format!("{base}/")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().ends_with("/login"));
    assert_eq!(text_of(&c, "h1").await, "登录");
    shoot(&c, "login", "zh-CN").await;

    type_in(&c, "#phone", "13800138000").await;
    click(&c, "#send").await;
    c.wait().for_element(Locator::Css("#status.note")).await.unwrap();
    assert!(text_of(&c, "#status").await.contains("验证码已发送"));
    // The countdown holds the button back.
    let send = c.find(Locator::Css("#send")).await.unwrap();
    assert!(!send.is_enabled().await.unwrap(), "the send button counts down");

    // A wrong code is refused inline and announced.
    type_in(&c, "#code", "000000").await;
    click(&c, "#sign-in").await;
    c.wait().for_element(Locator::Css("#status.error")).await.unwrap();
    assert_eq!(
        c.find(Locator::Css("#status"))
            .await
            .unwrap()
            .attr("aria-live")
            .await
            .unwrap()
            .as_deref(),
        Some("polite")
    );

    let code = code_for(base, "+8613800138000").await;
    type_in(&c, "#code", &code).await;
    click(&c, "#sign-in").await;
    c.wait()
        .for_url(&format!("{base}/account").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(text_of(&c, "h1").await, "账号与安全");
    assert_eq!(text_of(&c, "#rn-status").await, "未实名");
    assert!(text_of(&c, "#phone").await.starts_with("138****8000"));

    // Verify the real name: the carrier knows the number as 欧阳明's.
    let http = reqwest::Client::new();
    let person = ("欧阳明", "110105199003071239");
    let r = http
        .post(format!("{base}/dev/carrier/persons"))
        .json(&json!({ "phone": "+8613800138000", "name": person.0, "id_number": person.1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    click(&c, "#verify-link").await;
    c.wait().for_element(Locator::Css("#id_number")).await.unwrap();
    assert_eq!(text_of(&c, "#bound-phone").await, "138****8000");
    shoot(&c, "real-name", "zh-CN").await;
    type_in(&c, "#name", person.0).await;
    type_in(&c, "#id_number", person.1).await;
    // Without consent: refused on the page, nothing verified.
    click(&c, "#verify").await;
    c.wait().for_element(Locator::Css("#status.error")).await.unwrap();
    assert!(text_of(&c, "#status").await.contains("同意"));
    type_in(&c, "#id_number", person.1).await;
    click(&c, "#consent").await;
    click(&c, "#verify").await;
    c.wait()
        .for_url(&format!("{base}/account").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(text_of(&c, "#rn-status").await, "已实名");
    assert!(text_of(&c, "#rn-name").await.ends_with("明"));
    shoot(&c, "account", "zh-CN").await;

    // Another device signs in (the API); this one signs all others out.
    let mut sent = false;
    for _ in 0..50 {
        let r = http
            .post(format!("{base}/api/v1/sms/send"))
            .json(&json!({ "phone": "+8613800138000", "purpose": "login" }))
            .send()
            .await
            .unwrap();
        if r.status() == 202 {
            sent = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(sent, "a second code after the cool-down");
    let code = code_for(base, "+8613800138000").await;
    let other: Value = http
        .post(format!("{base}/api/v1/login/phone"))
        .header("User-Agent", "another phone")
        .json(&json!({ "phone": "+8613800138000", "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = other["token"].as_str().expect("the other device signed in").to_owned();
    click(&c, "#sessions-link").await;
    c.wait().for_element(Locator::Css("#sign-out-others")).await.unwrap();
    assert!(c.source().await.unwrap().contains("another phone"));
    shoot(&c, "sessions", "zh-CN").await;
    click(&c, "#sign-out-others").await;
    c.wait().for_element(Locator::Css("#status.note")).await.unwrap();
    assert!(text_of(&c, "#status").await.ends_with('1'));
    let whoami = http
        .get(format!("{base}/api/v1/whoami"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 401, "the other device is signed out");
    c.goto(&format!("{base}/account/audit")).await.unwrap();
    let log = text_of(&c, "ol.events").await;
    assert!(log.contains("实名认证") && log.contains("下线其他设备"), "{log}");
    shoot(&c, "audit", "zh-CN").await;
    c.goto(&format!("{base}/account")).await.unwrap();

    // The switch: English, remembered.
    click(&c, "a.lang").await;
    c.wait().for_element(Locator::Css("html[lang=en]")).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "Account & Security");
    assert_eq!(text_of(&c, "#rn-status").await, "Verified");
    shoot(&c, "account", "en").await;
    // Every other page in English too, as the cookie keeps it.
    for (path, name, title) in [
        ("/account/real-name", "real-name", "Verify your real name"),
        ("/account/sessions", "sessions", "Signed-in devices"),
        ("/account/audit", "audit", "Security log"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        assert_eq!(text_of(&c, "h1").await, title, "{path}");
        shoot(&c, name, "en").await;
    }
    c.goto(&format!("{base}/account")).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "Account & Security", "the cookie keeps it");

    // Signing out ends the session: back to sign-in, and the account page sends there too.
    click(&c, "header form button").await;
    c.wait()
        .for_url(&format!("{base}/login").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(text_of(&c, "h1").await, "Sign in");
    shoot(&c, "login", "en").await;
    c.goto(&format!("{base}/account")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().ends_with("/login"));
    c.close().await.unwrap();
}
