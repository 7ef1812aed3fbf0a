//! The audit chain: each event's link covers the previous event's link and
//! the event itself, so altering or removing any event breaks every later link.
//!
//! A link is HMAC-SHA256 under the audit key (a *keyed* link): without the
//! key nobody can write an event whose link verifies, so editing an event and
//! recomputing the links after it is caught. Chains begun before the key
//! existed hold *plain* SHA-256 links. The first keyed event is always the
//! switch event [`KEYED_SWITCH`], whose link covers the last plain one, and
//! every event after it is keyed. A chain that is not empty must end keyed:
//! otherwise one could rewrite all of it as plain SHA-256 without the switch.
//!
//! Removing the newest events and rewinding the recorded tip leaves a shorter
//! chain that is intact in itself; only a head recorded outside the database
//! ([`ChainHead`], `shiming audit head`) catches that, or a rolled-back copy.

use std::fmt;
use std::str::FromStr;

use hmac::Mac;
use sha2::digest::Update;
use sha2::{Digest, Sha256};
use shiming_vault::AuditKey;
use thiserror::Error;

/// The `prev_hash` of the first event, and the link of an empty chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// The kind of the event that switches a chain to keyed links.
pub const KEYED_SWITCH: &str = "audit.chain_keyed";

/// How an event's link was computed; stored beside it as `link_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// SHA-256, as chains were linked before the audit key.
    Plain,
    /// HMAC-SHA256 under the audit key.
    Keyed,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Plain => "sha256",
            LinkKind::Keyed => "hmac-sha256",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [LinkKind::Plain, LinkKind::Keyed]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// What an event's link covers besides the link before it.
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    pub seq: i64,
    pub at: i64,
    pub kind: &'a str,
    pub account_id: Option<&'a str>,
    pub details: &'a str,
}

impl EventFields<'_> {
    /// Every field is length-prefixed so that no two different events link
    /// alike by shifting bytes between fields.
    fn feed(&self, prev: &[u8], out: &mut impl Update) {
        out.update(prev);
        out.update(&self.seq.to_be_bytes());
        out.update(&self.at.to_be_bytes());
        for field in [self.kind, self.account_id.unwrap_or("\u{0}"), self.details] {
            out.update(&(field.len() as u64).to_be_bytes());
            out.update(field.as_bytes());
        }
    }

    fn plain_link(&self, prev: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        self.feed(prev, &mut h);
        h.finalize().into()
    }

    pub fn keyed_link(&self, key: &AuditKey, prev: &[u8]) -> [u8; 32] {
        let mut mac = key.mac();
        self.feed(prev, &mut mac);
        mac.finalize().into_bytes().into()
    }
}

/// An event about to be appended: every column a backend writes, linked
/// under the audit key to the chain's head. A backend reads the head,
/// inserts this row and moves the head to its `seq` and `link`, all in the
/// transaction that holds the head, so the chain stays one chain whoever
/// writes to it.
#[derive(Debug, Clone)]
pub struct NextEvent {
    pub seq: i64,
    pub at: i64,
    pub kind: &'static str,
    pub account_id: Option<String>,
    pub details: String,
    /// The enterprise the details name, if any (kept beside the details,
    /// for an enterprise's own log; not part of the link).
    pub enterprise_id: Option<String>,
    pub prev: Vec<u8>,
    pub link: [u8; 32],
    pub link_kind: &'static str,
}

impl NextEvent {
    /// The event `draft` after the head `(head_seq, head_link)`.
    pub fn after(head_seq: i64, head_link: Vec<u8>, draft: &crate::AuditDraft, key: &AuditKey) -> NextEvent {
        let details = draft.details.to_string();
        let fields = EventFields {
            seq: head_seq + 1,
            at: draft.at,
            kind: draft.kind,
            account_id: draft.account_id.as_deref(),
            details: &details,
        };
        let link = fields.keyed_link(key, &head_link);
        NextEvent {
            seq: fields.seq,
            at: draft.at,
            kind: draft.kind,
            account_id: draft.account_id.clone(),
            details,
            enterprise_id: draft.details["enterprise_id"].as_str().map(str::to_owned),
            prev: head_link,
            link,
            link_kind: LinkKind::Keyed.as_str(),
        }
    }
}

