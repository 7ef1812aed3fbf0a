//! The cache of validated sessions never serves a stale answer: every test
//! first asks with each token (so that the answer is cached), then makes the
//! event, and the very next request must see it.

use serde_json::json;

use crate::helpers::{assert_error, id_number, spawn_app_with, TestApp};

const PHONE: &str = "+8613912345678";
const NEW_PHONE: &str = "+8613812345678";

async fn app() -> TestApp {
    spawn_app_with(|c| c.sms.resend_after_secs = 0).await
}

/// Asks twice: the second answer comes from the cache when the first filled it.
async fn warm(app: &TestApp, token: &str) -> serde_json::Value {
    assert_eq!(app.get_as(token, "/api/v1/whoami").await.status(), 200);
    app.json_as(token, "/api/v1/whoami").await
}

async fn assert_signed_out(app: &TestApp, token: &str) {
    assert_error(app.get_as(token, "/api/v1/whoami").await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_sign_out_is_seen_by_the_next_request() {
    let app = app().await;
    let (token, _) = app.sign_in(PHONE).await;
    warm(&app, &token).await;
    assert_eq!(app.post_as(&token, "/api/v1/logout", json!({})).await.status(), 200);
    assert_signed_out(&app, &token).await;
}

#[tokio::test]
async fn a_revoked_session_and_the_others_signed_out_are_seen_at_once() {
    let app = app().await;
    let (me, _) = app.sign_in(PHONE).await;
    let (one, _) = app.sign_in(PHONE).await;
    let (two, _) = app.sign_in(PHONE).await;
    for t in [&me, &one, &two] {
        warm(&app, t).await;
    }
    let one_id = app.current_session_id(&one).await;
    let r = app.delete_as(&me, &format!("/api/v1/account/sessions/{one_id}")).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_signed_out(&app, &one).await;
    warm(&app, &two).await;

    let r = app.delete_as(&me, "/api/v1/account/sessions/others").await;
    assert_eq!(r.status(), 200);
    assert_signed_out(&app, &two).await;
    warm(&app, &me).await;
}

#[tokio::test]
async fn a_step_up_and_its_expiry_are_seen_at_once() {
    let app = app().await;
    let (token, _) = app.sign_in(PHONE).await;
    warm(&app, &token).await;
    let change =
        json!({ "new_phone": NEW_PHONE, "name": "张三", "id_number": id_number("11010519491231002"), "consent": true });
    assert_error(
        app.post_as(&token, "/api/v1/account/phone/change", change.clone())
            .await,
        403,
        "step_up_required",
    )
    .await;
    // The cached session had no step-up: the next request sees the new one.
    app.step_up(&token, PHONE).await;
    app.add_carrier_person(NEW_PHONE, "张三", &id_number("11010519491231002"))
        .await;
    assert_eq!(
        app.post_as(&token, "/api/v1/account/phone/change", change.clone())
            .await
            .status(),
        202
    );
    // And its end, with no write at all: the window is read against the clock.
    app.advance(601);
    assert_error(
        app.post_as(&token, "/api/v1/account/phone/change", change).await,
        403,
        "step_up_required",
    )
    .await;
}

#[tokio::test]
async fn a_rebind_commit_ends_the_other_sessions_at_once() {
    let app = app().await;
    let person = ("张三", id_number("11010519491231002"));
    let token = app.verified_account(PHONE, (person.0, &person.1)).await;
    let (other, _) = app.sign_in(PHONE).await;
    warm(&app, &other).await;
    warm(&app, &token).await;
    app.step_up(&token, PHONE).await;
    let second = ("李四", id_number("11010119900307123"));
    app.add_carrier_person(NEW_PHONE, second.0, &second.1).await;
    assert_eq!(
        app.prove_phone_change(&token, NEW_PHONE, (second.0, &second.1))
            .await
            .status(),
        200
    );
    let r = app.accept(&token, "/api/v1/account/phone/change/confirm").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_signed_out(&app, &other).await;
    warm(&app, &token).await;
}

#[tokio::test]
async fn freezing_banning_and_deleting_are_seen_at_once() {
    let app = app().await;
    let (token, account) = app.sign_in(PHONE).await;
    assert_eq!(warm(&app, &token).await["state"], "active");
    app.set_state(&account, "frozen").await;
    assert_eq!(warm(&app, &token).await["state"], "frozen");
    app.set_state(&account, "active").await;
    assert_eq!(warm(&app, &token).await["state"], "active");
    app.set_state(&account, "banned").await;
    assert_signed_out(&app, &token).await;
    app.set_state(&account, "active").await;
    warm(&app, &token).await;
    app.set_state(&account, "deleted").await;
    assert_signed_out(&app, &token).await;
}

/// A check racing the revocation may see the session, but no check that
/// starts after the revocation answered does: 100 rounds, with checks in
/// flight on the same token throughout.
#[tokio::test]
async fn no_check_after_a_revocation_sees_the_session() {
    let app = app().await;
    for round in 0..100 {
        let (token, _) = app.sign_in(&format!("+86139{round:08}")).await;
        warm(&app, &token).await;
        let racing: Vec<_> = (0..4)
            .map(|_| {
                let (http, url, token) = (app.http.clone(), app.url("/api/v1/whoami"), token.clone());
                tokio::spawn(async move {
                    for _ in 0..5 {
                        let _ = http.get(&url).bearer_auth(&token).send().await;
                    }
                })
            })
            .collect();
        assert_eq!(app.post_as(&token, "/api/v1/logout", json!({})).await.status(), 200);
        assert_eq!(
            app.get_as(&token, "/api/v1/whoami").await.status(),
            401,
            "round {round}: a check after the sign-out answered saw the session"
        );
        for r in racing {
            r.await.unwrap();
        }
        assert_eq!(
            app.get_as(&token, "/api/v1/whoami").await.status(),
            401,
            "round {round}"
        );
    }
}
