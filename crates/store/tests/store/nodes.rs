//! Two stores on one PostgreSQL database, as two nodes: each keeps a cache
//! of validated sessions, and neither ever answers from it after a change
//! the other committed and returned from (`src/postgres/watch.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shiming_domain::AccountState;
use shiming_store::*;

use crate::common::{account, bind, phone, session, store, Db};

fn token(id: &str) -> [u8; 32] {
    let mut hash = [0; 32];
    hash[..id.len()].copy_from_slice(id.as_bytes());
    hash
}

async fn found(s: &Arc<dyn Store>, id: &str) -> Option<SessionRecord> {
    s.session_by_token(&token(id)).await.unwrap()
}

fn audit(kind: &'static str) -> AuditDraft {
    AuditDraft::new(kind, "a", 5, json!({}))
}

/// Until `s` answers from its cache: a session deleted with the triggers
/// off (nothing announced) is still found by a store that cached it.
async fn until_cached(db: &Db, s: &Arc<dyn Store>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 0.. {
        let probe = format!("probe-{n}");
        session(s, "a", &probe, 100_000).await;
        assert!(found(s, &probe).await.is_some());
        db.exec(&format!(
            "DO $$ BEGIN PERFORM set_config('session_replication_role', 'replica', true); \
             DELETE FROM sessions WHERE id = '{probe}'; END $$"
        ))
        .await;
        if found(s, &probe).await.is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "the store never answered from its cache");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_store_answers_from_its_cache_after_a_change_the_other_committed() {
    if shiming_testdb::postgres_server().await.is_none() {
        return;
    }
    let (db, a) = store(Backend::Postgres).await;
    let b = db.store().await;
    a.create_account(account("a"), phone(b"p-a"), 1).await.unwrap();
    until_cached(&db, &b).await;

    // Each change on A, with the sessions it touches cached on B first.
    for id in ["s1", "s2", "s3", "keep"] {
        session(&a, "a", id, 100_000).await;
        assert!(found(&b, id).await.is_some());
    }
    assert!(a.revoke_session("a", "s1", audit("session.revoked")).await.unwrap());
    assert!(found(&b, "s1").await.is_none(), "a revocation");

    assert!(found(&b, "keep").await.unwrap().step_up_until.is_none());
    let stepped = a.step_up("keep", 900, None, audit("session.stepped_up")).await.unwrap();
    assert!(matches!(stepped, SteppedUp::Granted));
    assert_eq!(found(&b, "keep").await.unwrap().step_up_until, Some(900), "a step-up");

    for (state, seen) in [(AccountState::Frozen, "frozen"), (AccountState::Active, "active")] {
        assert!(a.set_account_state("a", state, audit("account.state")).await.unwrap());
        assert_eq!(
            found(&b, "keep").await.unwrap().account_state.as_str(),
            seen,
            "a {seen}"
        );
    }

    // A rebind of the phone (which revokes the other sessions).
    let old = db
        .raw
        .scalar("SELECT id FROM credentials WHERE account_id = 'a' AND kind = 'phone'")
        .await;
    let mut commit = bind("a", phone(b"p-a2"));
    commit.keep_session = "keep".into();
    commit.expected.replaces = old;
    assert_eq!(a.commit_rebind(commit).await.unwrap(), 2);
    for id in ["s2", "s3"] {
        assert!(found(&b, id).await.is_none(), "a rebind's commit ends {id}");
    }
    assert!(found(&b, "keep").await.is_some());

    session(&a, "a", "s4", 100_000).await;
    assert!(found(&b, "s4").await.is_some());
    assert_eq!(
        a.revoke_other_sessions("a", "keep", audit("session.revoked"))
            .await
            .unwrap(),
        1
    );
    assert!(found(&b, "s4").await.is_none(), "the others signed out");

    // And B's own changes, seen by A.
    assert!(found(&a, "keep").await.is_some());
    assert!(b.revoke_session("a", "keep", audit("session.revoked")).await.unwrap());
    assert!(found(&a, "keep").await.is_none(), "a revocation on B");
}

/// A write that changes a session's answer waits for the nodes of its own
/// database only (notifications do not cross databases, so a node of
/// another one never acknowledges), and a store just opened does not wait
/// out the longest lease (1.2 s). (Fails when the listeners of other
/// databases are taken for nodes to wait for.)
#[tokio::test(flavor = "multi_thread")]
async fn a_change_waits_for_no_node_of_another_database() {
    if shiming_testdb::postgres_server().await.is_none() {
        return;
    }
    let (_elsewhere_db, elsewhere) = store(Backend::Postgres).await;
    elsewhere.create_account(account("a"), phone(b"p-a"), 1).await.unwrap();
    session(&elsewhere, "a", "s", 100_000).await;
    assert!(found(&elsewhere, "s").await.is_some());

    let (db, setup) = store(Backend::Postgres).await;
    setup.create_account(account("a"), phone(b"p-a"), 1).await.unwrap();
    session(&setup, "a", "s", 100_000).await;
    // A store just opened, whose listener may not be connected yet.
    let t = Instant::now();
    let s = db.store().await;
    assert!(s.revoke_session("a", "s", audit("session.revoked")).await.unwrap());
    let took = t.elapsed();
    assert!(took < Duration::from_millis(600), "the revocation waited {took:?}");
}