/// The switch event a chain needs when its newest event (of link kind
/// `newest`, or none) is not keyed: appended at start, its keyed link covers
/// the `plain_events` before it.
pub(crate) fn switch_needed(newest: Option<&str>, plain_events: i64) -> Option<crate::AuditDraft> {
    (newest != Some(LinkKind::Keyed.as_str())).then(|| crate::AuditDraft {
        kind: KEYED_SWITCH,
        at: time::OffsetDateTime::now_utc().unix_timestamp(),
        account_id: None,
        details: serde_json::json!({ "link": LinkKind::Keyed.as_str(), "plain_events": plain_events }),
    })
}

/// Where a chain ends: its newest event's sequence number and link (for an
/// empty chain, 0 and [`GENESIS`]). Written `SEQ:HEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub link: [u8; 32],
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, hex::encode(self.link))
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "a chain head is written SEQ:MAC, a sequence number and 64 hexadecimal digits, as `shiming audit head` prints it"
)]
pub struct ChainHeadError;

impl FromStr for ChainHead {
    type Err = ChainHeadError;

    fn from_str(s: &str) -> Result<Self, ChainHeadError> {
        let (seq, link) = s.trim().split_once(':').ok_or(ChainHeadError)?;
        let seq = seq.parse().ok().filter(|s: &i64| *s >= 0).ok_or(ChainHeadError)?;
        let mut bytes = [0; 32];
        hex::decode_to_slice(link, &mut bytes).map_err(|_| ChainHeadError)?;
        Ok(ChainHead { seq, link: bytes })
    }
}

/// What verifying the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    /// Every link holds; `head` is where the chain ends.
    Intact { head: ChainHead },
    /// The first event whose link does not hold, and why.
    Broken { seq: i64, reason: &'static str },
}

/// An event as stored: its fields, how it says it was linked, the link
/// before it and its own link.
pub(crate) struct StoredEvent<'a> {
    pub fields: EventFields<'a>,
    pub link_kind: &'a str,
    pub prev: &'a [u8],
    pub link: &'a [u8],
}

/// Walks events in order and checks every link, the switch to keyed links,
/// the recorded tip and, when given, a head recorded outside the database.
pub(crate) struct ChainWalker<'k> {
    key: &'k AuditKey,
    prev: [u8; 32],
    expected_seq: i64,
    keyed: bool,
    recorded: Option<ChainHead>,
    /// The link found at the recorded head's sequence number, once walked past.
    at_recorded: Option<[u8; 32]>,
}

impl<'k> ChainWalker<'k> {
    pub fn new(key: &'k AuditKey, recorded: Option<ChainHead>) -> Self {
        ChainWalker {
            key,
            prev: GENESIS,
            expected_seq: 1,
            keyed: false,
            recorded,
            at_recorded: recorded.filter(|r| r.seq == 0).map(|_| GENESIS),
        }
    }

    pub fn step(&mut self, event: &StoredEvent) -> Result<(), ChainReport> {
        let seq = event.fields.seq;
        let broken = |reason| Err(ChainReport::Broken { seq, reason });
        if seq != self.expected_seq {
            return Err(ChainReport::Broken {
                seq: self.expected_seq,
                reason: "event missing",
            });
        }
        if event.prev != self.prev {
            return broken("does not link to the event before it");
        }
        let computed = match LinkKind::parse(event.link_kind) {
            None => return broken("its link kind is unknown"),
            Some(LinkKind::Plain) if self.keyed => return broken("a plain link after the chain was keyed"),
            Some(LinkKind::Plain) => event.fields.plain_link(event.prev),
            Some(LinkKind::Keyed) if !self.keyed && event.fields.kind != KEYED_SWITCH => {
                return broken("the chain turns keyed without its switch event")
            }
            Some(LinkKind::Keyed) => {
                self.keyed = true;
                event.fields.keyed_link(self.key, event.prev)
            }
        };
        if event.link != computed {
            return broken("content does not match its link");
        }
        if self.recorded.is_some_and(|r| r.seq == seq) {
            self.at_recorded = Some(computed);
        }
        self.prev = computed;
        self.expected_seq += 1;
        Ok(())
    }

