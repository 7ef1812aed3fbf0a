//! Validated sessions kept in memory in front of the database, so that the
//! session check every platform request makes reads no row.
//!
//! **Invalidation is immediate.** Every store write that changes what a
//! session check answers (a sign-out, a revocation, a step-up, a rebind
//! commit, a change of the account's state or nature) forgets the account's
//! cached sessions after its commit and before it returns, so the request
//! after it reads the database again.
//!
//! **No stale fill.** A lookup that misses notes the cache's generation
//! before it reads the database and stores what it read only if no
//! invalidation happened meanwhile; otherwise a read from before a commit
//! could be cached after the commit forgot the account.
//!
//! Across nodes (a shared database), a backend delivers other nodes'
//! invalidations by its notifications and calls [`SessionCache::forget_all`]
//! when it may have missed some (a lost connection to the notifications).
//! There, other nodes' last-seen updates are not announced (they are the
//! one frequent write), so entries are kept for a bounded age only
//! ([`SessionCache::aging`]): a session used on one node only is never taken
//! for idle on another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::SessionRecord;

/// The session cache of one store. A capacity of 0 turns it off.
pub struct SessionCache {
    capacity: usize,
    /// How long an entry is kept, if not for as long as it is valid.
    max_age: Option<Duration>,
    /// Moves on at every invalidation.
    generation: AtomicU64,
    entries: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Each session, and when it was read from the database.
    by_token: HashMap<Vec<u8>, (SessionRecord, Instant)>,
    /// Session id → token hash, for last-seen updates.
    by_session: HashMap<String, Vec<u8>>,
    /// Account id → its cached sessions' token hashes.
    by_account: HashMap<String, Vec<Vec<u8>>>,
}

impl SessionCache {
    pub fn new(capacity: usize) -> Self {
        SessionCache {
            capacity,
            max_age: None,
            generation: AtomicU64::new(0),
            entries: RwLock::default(),
        }
    }

    /// A cache whose entries are read again from the database once they
    /// are `max_age` old.
    pub fn aging(capacity: usize, max_age: Duration) -> Self {
        SessionCache {
            max_age: Some(max_age),
            ..SessionCache::new(capacity)
        }
    }

    /// The cached session of a token hash.
    pub fn get(&self, token_hash: &[u8]) -> Option<SessionRecord> {
        if self.capacity == 0 {
            return None;
        }
        let entries = self.read();
        let (record, read_at) = entries.by_token.get(token_hash)?;
        match self.max_age {
            Some(max) if read_at.elapsed() >= max => None,
            _ => Some(record.clone()),
        }
    }

    /// To be read before a lookup that may fill the cache.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps what a lookup read, unless an invalidation happened since
    /// `generation` was read (the row may predate it).
    pub fn fill(&self, token_hash: &[u8], record: &SessionRecord, generation: u64) {
        if self.capacity == 0 {
            return;
        }
        let mut e = self.write();
        if self.generation() != generation {
            return;
        }
        if e.by_token.len() >= self.capacity {
            // Rare, and the cache is only an accelerator: start again.
            *e = Entries::default();
        }
        let fresh = (record.clone(), Instant::now());
        // An aged entry read again is replaced, not listed twice.
        if e.by_token.insert(token_hash.to_vec(), fresh).is_none() {
            e.by_session.insert(record.id.clone(), token_hash.to_vec());
            e.by_account
                .entry(record.account_id.clone())
                .or_default()
                .push(token_hash.to_vec());
        }
    }

    /// Forgets every cached session of the account.
    pub fn forget_account(&self, account_id: &str) {
        let mut e = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        for token in e.by_account.remove(account_id).unwrap_or_default() {
            if let Some((s, _)) = e.by_token.remove(&token) {
                e.by_session.remove(&s.id);
            }
        }
    }

    /// Forgets everything (another node's changes may have been missed).
    pub fn forget_all(&self) {
        let mut e = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        *e = Entries::default();
    }

    /// Moves cached last-seen times on, as the database's were.
    pub fn touch(&self, seen: &[(String, i64)]) {
        if self.capacity == 0 {
            return;
        }
        let mut e = self.write();
        let Entries {
            by_token, by_session, ..
        } = &mut *e;
        for (session_id, at) in seen {
            if let Some((s, _)) = by_session.get(session_id).and_then(|t| by_token.get_mut(t)) {
                s.last_seen_at = s.last_seen_at.max(*at);
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        // A panic while holding the lock leaves whole entries: still usable.
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use shiming_domain::{AccountState, Nature};

    use super::*;

    fn record(id: &str, account: &str) -> SessionRecord {
        SessionRecord {
            id: id.into(),
            account_id: account.into(),
            account_state: AccountState::Active,
            account_nature: Nature::Personal,
            user_agent: None,
            created_at: 1,
            last_seen_at: 1,
            expires_at: 100,
            step_up_until: None,
        }
    }

    #[test]
    fn forgetting_an_account_drops_its_sessions_only() {
        let c = SessionCache::new(10);
        for (t, s, a) in [(b"t1", "s1", "a"), (b"t2", "s2", "a"), (b"t3", "s3", "b")] {
            c.fill(t, &record(s, a), c.generation());
        }
        c.forget_account("a");
        assert!(c.get(b"t1").is_none() && c.get(b"t2").is_none());
        assert_eq!(c.get(b"t3").unwrap().id, "s3");
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_not_kept() {
        let c = SessionCache::new(10);
        let before = c.generation();
        c.forget_account("a");
        c.fill(b"t", &record("s", "a"), before);
        assert!(c.get(b"t").is_none());
        c.fill(b"t", &record("s", "a"), c.generation());
        assert!(c.get(b"t").is_some());
    }

    #[test]
    fn last_seen_moves_forward_only_and_a_full_cache_starts_again() {
        let c = SessionCache::new(2);
        c.fill(b"t1", &record("s1", "a"), c.generation());
        c.touch(&[("s1".into(), 50), ("gone".into(), 60)]);
        c.touch(&[("s1".into(), 40)]);
        assert_eq!(c.get(b"t1").unwrap().last_seen_at, 50);
        c.fill(b"t2", &record("s2", "a"), c.generation());
        c.fill(b"t3", &record("s3", "b"), c.generation());
        assert!(c.get(b"t1").is_none() && c.get(b"t3").is_some());
        assert!(SessionCache::new(0).get(b"t3").is_none());
    }

    #[test]
    fn an_aging_cache_reads_an_old_entry_again() {
        let c = SessionCache::aging(10, Duration::from_millis(30));
        c.fill(b"t", &record("s", "a"), c.generation());
        assert!(c.get(b"t").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get(b"t").is_none());
        c.fill(b"t", &record("s", "a"), c.generation());
        assert!(c.get(b"t").is_some(), "filled again, young again");
        assert_eq!(c.read().by_account["a"].len(), 1, "listed once");
        c.forget_account("a");
        assert!(c.get(b"t").is_none());
    }
}
