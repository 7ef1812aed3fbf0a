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
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
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
    /// Kills chromedriver's whole process group: the browsers it started
    /// too, which a failed test (that never closed its session) would
    /// otherwise leave running.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
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
        // A process group of its own, which the drop kills whole.
        .process_group(0)
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

/// Does `act` to the element `css`, found afresh each time. After a form's
/// redirect the old page can still be there when an element is found and
/// gone when it is used (a stale element): it is then found again, on the
/// new page.
async fn on<T, F, Fut>(c: &Client, css: &str, act: F) -> T
where
    F: Fn(Element) -> Fut,
    Fut: std::future::Future<Output = Result<T, CmdError>>,
{
    for _ in 0..50 {
        let element = c
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        match act(element).await {
            Ok(v) => return v,
            Err(e) if e.is_stale_element_reference() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("{css}: {e}"),
        }
    }
    panic!("{css} went stale 50 times")
}

async fn type_in(c: &Client, css: &str, text: &str) {
    on(c, css, |e| async move { e.send_keys(text).await }).await
}

async fn click(c: &Client, css: &str) {
    on(c, css, |e| async move { e.click().await }).await
}

async fn text_of(c: &Client, css: &str) -> String {
    on(c, css, |e| async move { e.text().await }).await
}

/// Waits for the page's note (a code sent, devices signed out); its text.
async fn note(c: &Client) -> String {
    c.wait()
        .for_element(Locator::Css("#status.note:not(:empty)"))
        .await
        .unwrap();
    text_of(c, "#status").await
}

