//! The store's upkeep: the notice queue (`claim_notices`, `finish_notice`:
//! leases, attempts, giving up, sent notices) and `sweep` (what expired goes,
//! what lives stays, and nothing else is touched).

use std::sync::Arc;

use shiming_store::*;

use crate::common::{account, bind, on_every_backend, phone, session, store, wechat, Db};

const LEASE: i64 = 60;
/// No notice claimed.
const NONE: [(i64, u32); 0] = [];

/// Queues `n` text notices, the way they are only ever queued: by a commit
/// (a plain WeChat bind of the account `a`). Returns their ids, oldest first.
async fn queue(db: &Db, s: &Arc<dyn Store>, n: u8) -> Vec<i64> {
    s.create_account(account("a"), phone(b"p"), 1).await.unwrap();
    let commit = RebindCommit {
        notices: (0..n)
            .map(|i| NewNotice {
                phone_sealed: vec![i],
                text_sealed: format!("text {i}").into_bytes(),
            })
            .collect(),
        ..bind("a", wechat(b"w"))
    };
    s.commit_rebind(commit).await.unwrap();
    db.raw
        .rows::<(i64,)>("SELECT id FROM notices ORDER BY id")
        .await
        .into_iter()
        .map(|(id,)| id)
        .collect()
}

/// (id, attempts) of the notices claimed at `now`.
async fn claim(s: &Arc<dyn Store>, now: i64, limit: u32) -> Vec<(i64, u32)> {
    s.claim_notices(now, LEASE, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.id, n.attempts))
        .collect()
}

async fn a_claimed_notice_is_not_claimed_again_before_its_lease_ends(backend: Backend) {
    let (db, s) = store(backend).await;
    let ids = queue(&db, &s, 3).await;
    let claimed = s.claim_notices(100, LEASE, 2).await.unwrap();
    let what: Vec<_> = claimed
        .iter()
        .map(|n| (n.id, n.phone_sealed.clone(), n.text_sealed.clone(), n.attempts))
        .collect();
    assert_eq!(
        what,
        [
            (ids[0], vec![0], b"text 0".to_vec(), 0),
            (ids[1], vec![1], b"text 1".to_vec(), 0)
        ],
        "the oldest, up to the limit"
    );
    assert_eq!(claim(&s, 101, 10).await, [(ids[2], 0)], "the two are leased");
    assert_eq!(claim(&s, 100 + LEASE - 1, 10).await, NONE, "all three are leased");
    assert_eq!(
        claim(&s, 100 + LEASE, 10).await,
        [(ids[0], 0), (ids[1], 0)],
        "a lease ends at its time: the first two are free, the third is not"
    );
    assert_eq!(claim(&s, 101 + LEASE, 10).await, [(ids[2], 0)]);
}

async fn failed_attempts_are_counted_and_a_notice_is_given_up_after_five(backend: Backend) {
    let (db, s) = store(backend).await;
    let ids = queue(&db, &s, 1).await;
    for attempt in 0..5 {
        // Each claim after the lease of the one before.
        let now = 100 + i64::from(attempt) * (LEASE + 1);
        assert_eq!(
            claim(&s, now, 10).await,
            [(ids[0], attempt)],
            "the failed attempts are counted"
        );
        s.finish_notice(ids[0], NoticeDelivery::Failed { retry_at: now })
            .await
            .unwrap();
    }
    assert_eq!(claim(&s, 1_000, 10).await, NONE, "given up");
    assert_eq!(claim(&s, 100_000, 10).await, NONE);
    assert_eq!(db.count("notices", "attempts = 5 AND sent_at IS NULL").await, 1);
}

async fn a_sent_notice_is_never_claimed_again(backend: Backend) {
    let (db, s) = store(backend).await;
    let ids = queue(&db, &s, 2).await;
    assert_eq!(claim(&s, 100, 10).await, [(ids[0], 0), (ids[1], 0)]);
    s.finish_notice(ids[0], NoticeDelivery::Sent { at: 101 }).await.unwrap();
    s.finish_notice(ids[1], NoticeDelivery::Failed { retry_at: 101 })
        .await
        .unwrap();
    let later = 100 + LEASE + 1;
    assert_eq!(claim(&s, later, 10).await, [(ids[1], 1)], "only the one that failed");
    s.finish_notice(ids[1], NoticeDelivery::Sent { at: later })
        .await
        .unwrap();
    for now in [later + 1, later + LEASE + 1, 100_000] {
        assert_eq!(claim(&s, now, 10).await, NONE, "at {now}");
    }
    let sent: Vec<(i64, Option<i64>)> = db.raw.rows("SELECT id, sent_at FROM notices ORDER BY id").await;
    assert_eq!(sent, [(ids[0], Some(101)), (ids[1], Some(later))]);
}

