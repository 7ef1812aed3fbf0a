//! The service tried as an attacker would: a stolen session that never
//! stepped up, an anonymous client probing, a preview outrun by another
//! request, two requests racing. docs/architecture.md's threat model names
//! the test that covers each attack.

use crate::helpers::{error_code, id_number, outcomes, spawn_app, spawn_app_with, TestApp};
use futures::StreamExt;
use serde_json::{json, Value};

const LOGIN: &str = "/api/v1/wechat/login/start";
const BIND: &str = "/api/v1/wechat/bind/start";
const P1: &str = "+8613811120001";
const P2: &str = "+8613811120002";

fn person(name: &str, prefix17: &str) -> (String, String) {
    (name.to_owned(), id_number(prefix17))
}

async fn signed_in_browser(app: &TestApp, phone: &str) -> (crate::helpers::Browser, String) {
    let (token, _) = app.sign_in(phone).await;
    let mut b = app.browser();
    b.token = Some(token.clone());
    (b, token)
}

async fn verify_real_name(app: &TestApp, token: &str, who: &(String, String)) -> reqwest::Response {
    app.post_as(
        token,
        "/api/v1/account/real-name/phone",
        json!({ "name": who.0, "id_number": who.1, "consent": true }),
    )
    .await
}

/// Steps 1 and 2 of a phone change to `phone` held by `who`: the preview.
async fn change_phone_to(app: &TestApp, token: &str, phone: &str, who: &(String, String)) -> Value {
    let r = app.prove_phone_change(token, phone, (&who.0, &who.1)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn audit_kinds(app: &TestApp, token: &str) -> Vec<Value> {
    let body: Value = app.get_as(token, "/api/v1/account/audit").await.json().await.unwrap();
    body["events"].as_array().unwrap().clone()
}

// ---- 1. takeover from a session alone ----

#[tokio::test]
async fn a_session_that_never_stepped_up_binds_nothing() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (_, owner) = signed_in_browser(&app, P1).await;
    // The thief's copy of a session: signed in, never stepped up.
    let (thief, _) = signed_in_browser(&app, P1).await;
    let (status, code) = error_code(thief.get(BIND, true).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "step_up_required"));
    assert!(app.security(&owner).await["wechat"].is_null());
    // With no WeChat bound there is nothing to step up by WeChat with either.
    assert_eq!(
        error_code(thief.get("/api/v1/step-up/wechat/start", true).await)
            .await
            .1,
        "step_up_unavailable"
    );
    // Nor does the phone of a WeChat-only account come in without one.
    let wechat_only = app.browser();
    let signed: Value = wechat_only
        .round_trip(LOGIN, "dev-union-anon")
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .post_as(
            signed["token"].as_str().unwrap(),
            "/api/v1/account/phone/change",
            json!({ "new_phone": P2, "consent": true }),
        )
        .await;
    assert_eq!(error_code(r).await.1, "step_up_required");
    app.stop().await;
}

