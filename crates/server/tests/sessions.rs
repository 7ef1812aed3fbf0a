//! Sessions: listing, revoking, signing out, expiry, and the batched last-seen.

mod common;

use std::time::Duration;

use common::{error_code, spawn_app, spawn_app_with};
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
        assert!(s.get("user_agent").is_some());
    }
    // The second session's id, from its own view.
    let of_second: Value = app
        .get_as(&second, "/api/v1/account/sessions")
        .await
        .json()
        .await
        .unwrap();
    let second_id = of_second["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

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
    let who: Value = app.get_as(&me, "/api/v1/whoami").await.json().await.unwrap();
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

#[tokio::test]
async fn idle_sessions_expire() {
    let app = spawn_app_with(|c| c.sessions.idle_timeout_secs = 1).await;
    let (token, _) = app.sign_in(PHONE).await;
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn sessions_end_at_their_absolute_expiry_even_when_used() {
    let app = spawn_app_with(|c| {
        c.sessions.absolute_timeout_secs = 3;
        c.sessions.touch_interval_secs = 0;
        c.sessions.flush_interval_secs = 1;
    })
    .await;
    // Times are whole seconds: a session made at t expires at t+3, at least 2 s from now.
    let (token, _) = app.sign_in(PHONE).await;
    for _ in 0..3 {
        assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 200);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    tokio::time::sleep(Duration::from_millis(2900)).await;
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn last_seen_is_written_in_batches() {
    let app = spawn_app_with(|c| {
        c.sessions.touch_interval_secs = 0;
        c.sessions.flush_interval_secs = 1;
    })
    .await;
    let (token, _) = app.sign_in(PHONE).await;
    let first: Value = app
        .get_as(&token, "/api/v1/account/sessions")
        .await
        .json()
        .await
        .unwrap();
    let created = first["sessions"][0]["created_at"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get_as(&token, "/api/v1/whoami").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let later: Value = app
        .get_as(&token, "/api/v1/account/sessions")
        .await
        .json()
        .await
        .unwrap();
    let seen = later["sessions"][0]["last_seen_at"].as_str().unwrap();
    assert!(seen > created.as_str(), "last seen {seen} after creation {created}");
    app.stop().await;
}

#[tokio::test]
async fn tokens_are_stored_hashed() {
    let app = spawn_app().await;
    let (token, _) = app.sign_in(PHONE).await;
    for entry in std::fs::read_dir(app.data.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is in the data folder"
        );
    }
    app.stop().await;
}
