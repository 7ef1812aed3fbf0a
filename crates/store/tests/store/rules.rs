//! The store's rules on each backend: constraints, atomic limits and codes.
//! The audit chain has tests of its own, in audit.rs.

use std::sync::Arc;

use shiming_domain::{CodePurpose, CredentialKind};
use shiming_store::*;

use crate::common::{account, bind, intact_events, on_every_backend, phone, store, wechat};

async fn binding_keeps_one_credential_per_kind_and_account(backend: Backend) {
    let (_d, s) = store(backend).await;
    s.create_account(account("a"), phone(b"p1"), 1).await.unwrap();
    s.create_account(account("b"), phone(b"p2"), 1).await.unwrap();
    assert_eq!(s.commit_rebind(bind("a", wechat(b"w1"))).await.unwrap(), 0);
    assert!(
        matches!(
            s.commit_rebind(bind("a", wechat(b"w2"))).await,
            Err(StoreError::PreviewChanged)
        ),
        "a second WeChat would replace the first, which nobody previewed"
    );
    assert!(matches!(
        s.commit_rebind(bind("b", wechat(b"w1"))).await,
        Err(StoreError::CredentialInUse)
    ));
    assert!(s
        .account_view("b")
        .await
        .unwrap()
        .unwrap()
        .credential(CredentialKind::Wechat)
        .is_none());
    let notices = s.account_notices("a", 10).await.unwrap();
    assert_eq!(notices.len(), 1, "the bind left the account a notice");
    assert_eq!((notices[0].kind.as_str(), notices[0].read), ("credential.bound", false));
    assert_eq!(s.read_notices("a", 3).await.unwrap(), 1);
    assert_eq!(s.unread_notices("a").await.unwrap(), 0);
    assert_eq!(intact_events(&s).await, 1 + 3);
}

async fn an_oauth_flow_is_taken_once_by_its_browser_before_it_expires(backend: Backend) {
    let (_d, s) = store(backend).await;
    let flow = OAuthFlow {
        state_hash: b"s".to_vec(),
        browser_hash: b"b".to_vec(),
        purpose: "login".into(),
        account_id: None,
        session_id: None,
        created_at: 10,
        expires_at: 20,
    };
    s.create_oauth_flow(flow.clone(), &[]).await.unwrap();
    assert_eq!(
        s.take_oauth_flow(b"s", b"other", 11).await.unwrap(),
        None,
        "another browser"
    );
    assert_eq!(s.take_oauth_flow(b"s", b"b", 20).await.unwrap(), None, "expired");
    assert_eq!(s.take_oauth_flow(b"s", b"b", 11).await.unwrap(), Some(flow));
    assert_eq!(s.take_oauth_flow(b"s", b"b", 11).await.unwrap(), None, "used");
}

async fn a_credential_binds_to_one_account_only(backend: Backend) {
    let (_d, s) = store(backend).await;
    s.create_account(account("a"), phone(b"h1"), 1).await.unwrap();
    let err = s.create_account(account("b"), phone(b"h1"), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::CredentialInUse), "{err:?}");
    // The failed creation left nothing behind: no account b, no audit event.
    assert!(s.account_view("b").await.unwrap().is_none());
    assert_eq!(intact_events(&s).await, 1 + 1);
    assert_eq!(
        s.account_by_credential(CredentialKind::Phone, b"h1")
            .await
            .unwrap()
            .as_deref(),
        Some("a")
    );
}

async fn parallel_creations_for_one_credential_have_one_winner(backend: Backend) {
    let (_d, s) = store(backend).await;
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.create_account(account(&format!("acc{i}")), phone(b"same"), 1).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::CredentialInUse) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
}

/// Creations arriving together, half of them for one phone: one of those
/// gets it, and each that fails leaves nothing behind (SQLite commits them
/// in one batch, each in a savepoint of its own; PostgreSQL each in its own
/// transaction) and takes none of the others with it.
async fn a_failed_creation_leaves_nothing_and_takes_no_other_with_it(backend: Backend) {
    let (db, s) = store(backend).await;
    // Half the accounts want the same phone: one of them gets it, and the
    // others' account rows (inserted before their credential failed) go too.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = s.clone();
            let hash = if i % 2 == 0 {
                b"same".to_vec()
            } else {
                format!("own {i}").into_bytes()
            };
            tokio::spawn(async move { s.create_account(account(&format!("a{i}")), phone(&hash), 1).await })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::CredentialInUse) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(created, 21, "20 with their own phone, 1 with the shared one");
    assert_eq!(
        db.count("accounts", "TRUE").await,
        21,
        "no account without its credential"
    );
    assert_eq!(db.count("credentials", "TRUE").await, 21);
    assert_eq!(
        intact_events(&s).await,
        1 + 21,
        "one event per account created, none for the failed"
    );
}

