//! The audit chain: each event's hash covers the previous event's hash and
//! the event itself, so altering or removing any event breaks every later link.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// The hash of one event. Every field is length-prefixed so that no two
/// different events hash alike by shifting bytes between fields.
pub fn event_hash(prev: &[u8], seq: i64, at: i64, kind: &str, account_id: Option<&str>, details: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    for field in [kind, account_id.unwrap_or("\u{0}"), details] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// What verifying the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    Intact {
        events: i64,
    },
    /// The first event whose link does not hold, and why.
    Broken {
        seq: i64,
        reason: &'static str,
    },
}

/// Walks events in order and checks every link and the recorded tip.
pub(crate) struct ChainWalker {
    prev: [u8; 32],
    expected_seq: i64,
}

impl ChainWalker {
    pub fn new() -> Self {
        ChainWalker {
            prev: GENESIS,
            expected_seq: 1,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        seq: i64,
        at: i64,
        kind: &str,
        account_id: Option<&str>,
        details: &str,
        prev_hash: &[u8],
        hash: &[u8],
    ) -> Result<(), ChainReport> {
        let broken = |reason| Err(ChainReport::Broken { seq, reason });
        if seq != self.expected_seq {
            return Err(ChainReport::Broken {
                seq: self.expected_seq,
                reason: "event missing",
            });
        }
        if prev_hash != self.prev {
            return broken("does not link to the event before it");
        }
        let computed = event_hash(prev_hash, seq, at, kind, account_id, details);
        if hash != computed {
            return broken("content does not match its hash");
        }
        self.prev = computed;
        self.expected_seq += 1;
        Ok(())
    }

    /// Checks the walk against the recorded tip (catches removal at the end).
    pub fn finish(self, head_seq: i64, head_hash: &[u8]) -> ChainReport {
        let events = self.expected_seq - 1;
        if head_seq != events || head_hash != self.prev {
            return ChainReport::Broken {
                seq: events + 1,
                reason: "events missing at the end of the chain",
            };
        }
        ChainReport::Intact { events }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_three_and_its_breaks() {
        let mut events = Vec::new();
        let mut prev = GENESIS;
        for seq in 1..=3 {
            let h = event_hash(&prev, seq, 100 + seq, "x", Some("acc"), "{}");
            events.push((seq, prev, h));
            prev = h;
        }
        let walk = |evs: &[(i64, [u8; 32], [u8; 32])], details_of_2: &str, head: (i64, [u8; 32])| {
            let mut w = ChainWalker::new();
            for (seq, p, h) in evs {
                let d = if *seq == 2 { details_of_2 } else { "{}" };
                if let Err(r) = w.step(*seq, 100 + seq, "x", Some("acc"), d, p, h) {
                    return r;
                }
            }
            w.finish(head.0, &head.1)
        };
        assert_eq!(walk(&events, "{}", (3, prev)), ChainReport::Intact { events: 3 });
        assert_eq!(
            walk(&events, "{\"a\":1}", (3, prev)),
            ChainReport::Broken {
                seq: 2,
                reason: "content does not match its hash"
            }
        );
        let without_2 = [events[0], events[2]];
        assert_eq!(
            walk(&without_2, "{}", (3, prev)),
            ChainReport::Broken {
                seq: 2,
                reason: "event missing"
            }
        );
        assert_eq!(
            walk(&events[..2], "{}", (3, prev)).clone(),
            ChainReport::Broken {
                seq: 3,
                reason: "events missing at the end of the chain"
            }
        );
        assert_ne!(
            event_hash(&GENESIS, 1, 1, "ab", None, "c"),
            event_hash(&GENESIS, 1, 1, "a", None, "bc")
        );
    }
}
