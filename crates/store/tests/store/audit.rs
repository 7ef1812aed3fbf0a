//! The audit chain on a real database file: keyed links; what someone with
//! write access to the database but without the key can and cannot hide; a
//! head recorded outside the database; chains linked before the key.

use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};
use shiming_domain::{CredentialKind, Nature};
use shiming_store::*;
use shiming_vault::Keys;

use crate::common::{on_every_backend, Db};

impl Db {
    /// (seq, kind, link_kind) of every event.
    async fn kinds(&self) -> Vec<(i64, String, String)> {
        self.raw
            .rows("SELECT seq, kind, link_kind FROM audit_events ORDER BY seq")
            .await
    }

    /// What someone with the database but not the key does: edits event
    /// `from`, recomputes the link of it and of every later event with
    /// SHA-256 (labelled `label`, or as they were), and moves the tip.
    async fn rewrite_with_sha256(&self, from: i64, label: Option<&str>) {
        let rows: Vec<EventRow> = self
            .raw
            .rows("SELECT seq, at, kind, account_id, details, hash, link_kind FROM audit_events ORDER BY seq")
            .await;
        let mut prev = GENESIS.to_vec();
        for (seq, at, kind, account, details, hash, link_kind) in rows {
            if seq < from {
                prev = hash;
                continue;
            }
            let details = if seq == from {
                "{\"forged\":1}".to_owned()
            } else {
                details
            };
            let link = plain_link(&prev, seq, at, &kind, account.as_deref(), &details);
            let (prev_blob, link_blob) = (self.raw.blob(&prev), self.raw.blob(&link));
            let label = label.unwrap_or(&link_kind);
            // The details are the test's own JSON, without quotes to escape.
            self.exec(&format!(
                "UPDATE audit_events SET details = '{details}', prev_hash = {prev_blob}, hash = {link_blob}, \
                 link_kind = '{label}' WHERE seq = {seq}"
            ))
            .await;
            self.exec(&format!("UPDATE audit_head SET seq = {seq}, hash = {link_blob}"))
                .await;
            prev = link.to_vec();
        }
    }
}

/// seq, at, kind, account_id, details, hash, link_kind.
type EventRow = (i64, i64, String, Option<String>, String, Vec<u8>, String);