async fn rate_limits_hold_under_parallel_takes(backend: Backend) {
    let (_d, s) = store(backend).await;
    let s = Arc::new(s);
    let limit = RateLimit {
        bucket: "b".into(),
        key: b"k".to_vec(),
        window: 3600,
        limit: 5,
        now: 1000,
    };
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, l) = (s.clone(), limit.clone());
            tokio::spawn(async move { s.take(&[l]).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 3600),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 5);
    // A hit leaves the window after `window` seconds.
    s.take(&[RateLimit { now: 4600, ..limit }]).await.unwrap();
}

/// The counts kept beside the hits agree with the hits, and the window still
/// slides hit by hit: room comes back when the oldest hit leaves it, and the
/// refusal says when that is.
async fn a_limit_slides_hit_by_hit_and_its_count_matches_its_hits(backend: Backend) {
    let (db, s) = store(backend).await;
    let at = three_in_100;
    let refused_for = |r: Result<()>| match r {
        Err(StoreError::RateLimited { retry_after, .. }) => retry_after,
        other => panic!("not refused: {other:?}"),
    };
    for now in [0, 10, 20] {
        s.take(&[at(now)]).await.unwrap();
    }
    assert_eq!(refused_for(s.take(&[at(99)]).await), 1, "the hit at 0 leaves at 100");
    s.take(&[at(100)]).await.expect("the hit at 0 has left the window");
    assert_eq!(
        refused_for(s.take(&[at(105)]).await),
        5,
        "the oldest is now the hit at 10"
    );
    // A code issued and discarded gives its hit back: room again at once.
    let code = login_code(110, 410);
    let id = s.issue_code(code, &[at(110)]).await.expect("the hit at 10 has left");
    assert_eq!(refused_for(s.take(&[at(110)]).await), 10);
    s.discard_code(id, &[at(110)]).await.unwrap();
    s.take(&[at(110)]).await.expect("the discarded code gave its hit back");
    let raw = &db.raw;
    let count = |sql: &'static str| async move { raw.scalar(sql).await.expect("a value") };
    assert_eq!(count("SELECT hits FROM rate_counts").await, 3);
    assert_eq!(
        count("SELECT SUM(hits) FROM rate_hits").await,
        3,
        "the hits that left the window were deleted with their count"
    );
}

async fn a_refused_limit_counts_nothing(backend: Backend) {
    let (_d, s) = store(backend).await;
    let open = RateLimit {
        bucket: "open".into(),
        key: b"k".to_vec(),
        window: 60,
        limit: 1,
        now: 10,
    };
    let full = RateLimit {
        bucket: "full".into(),
        key: b"k".to_vec(),
        window: 60,
        limit: 0,
        now: 10,
    };
    assert!(s.take(&[open.clone(), full]).await.is_err());
    s.take(&[open]).await.expect("the first limit counted nothing");
}

/// A sign-in code `c` for phone `p`, live from `created_at` to `expires_at`.
fn login_code(created_at: i64, expires_at: i64) -> NewCode {
    NewCode {
        account_id: None,
        session_id: None,
        phone_hash: b"p".to_vec(),
        purpose: CodePurpose::Login,
        code_hash: b"c".to_vec(),
        created_at,
        expires_at,
        outbox: None,
        opens: None,
    }
}

/// At most 3 hits of key `k` in bucket `b` within 100 s, one taken at `now`.
fn three_in_100(now: i64) -> RateLimit {
    RateLimit {
        bucket: "b".into(),
        key: b"k".to_vec(),
        window: 100,
        limit: 3,
        now,
    }
}

/// A try of the code `typed` for phone `p` at `now`, with `limits`.
fn try_of(typed: &[u8], holder: Option<CodeHolder>, now: i64, limits: &[RateLimit]) -> CodeTry {
    CodeTry {
        phone_hash: b"p".to_vec(),
        purpose: CodePurpose::Login,
        holder,
        typed_hash: typed.to_vec(),
        now,
        max_attempts: 5,
        limits: limits.to_vec(),
        then: Vec::new(),
    }
}

fn holder(account_id: &str, session_id: &str) -> Option<CodeHolder> {
    Some(CodeHolder {
        account_id: account_id.into(),
        session_id: session_id.into(),
    })
}