#[tokio::test]
async fn the_step_up_is_checked_again_when_the_bind_finishes() {
    let app = spawn_app().await;
    let (b, token) = signed_in_browser(&app, P1).await;
    app.step_up(&token, P1).await;
    // Started with five minutes of the step-up left; finished when it is over
    // (the round trip itself lasts ten minutes).
    app.advance(300);
    let callback = b.approve(BIND, "dev-union-anon").await;
    app.advance(300);
    let (status, code) = error_code(b.get(&callback, true).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "step_up_required"));
    assert!(app.security(&token).await["wechat"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn every_bind_is_noticed_and_audited_and_a_new_credentials_first_sign_in_told() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (b, token) = signed_in_browser(&app, P1).await;
    app.step_up(&token, P1).await;
    let wx = app.add_wechat_user("夜猫", None).await;
    let resp = b.round_trip(BIND, &wx).await;
    assert_eq!(resp.json::<Value>().await.unwrap()["outcome"], "bound");

    // The bound phone is texted, the account's own list says it, the audit has it.
    app.text_containing(P1, "绑定了微信").await;
    let masked = app.security(&token).await["wechat"]["unionid_masked"].clone();
    let notices = app.notices(&token).await;
    assert_eq!(notices["unread"], 1);
    let n = &notices["notices"][0];
    assert_eq!(
        (
            n["kind"].clone(),
            n["credential"].clone(),
            n["credential_masked"].clone(),
            n["read"].clone()
        ),
        (json!("credential.bound"), json!("wechat"), masked, json!(false))
    );
    assert!(audit_kinds(&app, &token)
        .await
        .iter()
        .any(|e| e["type"] == "credential.bound" && e["details"]["credential"] == "wechat"));

    // The first sign-in with the new WeChat is told; the next one is not new.
    let first: Value = app.browser().round_trip(LOGIN, &wx).await.json().await.unwrap();
    assert_eq!(first["notices_unread"], 2);
    let kinds: Vec<Value> = app.notices(&token).await["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("sign_in.new_credential"), json!("credential.bound")]);
    let again: Value = app.browser().round_trip(LOGIN, &wx).await.json().await.unwrap();
    assert_eq!(again["notices_unread"], 2);

    let read: Value = app
        .post_as(&token, "/api/v1/account/notices/read", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["read"], 2);
    app.send_code(P1).await;
    let code = app.latest_code(P1).await;
    let by_phone: Value = app.login(P1, &code).await.json().await.unwrap();
    assert_eq!(by_phone["notices_unread"], 0);
    app.stop().await;
}

#[tokio::test]
async fn a_wechat_only_account_learns_of_a_phone_bound_to_it() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let wu = person("吴敏", "33010619930303002");
    let wx = app.add_wechat_user("吴敏", Some((&wu.0, &wu.1))).await;
    app.add_carrier_person(P2, &wu.0, &wu.1).await;
    let mut b = app.browser();
    let signed: Value = b.round_trip(LOGIN, &wx).await.json().await.unwrap();
    let token = signed["token"].as_str().unwrap().to_owned();
    b.token = Some(token.clone());
    assert_eq!(b.round_trip("/api/v1/step-up/wechat/start", &wx).await.status(), 200);

    // The same person's phone: a bind (no person change), previewed and confirmed.
    let r = app
        .post_as(
            &token,
            "/api/v1/account/phone/change",
            json!({ "new_phone": P2, "consent": true }),
        )
        .await;
    assert_eq!(r.status(), 202);
    let code = app.latest_code(P2).await;
    let preview: Value = app
        .post_as(&token, "/api/v1/account/phone/change/verify", json!({ "code": code }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (preview["person_changes"].clone(), preview["stops_signing_in"].clone()),
        (json!(false), json!([]))
    );
    let read_again: Value = app
        .get_as(&token, "/api/v1/account/phone/change")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read_again, preview, "GET answers the preview the confirm commits");
    assert_eq!(
        app.accept(&token, "/api/v1/account/phone/change/confirm")
            .await
            .status(),
        200
    );

    let notices = app.notices(&token).await;
    let n = &notices["notices"][0];
    assert_eq!(
        (
            n["kind"].clone(),
            n["credential"].clone(),
            n["credential_masked"].clone()
        ),
        (json!("credential.bound"), json!("phone"), json!("138****0002"))
    );
    app.text_containing(P2, "本号码已绑定").await;
    // Masked values are personal data too: nothing masked lies plain at rest
    // (the preview and the notice are sealed).
    let at_rest = app.at_rest().await;
    for masked in ["****".as_bytes(), "*敏".as_bytes()] {
        assert!(
            !at_rest.windows(masked.len()).any(|w| w == masked),
            "{} at rest",
            String::from_utf8_lossy(masked)
        );
    }
    app.stop().await;
}

// ---- 2. oracles and lock-outs ----

#[tokio::test]
async fn anonymous_sign_in_requests_do_not_lock_the_owner_out_of_stepping_up() {
    let app = spawn_app_with(|c| {
        c.sms.resend_after_secs = 0;
        c.sms.per_phone_per_hour = 2;
    })
    .await;
    let (token, _) = app.sign_in(P1).await;
    assert_eq!(app.send_code(P1).await.status(), 202);
    assert_eq!(error_code(app.send_code(P1).await).await.1, "rate_limited");
    assert_eq!(
        app.post_as(&token, "/api/v1/step-up/sms", json!({})).await.status(),
        202,
        "account-security codes count in a bucket of their own"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_step_up_code_belongs_to_the_session_that_asked_for_it() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let (mine, _) = app.sign_in(P1).await;
    let (other, _) = app.sign_in(P1).await;
    assert_eq!(app.post_as(&mine, "/api/v1/step-up/sms", json!({})).await.status(), 202);
    let code = app.latest_code(P1).await;
    // Another session of the account can neither use it nor burn it.
    let r = app
        .post_as(&other, "/api/v1/step-up/verify", json!({ "code": code }))
        .await;
    assert_eq!(error_code(r).await.1, "code_expired");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let r = app
            .post_as(&other, "/api/v1/step-up/verify", json!({ "code": wrong }))
            .await;
        assert_eq!(error_code(r).await.1, "code_expired");
    }
    // Nor does asking for its own end this one.
    assert_eq!(
        app.post_as(&other, "/api/v1/step-up/sms", json!({})).await.status(),
        202
    );
    let r = app
        .post_as(&mine, "/api/v1/step-up/verify", json!({ "code": code }))
        .await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

// ---- 3. previews that stay true ----

#[tokio::test]
async fn a_confirm_commits_only_what_its_preview_showed() {
    let app = spawn_app_with(|c| c.sms.resend_after_secs = 0).await;
    let a = person("张伟", "11010119800101123");
    let b = person("陈静", "32010219950505246");
    app.add_carrier_person(P1, &a.0, &a.1).await;
    app.add_carrier_person(P2, &b.0, &b.1).await;
    let (token, _) = app.sign_in(P1).await;
    app.step_up(&token, P1).await;
    // The account has no real name yet: B's phone is its first person, no change.
    let preview = change_phone_to(&app, &token, P2, &b).await;
    assert_eq!(preview["person_changes"], false);
    // Then the same session names the old phone's person…
    assert_eq!(verify_real_name(&app, &token, &a).await.status(), 200);
    // …and the confirm refuses the person change nobody previewed.
    let r = app.accept(&token, "/api/v1/account/phone/change/confirm").await;
    assert_eq!(
        error_code(r).await,
        (reqwest::StatusCode::CONFLICT, "preview_changed".into())
    );
    let sec = app.security(&token).await;
    assert_eq!(sec["phone"]["number_masked"], "138****0001", "nothing changed");
    assert_eq!(sec["real_name"]["name_masked"], "*伟");
    // The change stays open, with the preview taken again: a person change now.
    let again: Value = app
        .get_as(&token, "/api/v1/account/phone/change")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            again["person_changes"].clone(),
            again["real_name_after"]["name_masked"].clone()
        ),
        (json!(true), json!("*静"))
    );
    assert_eq!(
        app.accept(&token, "/api/v1/account/phone/change/confirm")
            .await
            .status(),
        200
    );
    let rebound: Vec<Value> = audit_kinds(&app, &token)
        .await
        .into_iter()
        .filter(|e| e["type"] == "credential.rebound")
        .collect();
    assert_eq!(rebound.len(), 1);
    assert_eq!(rebound[0]["details"]["person_changes"], true);
    app.stop().await;
}