/// The SHA-256 link as chains were written before the audit key, spelled out
/// here on purpose: it is the format that old databases hold.
fn plain_link(prev: &[u8], seq: i64, at: i64, kind: &str, account: Option<&str>, details: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    for field in [kind, account.unwrap_or("\u{0}"), details] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

async fn add_accounts(s: &Arc<dyn Store>, ids: std::ops::Range<i64>) {
    for i in ids {
        let id = format!("a{i}");
        let account = NewAccount {
            id: id.clone(),
            nature: Nature::Personal,
            audit: AuditDraft::new("account.created", &id, i, json!({})),
        };
        let phone = NewCredential::bare(CredentialKind::Phone, id.clone().into_bytes(), vec![1]);
        s.create_account(account, phone, i).await.unwrap();
    }
}

async fn head(s: &Arc<dyn Store>) -> ChainHead {
    match s.verify_chain(None).await.unwrap() {
        ChainReport::Intact { head } => head,
        broken => panic!("{broken:?}"),
    }
}

fn broken(seq: i64, reason: &'static str) -> ChainReport {
    ChainReport::Broken { seq, reason }
}

async fn a_fresh_chain_starts_keyed_and_verifies_only_under_its_key(backend: Backend) {
    let db = Db::new(backend).await;
    let s = db.store().await;
    add_accounts(&s, 0..3).await;
    assert_eq!(head(&s).await.seq, 4);
    let kinds = db.kinds().await;
    assert_eq!(kinds[0].1, KEYED_SWITCH, "the switch is the first event");
    assert!(kinds.iter().all(|(_, _, link)| link == "hmac-sha256"), "{kinds:?}");
    // Opening it again keys nothing twice.
    assert_eq!(head(&db.store().await).await.seq, 4);

    let stranger = db.existing_with(Keys::generate().derive_audit_key()).await;
    assert_eq!(
        stranger.verify_chain(None).await.unwrap(),
        broken(1, "content does not match its link")
    );
}

async fn alteration_and_removal_are_caught(backend: Backend) {
    let db = Db::new(backend).await;
    let s = db.store().await;
    add_accounts(&s, 0..4).await;
    assert_eq!(s.audit_of("a2", 10).await.unwrap().len(), 1);

    db.exec("UPDATE audit_events SET details = '{\"forged\":1}' WHERE seq = 3")
        .await;
    assert_eq!(
        s.verify_chain(None).await.unwrap(),
        broken(3, "content does not match its link")
    );
    db.exec("UPDATE audit_events SET details = '{}' WHERE seq = 3").await;
    assert_eq!(head(&s).await.seq, 5);

    db.exec("DELETE FROM audit_events WHERE seq = 5").await;
    assert_eq!(
        s.verify_chain(None).await.unwrap(),
        broken(5, "events missing at the end of the chain")
    );
    db.exec("DELETE FROM audit_events WHERE seq = 3").await;
    assert_eq!(s.verify_chain(None).await.unwrap(), broken(3, "event missing"));
}

async fn rewriting_with_recomputed_sha256_links_is_caught(backend: Backend) {
    // Each way of relabelling what was rewritten, on a chain of its own.
    let cases = [
        (2, None, broken(2, "content does not match its link")),
        (2, Some("sha256"), broken(2, "a plain link after the chain was keyed")),
        (1, Some("sha256"), broken(4, "the chain does not end keyed")),
    ];
    for (from, label, expected) in cases {
        let db = Db::new(backend).await;
        let s = db.store().await;
        add_accounts(&s, 0..3).await;
        db.rewrite_with_sha256(from, label).await;
        assert_eq!(s.verify_chain(None).await.unwrap(), expected, "from {from}, {label:?}");
    }
}

async fn a_rewound_tip_is_caught_by_the_recorded_head(backend: Backend) {
    let db = Db::new(backend).await;
    let s = db.store().await;
    add_accounts(&s, 0..4).await;
    let recorded = head(&s).await;
    assert_eq!(recorded.seq, 5);
    assert_eq!(
        s.verify_chain(Some(recorded)).await.unwrap(),
        ChainReport::Intact { head: recorded }
    );

    // The newest two events removed and the tip moved back to the third.
    db.exec("DELETE FROM audit_events WHERE seq > 3").await;
    db.exec("UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)")
        .await;
    assert_eq!(head(&s).await.seq, 3, "intact in itself");
    assert_eq!(
        s.verify_chain(Some(recorded)).await.unwrap(),
        broken(
            5,
            "the chain ends before the recorded head: events were removed or the database rolled back"
        )
    );

    // New events over the gap (a restored copy that kept running) do not hide it.
    add_accounts(&s, 10..12).await;
    assert_eq!(head(&s).await.seq, 5);
    assert_eq!(
        s.verify_chain(Some(recorded)).await.unwrap(),
        broken(
            5,
            "differs from the recorded head: the chain was rewritten or rolled back"
        )
    );
}

#[tokio::test]
async fn a_chain_linked_before_the_key_is_sealed_by_the_switch() {
    // Only SQLite held chains linked before the key: PostgreSQL's schema
    // starts with the keyed chain.
    let db = Db::new(Backend::Sqlite).await;
    let shiming_testdb::Raw::Sqlite(raw) = &db.raw else {
        unreachable!("a SQLite database")
    };
    // The schema as it was before the keyed chain, and three events as the
    // code of that time wrote them.
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 6)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(raw).await.unwrap();
    let mut prev = GENESIS.to_vec();
    for seq in 1..=3 {
        let account = format!("old{seq}");
        let link = plain_link(&prev, seq, seq, "account.created", Some(&account), "{}");
        sqlx::query("INSERT INTO audit_events (seq, at, kind, account_id, details, prev_hash, hash) VALUES (?, ?, 'account.created', ?, '{}', ?, ?)")
            .bind(seq)
            .bind(seq)
            .bind(&account)
            .bind(&prev)
            .bind(&link[..])
            .execute(raw)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_head SET seq = ?, hash = ?")
            .bind(seq)
            .bind(&link[..])
            .execute(raw)
            .await
            .unwrap();
        prev = link.to_vec();
    }

    let s = db.store().await;
    assert_eq!(
        head(&s).await.seq,
        4,
        "the old events verify, and the switch follows them"
    );
    add_accounts(&s, 0..1).await;
    assert_eq!(head(&s).await.seq, 5);
    let kinds: Vec<_> = db
        .kinds()
        .await
        .into_iter()
        .map(|(_, kind, link)| (kind, link))
        .collect();
    let expect = |kind: &str, link: &str| (kind.to_owned(), link.to_owned());
    assert_eq!(
        kinds,
        [
            expect("account.created", "sha256"),
            expect("account.created", "sha256"),
            expect("account.created", "sha256"),
            expect(KEYED_SWITCH, "hmac-sha256"),
            expect("account.created", "hmac-sha256"),
        ]
    );
    let details: String = sqlx::query_scalar("SELECT details FROM audit_events WHERE seq = 4")
        .fetch_one(raw)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&details).unwrap(),
        json!({ "link": "hmac-sha256", "plain_events": 3 })
    );

    // The plain events before the switch are as safe as the keyed ones: the
    // switch's keyed link covers them.
    db.rewrite_with_sha256(2, None).await;
    assert_eq!(
        s.verify_chain(None).await.unwrap(),
        broken(4, "content does not match its link")
    );
}

on_every_backend!(
    a_fresh_chain_starts_keyed_and_verifies_only_under_its_key,
    alteration_and_removal_are_caught,
    rewriting_with_recomputed_sha256_links_is_caught,
    a_rewound_tip_is_caught_by_the_recorded_head,
);