async fn codes_are_used_once_and_tries_stop_at_the_limit(backend: Backend) {
    let (_d, s) = store(backend).await;
    let code = |holder: Option<(&str, &str)>| NewCode {
        account_id: holder.map(|h| h.0.to_owned()),
        session_id: holder.map(|h| h.1.to_owned()),
        ..login_code(10, 310)
    };
    let tried = |typed: &'static [u8], who: Option<CodeHolder>, now| s.take_try(try_of(typed, who, now, &[]));
    s.issue_code(code(None), &[]).await.unwrap();
    assert!(
        matches!(tried(b"c", None, 310).await.unwrap(), Tried::NoCode),
        "expired"
    );
    for n in 1..=5 {
        let t = tried(b"x", None, 11).await.unwrap();
        assert!(matches!(t, Tried::Wrong { attempts } if attempts == n), "{t:?}");
    }
    assert!(
        matches!(tried(b"c", None, 11).await.unwrap(), Tried::NoCode),
        "burnt after 5 tries"
    );

    s.issue_code(code(None), &[]).await.unwrap();
    for _ in 1..=4 {
        assert!(matches!(tried(b"x", None, 11).await.unwrap(), Tried::Wrong { .. }));
    }
    let fifth = tried(b"c", None, 11).await.unwrap();
    assert!(
        matches!(fifth, Tried::UsedUp { then: Ok(()) }),
        "the fifth try may still match: {fifth:?}"
    );
    assert!(
        matches!(tried(b"c", None, 11).await.unwrap(), Tried::NoCode),
        "used once"
    );

    // A code for a session is not one for nobody, nor for another account,
    // nor for another session of the same account.
    s.issue_code(code(Some(("acc", "ses"))), &[]).await.unwrap();
    for (who, what) in [
        (None, "nobody"),
        (holder("other", "ses"), "another account"),
        (holder("acc", "ses2"), "another session"),
    ] {
        let t = tried(b"c", who, 11).await.unwrap();
        assert!(matches!(t, Tried::NoCode), "{what} reached the session's code");
    }
    let mine = tried(b"c", holder("acc", "ses"), 11).await.unwrap();
    assert!(matches!(mine, Tried::UsedUp { then: Ok(()) }));
    s.issue_code(code(Some(("acc", "ses"))), &[]).await.unwrap();
    let late = tried(b"c", holder("acc", "ses"), 310).await.unwrap();
    assert!(matches!(late, Tried::NoCode), "an expired code is not used");
}

async fn a_try_takes_its_limits_and_a_match_used_up_gives_them_back_in_the_same_transaction(backend: Backend) {
    let (db, s) = store(backend).await;
    let code = login_code(10, 310);
    s.issue_code(code, &[]).await.unwrap();
    let allowance = |limit| RateLimit {
        bucket: "failed".into(),
        key: b"ip".to_vec(),
        window: 3600,
        limit,
        now: 11,
    };
    let one = [allowance(1)];
    let tried = s.take_try(try_of(b"x", None, 11, &one)).await.unwrap();
    assert!(matches!(tried, Tried::Wrong { attempts: 1 }));
    // The allowance is used up: the next try is refused and counts nothing on the code.
    assert!(matches!(
        s.take_try(try_of(b"c", None, 11, &one)).await,
        Err(StoreError::RateLimited { .. })
    ));
    assert_eq!(
        db.count("sms_codes", "attempts = 1").await,
        1,
        "the refused try was not counted on the code"
    );
    // A match used up gives its own hit back; `then` is taken after it, and
    // its refusal leaves the code used up.
    let two = [allowance(2)];
    let cap = RateLimit {
        bucket: "cap".into(),
        key: b"acc".to_vec(),
        window: 86_400,
        limit: 0,
        now: 11,
    };
    let then = [cap];
    let tried = s
        .take_try(CodeTry {
            then: then.to_vec(),
            ..try_of(b"c", None, 11, &two)
        })
        .await
        .unwrap();
    assert!(
        matches!(tried, Tried::UsedUp { then: Err(StoreError::RateLimited { ref bucket, .. }) } if bucket == "cap"),
        "{tried:?}"
    );
    assert_eq!(db.count("sms_codes", "consumed_at IS NOT NULL").await, 1);
    s.take(&[allowance(2)])
        .await
        .expect("the matching try's hit was given back");
    assert!(s.take(&[allowance(2)]).await.is_err(), "the wrong try's hit stays");
}

