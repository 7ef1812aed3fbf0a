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
    let served = serve(&tmp.path().join("data"), tmp.path());
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

    c.find(Locator::Css("#phone"))
        .await
        .unwrap()
        .send_keys("13800138000")
        .await
        .unwrap();
    c.find(Locator::Css("#send")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#status.note")).await.unwrap();
    assert!(text_of(&c, "#status").await.contains("验证码已发送"));
    // The countdown holds the button back.
    let send = c.find(Locator::Css("#send")).await.unwrap();
    assert!(!send.is_enabled().await.unwrap(), "the send button counts down");

    // A wrong code is refused inline and announced.
    c.find(Locator::Css("#code"))
        .await
        .unwrap()
        .send_keys("000000")
        .await
        .unwrap();
    c.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
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
    c.find(Locator::Css("#code"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    c.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
    c.wait()
        .for_url(&format!("{base}/account").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(text_of(&c, "h1").await, "账号与安全");
    assert_eq!(text_of(&c, "#rn-status").await, "未实名");
    assert!(text_of(&c, "#phone").await.starts_with("138****8000"));
    shoot(&c, "account", "zh-CN").await;

    // The switch: English, remembered.
    c.find(Locator::Css("a.lang")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("html[lang=en]")).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "Account & Security");
    assert_eq!(text_of(&c, "#rn-status").await, "Not verified");
    shoot(&c, "account", "en").await;
    c.goto(&format!("{base}/account")).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "Account & Security", "the cookie keeps it");

    // Signing out ends the session: back to sign-in, and the account page sends there too.
    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
