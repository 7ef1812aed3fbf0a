//! Sessions: listing, revoking, signing out, expiry, and the batched last-seen.

use std::time::Duration;

use crate::helpers::{error_code, spawn_app, spawn_app_with, TestApp};
use serde_json::Value;

const PHONE: &str = "+8613912345678";

#[tokio::test]
async fn list_and_revoke_sessions() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (me, account) = app.sign_in(PHONE).await;
    let (second, _) = app.sign_in(PHONE).await;
    let (third, _) = app.sign_in(PHONE).await;

    let resp = app
        .http
        .get(app.url("/api/v1/account/sessions"))
        .bearer_auth(&me)
        .header("User-Agent", "shiming-test/1")
        .send()
        .await
        .unwrap();
    let list: Value = resp.json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    for s in sessions {
        assert!(s["id"].as_str().unwrap().starts_with("ses_"));
        assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(s["last_seen_at"].is_string());
        assert!(s["user_agent"].is_null(), "none was sent at sign-in");
    }
    // The second session's id, from its own view.
    let second_id = app.current_session_id(&second).await;

    // Another account cannot revoke it.
    let (stranger, _) = app.sign_in("+8613700000001").await;
    let (status, code) = error_code(
        app.delete_as(&stranger, &format!("/api/v1/account/sessions/{second_id}"))
            .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "not_found"));
    assert_eq!(app.get_as(&second, "/api/v1/whoami").await.status(), 200);

    // Its owner can.
    assert_eq!(
        app.delete_as(&me, &format!("/api/v1/account/sessions/{second_id}"))
            .await
            .status(),
        200
    );
    assert_eq!(
        error_code(app.get_as(&second, "/api/v1/whoami").await).await.1,
        "unauthenticated"
    );
    assert_eq!(
        app.delete_as(&me, &format!("/api/v1/account/sessions/{second_id}"))
            .await
            .status(),
        404
    );

    // Revoking the others keeps only the current one.
    let resp: Value = app
        .delete_as(&me, "/api/v1/account/sessions/others")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resp["revoked"], 1);
    assert_eq!(app.get_as(&third, "/api/v1/whoami").await.status(), 401);
    let who = app.json_as(&me, "/api/v1/whoami").await;
    assert_eq!(who["account_id"], account.as_str());
    assert_eq!(app.security(&me).await["sessions"], 1);
    app.stop().await;
}

#[tokio::test]
async fn sign_out_ends_the_session_and_clears_the_cookie() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(PHONE).await;
    let resp = app.post_as(&token, "/api/v1/logout", serde_json::json!({})).await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("shiming_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 401);
    assert_eq!(
        app.post_as(&token, "/api/v1/logout", serde_json::json!({}))
            .await
            .status(),
        401
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    for token in ["", "nope", "Xvne-Vtrz1fRTu79c-5VVO9xEFzI812r5SkvPXzEcPo"] {
        let (status, code) = error_code(app.get_as(token, "/api/v1/whoami").await).await;
        assert_eq!((status.as_u16(), code.as_str()), (401, "unauthenticated"));
    }
    let (status, _) = error_code(app.http.get(app.url("/api/v1/account/security")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    app.stop().await;
}

/// The session's last-seen time as the database holds it, waited for: the
/// batch writer records it a flush after the request.
async fn last_seen_becomes(app: &TestApp, token: &str, at: i64) {
    for _ in 0..100 {
        let body = app.json_as(token, "/api/v1/account/sessions").await;
        if body["sessions"][0]["last_seen_at"] == rfc3339(at) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("last seen never became {at}");
}

fn rfc3339(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn a_session_idle_for_seven_days_ends_and_use_resets_the_idle_time() {
    let app = spawn_app_with(|c| c.sessions.flush_interval_secs = 1).await;
    let (token, _) = app.sign_in(PHONE).await;
    let week = 7 * 86_400;
    app.advance(week - 100);
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 200);
    let used = app.clock.now();
    last_seen_becomes(&app, &token, used).await;
    // A week after that use it still works; a second later it does not.
    app.advance(week);
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 200);
    let (idle, _) = app.sign_in(PHONE).await;
    app.advance(1);
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 401);
    assert_eq!(
        app.get_as(&idle, "/api/v1/whoami").await.status(),
        200,
        "a fresh session lives"
    );
    app.stop().await;
}

#[tokio::test]
async fn sessions_end_at_thirty_days_even_when_used() {
    let app = spawn_app_with(|c| c.sessions.flush_interval_secs = 1).await;
    let (token, _) = app.sign_in(PHONE).await;
    for _ in 0..4 {
        app.advance(6 * 86_400);
        assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 200);
        last_seen_becomes(&app, &token, app.clock.now()).await;
    }
    app.advance(30 * 86_400 - 4 * 6 * 86_400 - 1);
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 200);
    app.advance(1);
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn last_seen_is_written_in_batches() {
    // A flush an hour away: the request is answered, its last-seen not yet written.
    let app = spawn_app_with(|c| c.sessions.flush_interval_secs = 3_600).await;
    let (token, _) = app.sign_in(PHONE).await;
    let created = app.clock.now();
    app.advance(120);
    for _ in 0..10 {
        assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 200);
    }
    let listed = app.json_as(&token, "/api/v1/account/sessions").await;
    assert_eq!(
        listed["sessions"][0]["last_seen_at"],
        rfc3339(created),
        "not written per request"
    );
    // Shutting down writes the batch once.
    let stopped = app.stop().await;
    let seen = stopped.raw().await.scalar("SELECT last_seen_at FROM sessions").await;
    assert_eq!(seen, Some(created + 120));
}

#[tokio::test]
async fn a_session_records_the_user_agent_it_signed_in_with() {
    let app = spawn_app().await;
    app.send_code(PHONE).await;
    let code = app.latest_code(PHONE).await;
    let signed: Value = app
        .http
        .post(app.url("/api/v1/login/phone"))
        .header("User-Agent", "shiming-test/1")
        .json(&serde_json::json!({ "phone": PHONE, "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = app
        .json_as(signed["token"].as_str().unwrap(), "/api/v1/account/sessions")
        .await;
    assert_eq!(list["sessions"][0]["user_agent"], "shiming-test/1");
    app.stop().await;
}

#[tokio::test]
async fn tokens_are_stored_hashed() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(PHONE).await;
    let at_rest = app.at_rest().await;
    assert!(
        !at_rest.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is at rest"
    );
    app.stop().await;
}