async fn a_parallel_burst_compares_at_most_the_limit(backend: Backend) {
    let (_d, s) = store(backend).await;
    let s = Arc::new(s);
    let code = login_code(10, 310);
    s.issue_code(code, &[]).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.take_try(try_of(b"x", None, 11, &[])).await.unwrap() })
        })
        .collect();
    let mut handed_out = 0;
    for t in tasks {
        handed_out += usize::from(matches!(t.await.unwrap(), Tried::Wrong { .. }));
    }
    assert_eq!(handed_out, 5, "only five guesses ever see the code");
}

async fn the_outbox_holds_a_codes_text_exactly_when_the_code_was_issued(backend: Backend) {
    let (db, s) = store(backend).await;
    let code = || NewCode {
        outbox: Some(OutboxMessage {
            phone_hash: b"p".to_vec(),
            phone_sealed: b"sealed phone".to_vec(),
            text_sealed: b"sealed text".to_vec(),
            sent_at: 10,
        }),
        ..login_code(10, 310)
    };
    let once = [RateLimit {
        bucket: "resend".into(),
        key: b"p".to_vec(),
        window: 60,
        limit: 1,
        now: 10,
    }];
    s.issue_code(code(), &once).await.unwrap();
    assert!(matches!(
        s.issue_code(code(), &once).await,
        Err(StoreError::RateLimited { .. })
    ));
    assert_eq!(db.count("sms_codes", "TRUE").await, 1);
    assert_eq!(db.count("sms_outbox", "TRUE").await, 1, "the refused code left no text");
    let shown = s.outbox(Some(b"p"), 10).await.unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].text_sealed, b"sealed text");
}

async fn hits_in_one_second_share_a_row_leave_together_and_are_given_back_one_by_one(backend: Backend) {
    let (db, s) = store(backend).await;
    let at = three_in_100;
    for now in [0, 0, 10] {
        s.take(&[at(now)]).await.unwrap();
    }
    let raw = &db.raw;
    let count = |sql: &'static str| async move { raw.scalar(sql).await.expect("a value") };
    assert_eq!(count("SELECT COUNT(*) FROM rate_hits").await, 2, "one row a second");
    assert!(s.take(&[at(99)]).await.is_err());
    // Both hits of second 0 leave at 100: room for two.
    s.take(&[at(100)]).await.unwrap();
    s.take(&[at(100)]).await.unwrap();
    assert!(s.take(&[at(100)]).await.is_err());
    // A discarded code gives back one hit of its second, not the second's all.
    let code = login_code(100, 400);
    let id = s.issue_code(code, &[]).await.unwrap();
    s.discard_code(id, &[at(100)]).await.unwrap();
    assert_eq!(count("SELECT hits FROM rate_hits WHERE at = 100").await, 1);
    assert_eq!(count("SELECT hits FROM rate_counts").await, 2);
    assert_eq!(count("SELECT SUM(hits) FROM rate_hits").await, 2);
}

/// The first key check is kept; a later one, even racing it, gets it back.
async fn the_first_key_check_is_kept(backend: Backend) {
    let (_d, s) = store(backend).await;
    let check = |n: u8| KeyCheck {
        sealed: vec![n],
        peppered: vec![n, n],
        audit_mac: vec![n, n, n],
        created_at: i64::from(n),
    };
    let racing: Vec<_> = (1..=8)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move { s.key_check(check(n)).await.unwrap() })
        })
        .collect();
    let mut kept = Vec::new();
    for r in racing {
        kept.push(r.await.unwrap());
    }
    assert!(kept.iter().all(|k| *k == kept[0]), "{kept:?}");
    assert_eq!(s.key_check(check(9)).await.unwrap(), kept[0]);
}

on_every_backend!(
    the_first_key_check_is_kept,
    a_failed_creation_leaves_nothing_and_takes_no_other_with_it,
    binding_keeps_one_credential_per_kind_and_account,
    an_oauth_flow_is_taken_once_by_its_browser_before_it_expires,
    a_credential_binds_to_one_account_only,
    parallel_creations_for_one_credential_have_one_winner,
    rate_limits_hold_under_parallel_takes,
    a_limit_slides_hit_by_hit_and_its_count_matches_its_hits,
    a_refused_limit_counts_nothing,
    codes_are_used_once_and_tries_stop_at_the_limit,
    a_try_takes_its_limits_and_a_match_used_up_gives_them_back_in_the_same_transaction,
    a_parallel_burst_compares_at_most_the_limit,
    the_outbox_holds_a_codes_text_exactly_when_the_code_was_issued,
    hits_in_one_second_share_a_row_leave_together_and_are_given_back_one_by_one,
);