/// The invariants every race must leave: each person change has its rebind
/// and its audit event, and the recorded person is the one the credentials
/// name (WeChat first).
async fn assert_invariants(app: &TestApp) {
    let db = app.raw().await;
    // The details are JSON text: read with each backend's JSON functions.
    let field = |name: &str| match db.is_postgres() {
        false => format!("json_extract(details, '$.{name}')"),
        true => format!("(CAST(details AS JSONB) ->> '{name}')"),
    };
    let changes_recorded = db.count("rebinds", "CAST(person_changed AS INTEGER) = 1").await;
    let changes_audited = db
        .count(
            "audit_events",
            &format!(
                "kind LIKE 'credential.%' AND {} IN ('1', 'true')",
                field("person_changes")
            ),
        )
        .await;
    let (before, after) = (field("person_hash_before"), field("person_hash_after"));
    let changes_seen = db
        .count(
            "audit_events",
            &format!(
                "kind = 'realname.changed' AND {before} IS NOT NULL AND {after} IS NOT NULL AND {before} <> {after}"
            ),
        )
        .await;
    assert_eq!(
        changes_recorded, changes_audited,
        "a person change without its audit event"
    );
    assert!(
        changes_seen <= changes_recorded,
        "{changes_seen} real-name changes, {changes_recorded} recorded rebinds"
    );
    let rows: Vec<PersonsOf> = db
        .rows(
            "SELECT a.id, a.realname_person_hash AS recorded, \
             (SELECT p.person_hash FROM credentials c JOIN attestations t ON t.credential_id = c.id \
              JOIN persons p ON p.id = t.person_id WHERE c.account_id = a.id AND c.kind = 'phone') AS phone, \
             (SELECT p.person_hash FROM credentials c JOIN attestations t ON t.credential_id = c.id \
              JOIN persons p ON p.id = t.person_id WHERE c.account_id = a.id AND c.kind = 'wechat') AS wechat \
             FROM accounts a",
        )
        .await;
    for (id, recorded, phone, wechat) in rows {
        if let Some(named) = wechat.clone().or(phone.clone()) {
            assert_eq!(recorded, Some(named), "account {id}");
        }
        if let (Some(p), Some(w)) = (phone, wechat) {
            assert_eq!(p, w, "an unconfirmed second person on {id}");
        }
    }
}

