//! Time as the service sees it. A running service reads the system clock; a
//! test holds a manual clock it sets and moves on, so that every rule of
//! time (expiries, cool-downs, windows, caps) is tested at its real setting
//! without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use time::macros::offset;
use time::{Date, OffsetDateTime};

#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock standing at `at` (unix seconds) until it is moved.
    pub fn manual(at: i64) -> Self {
        Clock(Some(Arc::new(AtomicI64::new(at))))
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(at) => at.load(Ordering::SeqCst),
            None => OffsetDateTime::now_utc().unix_timestamp(),
        }
    }

    /// Today's date in China (UTC+8), where the dates of resident ID cards are written.
    pub fn today_in_china(&self) -> Date {
        OffsetDateTime::from_unix_timestamp(self.now())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(offset!(+8))
            .date()
    }

    /// Moves a manual clock on by `secs`.
    ///
    /// # Panics
    /// On the system clock, which nobody moves.
    pub fn advance(&self, secs: i64) {
        self.0
            .as_ref()
            .expect("only a manual clock is moved")
            .fetch_add(secs, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_until_moved() {
        let c = Clock::manual(1_000);
        assert_eq!(c.now(), 1_000);
        c.clone().advance(59);
        assert_eq!(c.now(), 1_059, "clones share the time");
        assert!(Clock::system().now() > 1_700_000_000);
        // 16:00 UTC on New Year's Eve is already New Year's Day in China.
        assert_eq!(
            Clock::manual(1_767_225_600 - 8 * 3600).today_in_china(),
            time::macros::date!(2026 - 01 - 01)
        );
    }
}
