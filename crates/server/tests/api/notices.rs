//! The texts a commit owes: to whom, what, retried when the gateway fails,
//! given up after five tries, and kept across a restart.

use std::time::Duration;

use crate::gateway::Gateway;
use crate::helpers::{id_number, spawn_app_with, spawn_app_with_gateway, spawn_in, TestApp};

const OLD: &str = "+8613766660001";
const NEW: &str = "+8613766660002";

/// An account on OLD verified as 张伟, stepped up, with a proven change to NEW
/// (陈静's); its token.
async fn change_ready(app: &TestApp) -> String {
    let (a, b) = (id_number("11010119800101123"), id_number("32010219950505246"));
    let token = app.verified_account(OLD, ("张伟", &a)).await;
    app.add_carrier_person(NEW, "陈静", &b).await;
    app.step_up(&token, OLD).await;
    let r = app.prove_phone_change(&token, NEW, ("陈静", &b)).await;
    assert_eq!(r.status(), 200);
    token
}

async fn confirm(app: &TestApp, token: &str) {
    let r = app.accept(token, "/api/v1/account/phone/change/confirm").await;
    assert_eq!(r.status(), 200);
}

/// Waits (the notice task looks every 500 ms) until `done` holds: up to
/// 20 s, for a loaded CI machine running a hundred tests at once.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test]
async fn a_phone_change_texts_both_phones_and_a_wechat_change_the_bound_phone() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let token = change_ready(&app).await;
    confirm(&app, &token).await;
    assert!(app
        .text_containing(NEW, "本号码已绑定")
        .await
        .contains("This number is now bound"));
    assert!(app.text_containing(OLD, "解绑").await.contains("was unbound"));

    let wx = app
        .add_wechat_user("cj", Some(("陈静", &id_number("32010219950505246"))))
        .await;
    app.step_up(&token, NEW).await;
    let mut b = app.browser();
    b.token = Some(token.clone());
    assert_eq!(b.round_trip("/api/v1/wechat/bind/start", &wx).await.status(), 200);
    app.text_containing(NEW, "绑定了微信").await;
    let wx2 = app
        .add_wechat_user("cj2", Some(("陈静", &id_number("32010219950505246"))))
        .await;
    let r = b.round_trip("/api/v1/account/wechat/rebind/start", &wx2).await;
    assert_eq!(r.status(), 200);
    let r = app.accept(&token, "/api/v1/account/wechat/rebind/confirm").await;
    assert_eq!(r.status(), 200);
    app.text_containing(NEW, "换绑了微信").await;
    let r = app.accept(&token, "/api/v1/account/wechat/unbind").await;
    assert_eq!(r.status(), 200);
    app.text_containing(NEW, "解绑了微信").await;
    app.stop().await;
}

#[tokio::test]
async fn a_failing_gateway_is_retried_later_each_time_and_given_up_after_five_tries() {
    let (gateway, url) = Gateway::start().await;
    let app = spawn_app_with_gateway((&gateway, &url), |c| c.sms.resend_after_secs = 0).await;
    let token = change_ready(&app).await;
    let tried = |g: &Gateway| g.attempts("本号码已绑定") + g.attempts("您的号码已与账号");
    // Both notices fail once; nothing is tried again before 30 s have passed.
    gateway.fail(2);
    confirm(&app, &token).await;
    eventually("the first tries", || tried(&gateway) == 2).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    app.advance(29);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(tried(&gateway), 2, "no retry before its time");
    app.advance(1);
    eventually("delivery on the retry", || {
        gateway
            .delivered(NEW)
            .iter()
            .any(|m| m["text"].as_str().unwrap().contains("本号码已绑定"))
            && gateway
                .delivered(OLD)
                .iter()
                .any(|m| m["text"].as_str().unwrap().contains("解绑"))
    })
    .await;
    assert_eq!(tried(&gateway), 4);

    // A gateway that never takes it: tries after 0, 30, 90, 210 and 450 s, then no more.
    app.step_up(&token, NEW).await;
    gateway.fail(u32::MAX);
    let wx = app.add_wechat_user("x", None).await;
    let mut b = app.browser();
    b.token = Some(token.clone());
    assert_eq!(b.round_trip("/api/v1/wechat/bind/start", &wx).await.status(), 200);
    for (n, wait) in [(1, 30), (2, 60), (3, 120), (4, 240)] {
        eventually("a try", || gateway.attempts("绑定了微信") == n).await;
        app.advance(wait);
    }
    eventually("the fifth try", || gateway.attempts("绑定了微信") == 5).await;
    gateway.fail(0);
    app.advance(86_400);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(gateway.attempts("绑定了微信"), 5, "given up after five tries");
    app.stop().await;
}

#[tokio::test]
async fn queued_notices_survive_a_restart() {
    let (gateway, url) = Gateway::start().await;
    let app = spawn_app_with_gateway((&gateway, &url), |c| c.sms.resend_after_secs = 0).await;
    let token = change_ready(&app).await;
    gateway.fail(u32::MAX);
    confirm(&app, &token).await;
    // Stopped at once: at most a try or two of each went out, all refused.
    let data = app.stop().await;
    assert!(gateway
        .delivered(NEW)
        .iter()
        .all(|m| !m["text"].as_str().unwrap().contains("本号码已绑定")));
    gateway.fail(0);
    let again = spawn_in(data, Some((&gateway, &url)), |_| {}).await;
    eventually("delivery after the restart", || {
        gateway
            .delivered(NEW)
            .iter()
            .any(|m| m["text"].as_str().unwrap().contains("本号码已绑定"))
    })
    .await;
    again.stop().await;
}