async fn sweep_deletes_what_expired_and_keeps_what_lives(backend: Backend) {
    let (db, s) = store(backend).await;
    let (now, horizon) = (1_000, 3_600);
    // Four notices: sent, given up, failed once, claimed.
    let notices = queue(&db, &s, 4).await;
    claim(&s, now - 10, 10).await;
    s.finish_notice(notices[0], NoticeDelivery::Sent { at: now - 9 })
        .await
        .unwrap();
    for _ in 0..5 {
        s.finish_notice(notices[1], NoticeDelivery::Failed { retry_at: now - 9 })
            .await
            .unwrap();
    }
    s.finish_notice(notices[2], NoticeDelivery::Failed { retry_at: now - 9 })
        .await
        .unwrap();

    s.create_account(account("b"), phone(b"p-b"), 1).await.unwrap();
    // Each thing twice: expired at `now` (dead), and a second later (live).
    for (name, expires_at) in [("dead", now), ("live", now + 1)] {
        session(&s, "a", name, expires_at).await;
        let code = NewCode {
            account_id: None,
            session_id: None,
            phone_hash: name.as_bytes().to_vec(),
            purpose: shiming_domain::CodePurpose::Login,
            code_hash: b"c".to_vec(),
            created_at: 1,
            expires_at,
            outbox: None,
            opens: None,
        };
        s.issue_code(code, &[]).await.unwrap();
        let flow = OAuthFlow {
            state_hash: name.as_bytes().to_vec(),
            browser_hash: b"b".to_vec(),
            purpose: "login".into(),
            account_id: None,
            session_id: None,
            created_at: 1,
            expires_at,
        };
        s.create_oauth_flow(flow, &[]).await.unwrap();
    }
    for (account_id, expires_at) in [("a", now), ("b", now + 1)] {
        let change = NewPendingChange {
            account_id: account_id.into(),
            session_id: "ses".into(),
            credential: phone(format!("next of {account_id}").as_bytes()),
            created_at: 1,
            expires_at,
        };
        s.open_change(change).await.unwrap();
    }
    // Rate hits as old as the horizon (dead), and a second younger (live).
    for (bucket, at) in [("dead", now - horizon), ("live", now - horizon + 1)] {
        let limit = RateLimit {
            bucket: bucket.into(),
            key: b"k".to_vec(),
            window: 10 * horizon,
            limit: 10,
            now: at,
        };
        s.take(&[limit]).await.unwrap();
    }

    let before = db.dump().await;
    s.sweep(now, horizon).await.unwrap();
    let after = db.dump().await;

    let raw = &db.raw;
    let texts = |sql: &'static str| async move {
        let rows: Vec<(String,)> = raw.rows(sql).await;
        rows.into_iter().map(|(t,)| t).collect::<Vec<_>>()
    };
    let blobs = |sql: &'static str| async move {
        let rows: Vec<(Vec<u8>,)> = raw.rows(sql).await;
        rows.into_iter()
            .map(|(b,)| String::from_utf8(b).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts("SELECT id FROM sessions").await, ["live"], "sessions");
    assert_eq!(blobs("SELECT phone_hash FROM sms_codes").await, ["live"], "codes");
    assert_eq!(
        blobs("SELECT state_hash FROM oauth_flows").await,
        ["live"],
        "OAuth flows"
    );
    let left = "SELECT account_id FROM pending_changes";
    assert_eq!(texts(left).await, ["b"], "pending changes");
    assert_eq!(texts("SELECT bucket FROM rate_hits").await, ["live"], "rate hits");
    assert_eq!(texts("SELECT bucket FROM rate_counts").await, ["live"], "rate counts");
    let left: Vec<i64> = raw
        .rows::<(i64,)>("SELECT id FROM notices ORDER BY id")
        .await
        .into_iter()
        .map(|(id,)| id)
        .collect();
    assert_eq!(left, notices[2..], "the unsent ones stay, claimed or not");

    let swept = [
        "sessions",
        "sms_codes",
        "oauth_flows",
        "pending_changes",
        "rate_hits",
        "rate_counts",
        "notices",
    ];
    for (table, rows) in &before {
        if !swept.contains(&table.as_str()) {
            assert_eq!(Some(rows), after.get(table), "{table} was not to be swept");
        }
    }
}

on_every_backend!(
    a_claimed_notice_is_not_claimed_again_before_its_lease_ends,
    failed_attempts_are_counted_and_a_notice_is_given_up_after_five,
    a_sent_notice_is_never_claimed_again,
    sweep_deletes_what_expired_and_keeps_what_lives,
);