    /// Checks the walk against the tip recorded in the database (catches
    /// removal at the end), that a non-empty chain ends keyed, and against
    /// the head recorded outside (catches a rewound tip and a rolled-back copy).
    pub fn finish(self, tip_seq: i64, tip_link: &[u8]) -> ChainReport {
        let events = self.expected_seq - 1;
        if tip_seq != events || tip_link != self.prev {
            return ChainReport::Broken {
                seq: events + 1,
                reason: "events missing at the end of the chain",
            };
        }
        if events > 0 && !self.keyed {
            return ChainReport::Broken {
                seq: events,
                reason: "the chain does not end keyed",
            };
        }
        if let Some(recorded) = self.recorded {
            match self.at_recorded {
                None => {
                    return ChainReport::Broken {
                        seq: recorded.seq,
                        reason:
                            "the chain ends before the recorded head: events were removed or the database rolled back",
                    }
                }
                Some(link) if link != recorded.link => {
                    return ChainReport::Broken {
                        seq: recorded.seq,
                        reason: "differs from the recorded head: the chain was rewritten or rolled back",
                    }
                }
                Some(_) => {}
            }
        }
        ChainReport::Intact {
            head: ChainHead {
                seq: events,
                link: self.prev,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiming_vault::Keys;

    #[test]
    fn events_appended_after_the_head_make_a_chain_that_verifies() {
        let key = Keys::generate().derive_audit_key();
        let drafts = [
            crate::AuditDraft {
                kind: KEYED_SWITCH,
                at: 1,
                account_id: None,
                details: serde_json::json!({}),
            },
            crate::AuditDraft::new("account.created", "acc_1", 2, serde_json::json!({ "via": "phone" })),
            crate::AuditDraft::new("session.created", "acc_1", 3, serde_json::json!({})),
        ];
        let (mut seq, mut link) = (0, GENESIS.to_vec());
        let mut walker = ChainWalker::new(&key, None);
        for draft in &drafts {
            let next = NextEvent::after(seq, link.clone(), draft, &key);
            assert_eq!((next.seq, next.prev.as_slice()), (seq + 1, link.as_slice()));
            let stored = StoredEvent {
                fields: EventFields {
                    seq: next.seq,
                    at: next.at,
                    kind: next.kind,
                    account_id: next.account_id.as_deref(),
                    details: &next.details,
                },
                link_kind: next.link_kind,
                prev: &next.prev,
                link: &next.link,
            };
            walker.step(&stored).unwrap();
            (seq, link) = (next.seq, next.link.to_vec());
        }
        assert!(matches!(walker.finish(seq, &link), ChainReport::Intact { head } if head.seq == 3));
        // Under another key, the same events do not verify.
        let other = Keys::generate().derive_audit_key();
        let next = NextEvent::after(0, GENESIS.to_vec(), &drafts[0], &other);
        let mut walker = ChainWalker::new(&key, None);
        let stored = StoredEvent {
            fields: EventFields {
                seq: 1,
                at: next.at,
                kind: next.kind,
                account_id: None,
                details: &next.details,
            },
            link_kind: next.link_kind,
            prev: &next.prev,
            link: &next.link,
        };
        assert!(walker.step(&stored).is_err());
    }

    struct Event {
        kind: &'static str,
        link_kind: LinkKind,
        prev: [u8; 32],
        link: [u8; 32],
    }

    fn fields(seq: i64, kind: &str) -> EventFields<'_> {
        EventFields {
            seq,
            at: 100 + seq,
            kind,
            account_id: Some("acc"),
            details: "{}",
        }
    }

    /// A chain of the given event kinds and link kinds, linked correctly.
    fn chain(key: &AuditKey, spec: &[(&'static str, LinkKind)]) -> Vec<Event> {
        let mut prev = GENESIS;
        let mut events = Vec::new();
        for (i, &(kind, link_kind)) in spec.iter().enumerate() {
            let f = fields(i as i64 + 1, kind);
            let link = match link_kind {
                LinkKind::Plain => f.plain_link(&prev),
                LinkKind::Keyed => f.keyed_link(key, &prev),
            };
            events.push(Event {
                kind,
                link_kind,
                prev,
                link,
            });
            prev = link;
        }
        events
    }

    fn walk(key: &AuditKey, events: &[Event], recorded: Option<ChainHead>) -> ChainReport {
        let mut w = ChainWalker::new(key, recorded);
        for (i, e) in events.iter().enumerate() {
            let stored = StoredEvent {
                fields: fields(i as i64 + 1, e.kind),
                link_kind: e.link_kind.as_str(),
                prev: &e.prev,
                link: &e.link,
            };
            if let Err(r) = w.step(&stored) {
                return r;
            }
        }
        let tip = events.last().map_or(GENESIS, |e| e.link);
        w.finish(events.len() as i64, &tip)
    }

    const SPEC: [(&str, LinkKind); 4] = [
        ("x", LinkKind::Plain),
        (KEYED_SWITCH, LinkKind::Keyed),
        ("x", LinkKind::Keyed),
        ("x", LinkKind::Keyed),
    ];

    #[test]
    fn plain_then_keyed_verifies_only_under_its_key() {
        let key = Keys::generate().derive_audit_key();
        let events = chain(&key, &SPEC);
        let head = ChainHead {
            seq: 4,
            link: events[3].link,
        };
        assert_eq!(walk(&key, &events, None), ChainReport::Intact { head });
        assert_eq!(walk(&key, &events, Some(head)), ChainReport::Intact { head });
        let other = Keys::generate().derive_audit_key();
        assert_eq!(
            walk(&other, &events, None),
            ChainReport::Broken {
                seq: 2,
                reason: "content does not match its link"
            }
        );
        assert_eq!(
            walk(&key, &[], None),
            ChainReport::Intact {
                head: ChainHead { seq: 0, link: GENESIS }
            }
        );
    }

    #[test]
    fn the_switch_rules() {
        let key = Keys::generate().derive_audit_key();
        let broken = |seq, reason| ChainReport::Broken { seq, reason };
        let plain_after = chain(&key, &[SPEC[0], SPEC[1], ("x", LinkKind::Plain)]);
        assert_eq!(
            walk(&key, &plain_after, None),
            broken(3, "a plain link after the chain was keyed")
        );
        let no_switch = chain(&key, &[SPEC[0], ("x", LinkKind::Keyed)]);
        assert_eq!(
            walk(&key, &no_switch, None),
            broken(2, "the chain turns keyed without its switch event")
        );
        let all_plain = chain(&key, &[("x", LinkKind::Plain), ("x", LinkKind::Plain)]);
        assert_eq!(walk(&key, &all_plain, None), broken(2, "the chain does not end keyed"));
    }

    #[test]
    fn a_recorded_head_catches_truncation_and_rewrites() {
        let key = Keys::generate().derive_audit_key();
        let events = chain(&key, &SPEC);
        let recorded = ChainHead {
            seq: 4,
            link: events[3].link,
        };
        assert_eq!(
            walk(&key, &events[..3], Some(recorded)),
            ChainReport::Broken {
                seq: 4,
                reason: "the chain ends before the recorded head: events were removed or the database rolled back"
            }
        );
        let other = chain(&key, &[SPEC[0], SPEC[1], SPEC[2], (KEYED_SWITCH, LinkKind::Keyed)]);
        assert_eq!(
            walk(&key, &other, Some(recorded)),
            ChainReport::Broken {
                seq: 4,
                reason: "differs from the recorded head: the chain was rewritten or rolled back"
            }
        );
        let empty = ChainHead { seq: 0, link: GENESIS };
        assert!(matches!(walk(&key, &events, Some(empty)), ChainReport::Intact { .. }));
    }

    #[test]
    fn links_separate_fields_and_heads_round_trip() {
        let split = |kind, details| EventFields {
            seq: 1,
            at: 1,
            kind,
            account_id: None,
            details,
        };
        assert_ne!(
            split("ab", "c").plain_link(&GENESIS),
            split("a", "bc").plain_link(&GENESIS)
        );
        let head = ChainHead {
            seq: 42,
            link: [0xab; 32],
        };
        assert_eq!(head.to_string(), format!("42:{}", "ab".repeat(32)));
        assert_eq!(head.to_string().parse::<ChainHead>(), Ok(head));
        for bad in ["42", "x:00", "-1:00", &format!("1:{}", "ab".repeat(31))] {
            assert_eq!(bad.parse::<ChainHead>(), Err(ChainHeadError), "{bad}");
        }
    }
}