/// Asks for a code with the page's send button, then types the one texted to `phone`.
async fn send_and_type_code(c: &Client, base: &str, phone: &str) {
    click(c, "#send").await;
    note(c).await;
    type_in(c, "#code", &code_for(base, phone).await).await;
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

/// Signs in by `phone` through the API (another device, named `device`),
/// once the sign-in code's resend cool-down allows; answers the API's body.
async fn api_sign_in(base: &str, phone: &str, device: &str) -> Value {
    let http = reqwest::Client::new();
    let mut sent = false;
    for _ in 0..50 {
        let r = http
            .post(format!("{base}/api/v1/sms/send"))
            .json(&json!({ "phone": phone, "purpose": "login" }))
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
    let code = code_for(base, phone).await;
    http.post(format!("{base}/api/v1/login/phone"))
        .header("User-Agent", device)
        .json(&json!({ "phone": phone, "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Clicks the form button `css` and waits for the page it posts to: the
/// note then read is the new page's, not the one before.
async fn submit(c: &Client, css: &str) {
    let before = c.find(Locator::Css("html")).await.unwrap();
    click(c, css).await;
    for _ in 0..100 {
        match before.tag_name().await {
            Err(e) if e.is_stale_element_reference() => return,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("{css} led to no new page");
}

/// Tells the development carrier that `phone` is held by `person` (name, ID number).
async fn carrier_knows(base: &str, phone: &str, person: (&str, &str)) {
    let r = reqwest::Client::new()
        .post(format!("{base}/dev/carrier/persons"))
        .json(&json!({ "phone": phone, "name": person.0, "id_number": person.1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// Signs in on the sign-in page, typing `typed` for `phone`, and lands on
/// Account & Security.
async fn sign_in_on_page(c: &Client, base: &str, typed: &str, phone: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    type_in(c, "#phone", typed).await;
    send_and_type_code(c, base, phone).await;
    click(c, "#sign-in").await;
    wait_path(c, base, "/account").await;
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
    assert!(note(&c).await.contains("验证码已发送"));
    // The countdown holds the button back.
    let enabled = on(&c, "#send", |e| async move { e.is_enabled().await }).await;
    assert!(!enabled, "the send button counts down");

    // A wrong code is refused inline and announced.
    type_in(&c, "#code", "000000").await;
    click(&c, "#sign-in").await;
    c.wait().for_element(Locator::Css("#status.error")).await.unwrap();
    assert_eq!(attr_of(&c, "#status", "aria-live").await, "polite");

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
    carrier_knows(base, "+8613800138000", person).await;
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
    let other = api_sign_in(base, "+8613800138000", "another phone").await;
    let other = other["token"].as_str().expect("the other device signed in").to_owned();
    click(&c, "#sessions-link").await;
    c.wait().for_element(Locator::Css("#sign-out-others")).await.unwrap();
    assert!(c.source().await.unwrap().contains("another phone"));
    shoot(&c, "sessions", "zh-CN").await;
    click(&c, "#sign-out-others").await;
    assert!(note(&c).await.ends_with('1'));
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

/// Shoots the page in Chinese, switches to English and shoots it again,
/// then switches back. The wizards' steps follow from the service's state,
/// so the switch comes back to the same step.
async fn shoot_both(c: &Client, name: &str) {
    shoot(c, name, "zh-CN").await;
    let page = c.current_url().await.unwrap().path().to_owned();
    for lang in ["en", "zh-CN"] {
        click(c, "a.lang").await;
        c.wait()
            .for_element(Locator::Css(&format!("html[lang=\"{lang}\"]")))
            .await
            .unwrap();
        // The switch comes back to the page it was used on.
        assert_eq!(c.current_url().await.unwrap().path(), page, "{name} in {lang}");
        if lang == "en" {
            shoot(c, name, "en").await;
        }
    }
}

/// The browser's cookies for this service, as a `Cookie` header: the API
/// then answers for the same session as the pages.
async fn cookie_header(c: &Client) -> String {
    c.get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|k| format!("{}={}", k.name(), k.value()))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn api_get(base: &str, path: &str, cookies: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("Cookie", cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

async fn attr_of(c: &Client, css: &str, attr: &str) -> String {
    on(c, css, |e| async move { e.attr(attr).await })
        .await
        .unwrap_or_default()
}

/// The page's preview says what the API's preview of the same change says.
async fn assert_preview_is_the_apis(c: &Client, base: &str, api_path: &str) {
    let api = api_get(base, api_path, &cookie_header(c).await).await;
    let after = &api["real_name_after"];
    assert_eq!(
        attr_of(c, "#preview", "data-person-changes").await,
        api["person_changes"].to_string()
    );
    assert_eq!(
        text_of(c, "#pv-name").await,
        after["name_masked"].as_str().unwrap_or("无")
    );
    if let Some(id) = after["id_number_masked"].as_str() {
        assert_eq!(text_of(c, "#pv-id").await, id);
    } else {
        assert!(c.find(Locator::Css("#pv-id")).await.is_err());
    }
    if let Some(source) = after["source"].as_str() {
        assert_eq!(attr_of(c, "#pv-source", "data-api").await, source);
    } else {
        assert!(c.find(Locator::Css("#pv-source")).await.is_err());
    }
    assert_eq!(
        attr_of(c, "#pv-status", "data-api").await,
        api["status_after"].as_str().unwrap()
    );
    assert_eq!(
        attr_of(c, "#pv-nature", "data-api").await,
        api["nature_after"].as_str().unwrap()
    );
    let mut stops = Vec::new();
    for li in c.find_all(Locator::Css("#pv-stops li[data-api]")).await.unwrap() {
        stops.push(Value::from(li.attr("data-api").await.unwrap().unwrap()));
    }
    assert_eq!(Value::from(stops), api["stops_signing_in"]);
    assert_eq!(text_of(c, "#pv-sessions").await, api["sessions_revoked"].to_string());
}

/// A test identity of the development WeChat; answers its unionid.
async fn wechat_user(base: &str, nickname: &str) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/dev/wechat/users"))
        .json(&json!({ "nickname": nickname }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["unionid"].as_str().unwrap().to_owned()
}

/// On the development WeChat's page, picks the identity `unionid`.
async fn pick_wechat(c: &Client, unionid: &str) {
    let link = format!("a[href*=\"dev_user={unionid}\"]");
    c.wait()
        .for_element(Locator::Css(&link))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_path(c: &Client, base: &str, path: &str) {
    c.wait()
        .for_url(&format!("{base}{path}").parse().unwrap())
        .await
        .unwrap();
}

#[test]
fn change_the_phone_bind_rebind_and_unbind_wechat_through_the_wizards() {
    let Some(driver) = driver() else { return };
    with_service(|base| async move { wizards_scenario(&driver, &base).await });
}

async fn wizards_scenario(driver: &Driver, base: &str) {
    let http = reqwest::Client::new();
    let person = ("欧阳明", "110105199003071239");
    // The carrier knows both numbers as 欧阳明's.
    for phone in ["+8613800138000", "+8613900139000"] {
        carrier_knows(base, phone, person).await;
    }
    let c = browser(driver, "zh-CN").await;

    // Sign in by phone and verify the real name.
    sign_in_on_page(&c, base, "13800138000", "+8613800138000").await;
    c.goto(&format!("{base}/account/real-name")).await.unwrap();
    type_in(&c, "#name", person.0).await;
    type_in(&c, "#id_number", person.1).await;
    click(&c, "#consent").await;
    click(&c, "#verify").await;
    wait_path(&c, base, "/account").await;
    assert_eq!(text_of(&c, "#rn-status").await, "已实名");
    // Another device, which the change of phone will sign out.
    let other = api_sign_in(base, "+8613800138000", "another phone").await;
    let other = other["token"].as_str().unwrap().to_owned();

    // 更换绑定手机号: step-up by a code to the current phone.
    click(&c, "#change-phone").await;
    c.wait().for_element(Locator::Css("#step-up-phone")).await.unwrap();
    assert_eq!(text_of(&c, "#step-up-phone").await, "138****8000");
    shoot_both(&c, "phone-step-up").await;
    send_and_type_code(&c, base, "+8613800138000").await;
    click(&c, "#step-up").await;
    // The new phone; its holder left empty: 欧阳明, the account's person.
    c.wait().for_element(Locator::Css("#new_phone")).await.unwrap();
    shoot_both(&c, "phone-new").await;
    type_in(&c, "#new_phone", "13900139000").await;
    click(&c, "#consent").await;
    click(&c, "#send-new").await;
    c.wait().for_element(Locator::Css("#new-phone")).await.unwrap();
    assert_eq!(text_of(&c, "#new-phone").await, "139****9000");
    shoot_both(&c, "phone-code").await;
    type_in(&c, "#code", &code_for(base, "+8613900139000").await).await;
    click(&c, "#verify-new").await;
    // The preview: exactly the API's for the same change.
    c.wait().for_element(Locator::Css("#preview")).await.unwrap();
    assert_preview_is_the_apis(&c, base, "/api/v1/account/phone/change").await;
    assert_eq!(text_of(&c, "#pv-status").await, "已实名");
    assert_eq!(text_of(&c, "#pv-stops").await, "手机号 138****8000");
    assert_eq!(text_of(&c, "#pv-sessions").await, "1");
    shoot_both(&c, "phone-preview").await;
    // A confirm posted with another token is refused, and commits nothing.
    c.execute(
        "document.getElementById('confirm').form.elements['csrf'].value = '0'.repeat(64);",
        Vec::new(),
    )
    .await
    .unwrap();
    click(&c, "#accept").await;
    submit(&c, "#confirm").await;
    c.wait().for_element(Locator::Css("p[role=alert]")).await.unwrap();
    assert!(text_of(&c, "p[role=alert]").await.contains("页面已过期"));
    c.goto(&format!("{base}/account/phone/change")).await.unwrap();
    assert!(
        c.find(Locator::Css("#preview")).await.is_ok(),
        "still waiting for its confirm"
    );
    assert_preview_is_the_apis(&c, base, "/api/v1/account/phone/change").await;
    // Not without "我已了解上述变化".
    click(&c, "#confirm").await;
    c.wait().for_element(Locator::Css("#status.error")).await.unwrap();
    assert!(text_of(&c, "#status").await.contains("我已了解上述变化"));
    click(&c, "#accept").await;
    click(&c, "#confirm").await;
    c.wait().for_element(Locator::Css("#done-status")).await.unwrap();
    assert_eq!(text_of(&c, "#done-status").await, "已实名");
    assert_eq!(text_of(&c, "#done-sessions").await, "1");
    shoot_both(&c, "phone-done").await;
    // The other device is signed out, and the old phone signs in to no
    // account of ours: it would make a new one.
    let whoami = http
        .get(format!("{base}/api/v1/whoami"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 401, "the other device is signed out");
    let old = api_sign_in(base, "+8613800138000", "the old phone").await;
    assert_eq!(old["created"], true, "the old phone opens a new account: {old}");
    c.goto(&format!("{base}/account")).await.unwrap();
    assert!(text_of(&c, "#phone").await.starts_with("139****9000"));

    // 绑定微信 (the step-up still holds), then 换绑 to another WeChat.
    let (xiaoming, xiaohong, xiaogang) = (
        wechat_user(base, "小明").await,
        wechat_user(base, "小红").await,
        wechat_user(base, "小刚").await,
    );
    click(&c, "#bind-wechat").await;
    c.wait().for_element(Locator::Css("#authorize-wechat")).await.unwrap();
    click(&c, "#authorize-wechat").await;
    pick_wechat(&c, &xiaoming).await;
    c.wait().for_element(Locator::Css("#done-status")).await.unwrap();
    c.goto(&format!("{base}/account")).await.unwrap();
    assert!(text_of(&c, "#wechat").await.starts_with("小明"));
    click(&c, "#rebind-wechat").await;
    c.wait().for_element(Locator::Css("#authorize-wechat")).await.unwrap();
    shoot_both(&c, "wechat-authorize").await;
    click(&c, "#authorize-wechat").await;
    pick_wechat(&c, &xiaohong).await;
    c.wait().for_element(Locator::Css("#preview")).await.unwrap();
    assert_preview_is_the_apis(&c, base, "/api/v1/account/wechat/rebind").await;
    assert!(text_of(&c, "#pv-stops").await.starts_with("微信 dev-"));
    shoot_both(&c, "wechat-preview").await;
    click(&c, "#accept").await;
    click(&c, "#confirm").await;
    c.wait().for_element(Locator::Css("#done-status")).await.unwrap();
    c.goto(&format!("{base}/account")).await.unwrap();
    assert!(text_of(&c, "#wechat").await.starts_with("小红"));

    // 解绑微信: its consequences, then confirmed.
    click(&c, "#unbind-wechat").await;
    c.wait().for_element(Locator::Css("#preview")).await.unwrap();
    assert_preview_is_the_apis(&c, base, "/api/v1/account/wechat/unbind").await;
    shoot_both(&c, "wechat-unbind").await;
    click(&c, "#accept").await;
    click(&c, "#confirm").await;
    c.wait().for_element(Locator::Css("#done-status")).await.unwrap();
    c.goto(&format!("{base}/account")).await.unwrap();
    assert_eq!(text_of(&c, "#wechat").await, "未绑定");

    // Sign out, then sign in with WeChat through the development WeChat page:
    // 小刚 has no account, so one is made, with WeChat its only credential.
    click(&c, "header form button").await;
    wait_path(&c, base, "/login").await;
    click(&c, "#wechat").await;
    pick_wechat(&c, &xiaogang).await;
    wait_path(&c, base, "/account").await;
    assert!(text_of(&c, "#wechat").await.starts_with("小刚"));
    assert_eq!(text_of(&c, "#phone").await, "未绑定");
    // Unbinding the only credential is refused, with nothing to confirm.
    click(&c, "#unbind-wechat").await;
    c.wait().for_element(Locator::Css("#status.error")).await.unwrap();
    assert!(text_of(&c, "#status").await.contains("唯一的登录方式"));
    assert!(c.find(Locator::Css("#confirm")).await.is_err(), "nothing to confirm");
    shoot_both(&c, "wechat-unbind-refused").await;
    // Binding a phone needs a step-up, here by the bound WeChat.
    c.goto(&format!("{base}/account/phone/change")).await.unwrap();
    assert!(
        c.find(Locator::Css("#step-up-phone")).await.is_err(),
        "no phone to text"
    );
    click(&c, "#step-up-wechat").await;
    pick_wechat(&c, &xiaogang).await;
    c.wait().for_element(Locator::Css("#new_phone")).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "绑定手机号");
    c.close().await.unwrap();
}

#[test]
fn an_invitation_texted_to_a_phone_is_opened_signed_in_with_it_and_accepted() {
    let Some(driver) = driver() else { return };
    with_service(|base| async move { invitation_scenario(&driver, &base).await });
}

async fn invitation_scenario(driver: &Driver, base: &str) {
    const INVITEE: &str = "+8613800138077";
    // The owner creates an enterprise and invites the phone (the API).
    let owner = api_sign_in(base, "+8613800138066", "owner's phone").await;
    let owner = owner["token"].as_str().expect("the owner signed in").to_owned();
    let created = api_post(base, &owner, "/api/v1/enterprises", json!({ "name": "示例科技" })).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/enterprises/{id}/invitations");
    let sent = api_post(base, &owner, &path, json!({ "phone": INVITEE })).await;
    let link = sent["link"].as_str().expect("an invitation link");

    // The link, opened signed out, asks for the invited phone's sign-in and
    // comes back to the invitation.
    let c = browser(driver, "zh-CN").await;
    c.goto(link).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "企业邀请");
    shoot_both(&c, "invitation-signed-out").await;
    click(&c, "#sign-in").await;
    c.wait().for_element(Locator::Css("#phone")).await.unwrap();
    type_in(&c, "#phone", INVITEE).await;
    send_and_type_code(&c, base, INVITEE).await;
    click(&c, "#sign-in").await;
    c.wait().for_url(&link.parse().unwrap()).await.unwrap();
    assert_eq!(text_of(&c, "#enterprise").await, "示例科技");
    assert_eq!(text_of(&c, "#state").await, "待接受");
    shoot_both(&c, "invitation").await;

    click(&c, "#accept").await;
    assert_eq!(note(&c).await, "您已加入该企业。");
    assert_eq!(text_of(&c, "#state").await, "已接受");
    assert!(
        c.find(Locator::Css("#accept")).await.is_err(),
        "no second answer offered"
    );
    let session = format!("shiming_session={owner}");
    let members = api_get(base, &format!("/api/v1/enterprises/{id}/members"), &session).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2, "{members}");
    c.close().await.unwrap();
}

/// `POST path` with the bearer `token` and a JSON body.
async fn api_send(base: &str, token: &str, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// [`api_send`], which must succeed: the answer's JSON.
async fn api_post(base: &str, token: &str, path: &str, body: Value) -> Value {
    let r = api_send(base, token, path, &body).await;
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    r.json().await.unwrap()
}

#[test]
fn an_admin_reads_members_freezes_one_and_approves_a_rebind_on_the_enterprise_page() {
    let Some(driver) = driver() else { return };
    with_service(|base| async move { enterprise_scenario(&driver, &base).await });
}

/// Sends `body` to `path` as `token` until the code cool-down lets it
/// through; the answer's JSON.
async fn api_post_when_sent(base: &str, token: &str, path: &str, body: Value) -> Value {
    for _ in 0..50 {
        let r = api_send(base, token, path, &body).await;
        if r.status() != 429 {
            assert!(r.status().is_success(), "POST {path}: {}", r.status());
            return r.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("POST {path}: still rate-limited")
}

async fn enterprise_scenario(driver: &Driver, base: &str) {
    const OWNER: &str = "+8613800138011";
    const EMPLOYEE: &str = "+8613800138012";
    const NEW_PHONE: &str = "+8613900139012";
    let http = reqwest::Client::new();
    carrier_knows(base, EMPLOYEE, ("张伟", "110101198001011232")).await;
    carrier_knows(base, NEW_PHONE, ("陈静", "320102199505052468")).await;

    // The owner signs in on the pages; the enterprise is set up by the API,
    // with the same session.
    let c = browser(driver, "zh-CN").await;
    sign_in_on_page(&c, base, "13800138011", OWNER).await;
    let cookies = cookie_header(&c).await;
    let owner = cookies
        .split("; ")
        .find_map(|k| k.strip_prefix("shiming_session="))
        .expect("a session cookie")
        .to_owned();
    let created = api_post(base, &owner, "/api/v1/enterprises", json!({ "name": "示例科技" })).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let members_api = format!("/api/v1/enterprises/{id}/members");
    let added = api_post(
        base,
        &owner,
        &members_api,
        json!({ "phone": EMPLOYEE, "display_name": "小张" }),
    )
    .await;
    let account = added["account_id"].as_str().unwrap().to_owned();
    let r = http
        .patch(format!("{base}/api/v1/enterprises/{id}"))
        .bearer_auth(&owner)
        .json(&json!({ "policy": { "rebind_approval": true } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The employee verifies their real name and asks to change the
    // company phone to one of another person's: it waits for approval.
    let employee = api_sign_in(base, EMPLOYEE, "employee's phone").await;
    let employee = employee["token"].as_str().unwrap().to_owned();
    let person = json!({ "name": "张伟", "id_number": "110101198001011232", "consent": true });
    api_post(base, &employee, "/api/v1/account/real-name/phone", person).await;
    api_post_when_sent(base, &employee, "/api/v1/step-up/sms", json!({})).await;
    let code = code_for(base, EMPLOYEE).await;
    api_post(base, &employee, "/api/v1/step-up/verify", json!({ "code": code })).await;
    let change = json!({ "new_phone": NEW_PHONE, "name": "陈静", "id_number": "320102199505052468", "consent": true });
    api_post_when_sent(base, &employee, "/api/v1/account/phone/change", change).await;
    let code = code_for(base, NEW_PHONE).await;
    api_post(
        base,
        &employee,
        "/api/v1/account/phone/change/verify",
        json!({ "code": code }),
    )
    .await;
    let confirm = json!({ "accept_consequences": true });
    let asked = api_post(base, &employee, "/api/v1/account/phone/change/confirm", confirm).await;
    assert_eq!(asked["state"], "pending_approval");
    let approval = asked["approval"]["id"].as_str().unwrap().to_owned();

    // Account & Security → the enterprises → this one.
    click(&c, "#enterprises-link").await;
    wait_path(&c, base, "/enterprises").await;
    click(&c, &format!("#enterprise-{id}")).await;
    wait_path(&c, base, &format!("/enterprises/{id}")).await;
    assert_eq!(text_of(&c, "#enterprise-name").await, "示例科技");
    let row = format!("#member-{account}");
    assert_eq!(text_of(&c, &format!("{row} .member-name")).await, "小张");
    assert_eq!(text_of(&c, &format!("{row} .real-name")).await, "已实名 · *伟");
    assert!(text_of(&c, &format!("{row} .flags")).await.contains("企业托管"));
    assert!(!c.source().await.unwrap().contains("110101198001011232"));
    shoot_both(&c, "enterprise").await;

    // Filters: the frozen are none yet.
    on(&c, "#filter-flag", |e| async move { e.select_by_value("frozen").await }).await;
    click(&c, "#apply-filter").await;
    c.wait().for_element(Locator::Css("#no-members")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().contains("flag=frozen"));
    c.goto(&format!("{base}/enterprises/{id}")).await.unwrap();

    // Freeze, with a reason: the member is out of the enterprise at once.
    type_in(&c, &format!("{row} .reason"), "离职审计").await;
    submit(&c, &format!("{row} .freeze")).await;
    assert_eq!(note(&c).await, "已冻结该成员。");
    assert_eq!(text_of(&c, &format!("{row} .frozen-reason")).await, "离职审计");
    let r = http
        .get(format!("{base}{members_api}"))
        .bearer_auth(&employee)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    submit(&c, &format!("{row} .unfreeze")).await;
    assert_eq!(note(&c).await, "已解冻该成员。");

    // The rebind waiting: approved, it commits; the member's person
    // changed, so they wait to be approved again, which the page offers.
    let waiting = format!("#approval-{approval}");
    assert_eq!(text_of(&c, &format!("{waiting} .approval-member")).await, "小张");
    submit(&c, &format!("{waiting} .approve")).await;
    assert_eq!(note(&c).await, "已批准，成员的换绑已生效。");
    assert!(c.find(Locator::Css(&waiting)).await.is_err(), "still listed");
    let whoami = api_get(base, "/api/v1/whoami", &format!("shiming_session={employee}")).await;
    assert_eq!(whoami["nature"], "personal");
    assert!(text_of(&c, &format!("{row} .flags")).await.contains("实名人已变更"));
    submit(&c, &format!("{row} .approve-member")).await;
    assert_eq!(note(&c).await, "已重新确认该成员。");

    // The enterprise's own log holds each step.
    click(&c, "#log-link").await;
    wait_path(&c, base, &format!("/enterprises/{id}/audit")).await;
    let log = text_of(&c, "ol.events").await;
    for step in ["冻结成员", "解冻成员", "批准成员换绑", "重新确认成员"] {
        assert!(log.contains(step), "{step}: {log}");
    }
    shoot_both(&c, "enterprise-log").await;
    c.close().await.unwrap();
}
