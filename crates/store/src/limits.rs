//! The rules of the sliding-window rate limits, apart from any database.
//!
//! A key's hits are counted per second, and its count is kept as the sum of
//! them. A take looks at the count first: under the limit, there is room
//! (old hits included, so there is room within the window too). At the
//! limit, the seconds that left the window are pruned and uncounted, and
//! the count is looked at again: still at the limit, the take is refused,
//! with the time until the oldest second in the window leaves it. Each
//! backend holds the SQL of those reads and writes, inside the transaction
//! that counts the hit, so that parallel takes cannot both get the last slot.

use crate::{RateLimit, StoreError};

impl RateLimit {
    /// Whether a count of `hits` leaves no room.
    pub fn is_full(&self, hits: i64) -> bool {
        hits >= i64::from(self.limit)
    }

    /// The newest second that has left the window: hits at or before it are
    /// pruned.
    pub fn expired_through(&self) -> i64 {
        self.now - self.window
    }

    /// The refusal of a full window whose oldest hit is at `oldest`: retry
    /// when that second leaves the window, and never sooner than in a second.
    pub fn refusal(&self, oldest: Option<i64>) -> StoreError {
        let retry_after = oldest.map_or(self.window, |t| t + self.window - self.now).max(1);
        StoreError::RateLimited {
            bucket: self.bucket.clone(),
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(limit: u32) -> RateLimit {
        RateLimit {
            bucket: "b".into(),
            key: vec![1],
            window: 60,
            limit,
            now: 1_000,
        }
    }

    #[test]
    fn a_window_is_full_at_its_limit() {
        assert!(!limit(3).is_full(2));
        assert!(limit(3).is_full(3));
        assert!(limit(0).is_full(0), "a limit of 0 refuses everything");
    }

    #[test]
    fn a_hit_exactly_one_window_old_has_left_it() {
        assert_eq!(limit(3).expired_through(), 940);
    }

    #[test]
    fn a_refusal_says_when_the_oldest_hit_leaves_the_window() {
        let retry = |oldest| match limit(1).refusal(oldest) {
            StoreError::RateLimited { bucket, retry_after } => {
                assert_eq!(bucket, "b");
                retry_after
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(retry(Some(950)), 10);
        assert_eq!(retry(Some(1_000)), 60);
        // Never "retry now": a second at least.
        assert_eq!(retry(Some(940)), 1);
        // Nothing in the window (a limit of 0): a whole window.
        assert_eq!(retry(None), 60);
    }
}