/// An account's id, its recorded person, and the persons its phone and its
/// WeChat attest.
type PersonsOf = (String, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

const RACES: usize = 200;

/// Limits loose enough for hundreds of accounts from one address.
fn for_races(c: &mut shiming_server::Config) {
    c.sms.resend_after_secs = 0;
    c.sms.per_ip_per_hour = 100_000;
    c.sms.failed_tries_per_ip_per_hour = 100_000;
    c.wechat.starts_per_ip_per_hour = 100_000;
}

#[tokio::test]
async fn a_confirm_racing_a_real_name_verification_never_commits_an_unpreviewed_change() {
    let app = spawn_app_with(for_races).await;
    let outcomes: Vec<(u16, String, u16, String)> = futures::stream::iter(0..RACES)
        .map(|i| {
            let app = &app;
            async move {
                let (old, new) = (format!("+86137{i:08}"), format!("+86139{i:08}"));
                let a = person("张伟", &format!("11010119800101{:03}", i));
                let b = person("陈静", &format!("32010219950505{:03}", i));
                app.add_carrier_person(&old, &a.0, &a.1).await;
                app.add_carrier_person(&new, &b.0, &b.1).await;
                let (token, _) = app.sign_in(&old).await;
                app.step_up(&token, &old).await;
                let preview = change_phone_to(app, &token, &new, &b).await;
                assert_eq!(preview["person_changes"], false);
                let (c, v) = tokio::join!(
                    app.accept(&token, "/api/v1/account/phone/change/confirm"),
                    verify_real_name(app, &token, &a)
                );
                let answer = |r: reqwest::Response| async move {
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap();
                    (status, body["error"]["code"].as_str().unwrap_or("").to_owned())
                };
                let ((cs, cc), (vs, vc)) = (answer(c).await, answer(v).await);
                (cs, cc, vs, vc)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut confirm_first = 0;
    for (cs, cc, vs, vc) in &outcomes {
        match (cs, vs) {
            (200, 409) => {
                assert_eq!(vc, "realname_not_editable");
                confirm_first += 1;
            }
            (409, 200) => assert_eq!(cc, "preview_changed"),
            other => panic!("confirm {cs} {cc}, verify {vs} {vc}: {other:?}"),
        }
    }
    eprintln!("confirm first {confirm_first} of {RACES}");
    assert_invariants(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_bind_racing_a_real_name_verification_leaves_no_unaudited_person_change() {
    let app = spawn_app_with(for_races).await;
    futures::stream::iter(0..RACES)
        .for_each_concurrent(4, |i| {
            let app = &app;
            async move {
                let phone = format!("+86136{i:08}");
                let a = person("张伟", &format!("11010119800101{:03}", i));
                let b = person("陈静", &format!("32010219950505{:03}", i));
                app.add_carrier_person(&phone, &a.0, &a.1).await;
                let wx = app.add_wechat_user("cj", Some((&b.0, &b.1))).await;
                let (browser, token) = signed_in_browser(app, &phone).await;
                app.step_up(&token, &phone).await;
                let callback = browser.approve(BIND, &wx).await;
                let (bind, verify) = tokio::join!(browser.get(&callback, true), verify_real_name(app, &token, &a));
                let bind_status = bind.status().as_u16();
                let bind: Value = bind.json().await.unwrap();
                let verify_status = verify.status().as_u16();
                match (bind_status, verify_status) {
                    // The bind first: B is the account's person, A is another.
                    (200, 409) => assert_eq!(bind["outcome"], "bound"),
                    // The verification first: B's WeChat is another person, a
                    // rebind waiting for its confirm; or the bind's commit found A.
                    (200, 200) => assert_eq!(bind["outcome"], "rebind_ready"),
                    (409, 200) => assert_eq!(bind["error"]["code"], "preview_changed"),
                    other => panic!("bind {other:?}: {bind}"),
                }
            }
        })
        .await;
    assert_invariants(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn two_confirms_of_one_change_commit_it_once() {
    let app = spawn_app_with(for_races).await;
    futures::stream::iter(0..RACES)
        .for_each_concurrent(4, |i| {
            let app = &app;
            async move {
                let (old, new) = (format!("+86135{i:08}"), format!("+86158{i:08}"));
                let b = person("陈静", &format!("32010219950505{:03}", i));
                app.add_carrier_person(&new, &b.0, &b.1).await;
                let (token, _) = app.sign_in(&old).await;
                app.step_up(&token, &old).await;
                change_phone_to(app, &token, &new, &b).await;
                let (x, y) = tokio::join!(
                    app.accept(&token, "/api/v1/account/phone/change/confirm"),
                    app.accept(&token, "/api/v1/account/phone/change/confirm")
                );
                assert_eq!(
                    outcomes(x, y).await,
                    [(200, String::new()), (410, "flow_expired".into())],
                    "one commits, the other finds the change used"
                );
                let changes = audit_kinds(app, &token)
                    .await
                    .iter()
                    .filter(|e| e["type"] == "credential.rebound")
                    .count();
                assert_eq!(changes, 1);
            }
        })
        .await;
    let notices = app
        .raw()
        .await
        .count("account_notices", "kind = 'credential.rebound'")
        .await;
    assert_eq!(notices, RACES as i64, "one account notice per committed change");
    assert_invariants(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn two_accounts_racing_for_one_credential_leave_it_on_one() {
    let app = spawn_app_with(for_races).await;
    futures::stream::iter(0..RACES)
        .for_each_concurrent(4, |i| {
            let app = &app;
            async move {
                // One new WeChat identity, two accounts binding it at once.
                let wx = app.add_wechat_user("race", None).await;
                let mut callbacks = Vec::new();
                for phone in [format!("+86150{i:08}"), format!("+86151{i:08}")] {
                    let (b, token) = signed_in_browser(app, &phone).await;
                    app.step_up(&token, &phone).await;
                    let callback = b.approve(BIND, &wx).await;
                    callbacks.push((b, callback));
                }
                let (x, y) = tokio::join!(
                    callbacks[0].0.get(&callbacks[0].1, true),
                    callbacks[1].0.get(&callbacks[1].1, true)
                );
                assert_eq!(
                    outcomes(x, y).await,
                    [(200, String::new()), (409, "credential_in_use".into())]
                );

                // One new phone, two accounts changing to it at once.
                let new = format!("+86152{i:08}");
                let c = person("陈静", &format!("32010219950505{:03}", i));
                app.add_carrier_person(&new, &c.0, &c.1).await;
                let mut tokens = Vec::new();
                for (b, _) in &callbacks {
                    let token = b.token.clone().unwrap();
                    change_phone_to(app, &token, &new, &c).await;
                    tokens.push(token);
                }
                let (x, y) = tokio::join!(
                    app.accept(&tokens[0], "/api/v1/account/phone/change/confirm"),
                    app.accept(&tokens[1], "/api/v1/account/phone/change/confirm")
                );
                assert_eq!(
                    outcomes(x, y).await,
                    [(200, String::new()), (409, "credential_in_use".into())]
                );
            }
        })
        .await;
    let db = app.raw().await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { db.scalar(sql).await.expect("a count") }
    };
    let races = RACES as i64;
    assert_eq!(
        count("SELECT COUNT(*) FROM credentials WHERE kind = 'wechat'").await,
        races
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM credentials WHERE kind = 'phone'").await,
        2 * races,
        "every account keeps one phone"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM rebinds WHERE kind = 'phone'").await,
        races,
        "each raced phone moved once"
    );
    assert_invariants(&app).await;
    app.stop().await;
}

// ---- 5. cookies ----

fn set_cookie(resp: &reqwest::Response) -> String {
    resp.headers()["set-cookie"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_round_trip_cookie_the_service_did_not_issue_is_replaced() {
    let app = spawn_app().await;
    let start = |cookie: String| {
        app.http
            .get(app.url(LOGIN))
            .header("Cookie", format!("shiming_oauth={cookie}"))
            .send()
    };
    let planted = "a".repeat(64);
    let issued = set_cookie(&start(planted.clone()).await.unwrap());
    assert!(!issued.contains(&planted), "{issued}");
    let value = issued
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("shiming_oauth=")
        .to_owned();
    let kept = set_cookie(&start(value.clone()).await.unwrap());
    assert!(
        kept.starts_with(&format!("shiming_oauth={value};")),
        "an issued one is kept: {kept}"
    );
    let forged = format!("{}.{}", "b".repeat(64), "c".repeat(64));
    assert!(!set_cookie(&start(forged.clone()).await.unwrap()).contains(&forged));
    app.stop().await;
}

#[tokio::test]
async fn secure_cookies_take_the_host_prefix() {
    let app = spawn_app_with(|c| c.sessions.cookie_secure = Some(true)).await;
    app.send_code(P1).await;
    let code = app.latest_code(P1).await;
    let resp = app.login(P1, &code).await;
    let cookie = set_cookie(&resp);
    assert!(cookie.starts_with("__Host-shiming_session="), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"));
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let whoami = |name: &str| {
        app.http
            .get(app.url("/api/v1/whoami"))
            .header("Cookie", format!("{name}={token}"))
            .send()
    };
    assert_eq!(whoami("__Host-shiming_session").await.unwrap().status(), 200);
    assert_eq!(whoami("shiming_session").await.unwrap().status(), 401);
    let start = app.http.get(app.url(LOGIN)).send().await.unwrap();
    assert!(set_cookie(&start).starts_with("__Host-shiming_oauth="));
    app.stop().await;
}
