//! Sends the notices a commit queued (to the old phone, to the new one).
//! They are written in the commit's transaction, so a crash loses none; this
//! task claims a few at a time with a lease, so several nodes never send one
//! notice at once, and retries a failed one up to five times, waiting longer
//! each time, so that a gateway outage of minutes still lets it through.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use shiming_domain::Phone;
use shiming_providers::sms::SmsSender;
use shiming_store::{Notice, NoticeDelivery, Store};
use shiming_vault::Vault;
use tokio::sync::watch;

use super::rebind::{NOTICE_PHONE, NOTICE_TEXT};
use crate::clock::Clock;

/// Seconds before the retry of a notice that failed `attempts` times before
/// this failure: 30 s, then 1, 2 and 4 minutes; the fifth failure gives up.
fn backoff(attempts: u32) -> i64 {
    30 << attempts.min(10)
}

/// Notices claimed at a time, and sent at once (each claim's notices go
/// out together, so that a gateway's latency is paid once per claim).
const CLAIM: u32 = 20;

/// Sends the queued notices: every tick, claim after claim until the queue
/// is empty (or a claim comes back short), so that a burst of rebinds is
/// delivered as fast as the gateway takes it, not a claim per tick.
pub async fn dispatch(
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    sms: Arc<dyn SmsSender>,
    clock: Clock,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => break,
        }
        loop {
            let claimed = match store.claim_notices(clock.now(), 60, CLAIM).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim notices");
                    break;
                }
            };
            let full = claimed.len() == CLAIM as usize;
            join_all(claimed.into_iter().map(|n| deliver(&*store, &vault, &*sms, &clock, n))).await;
            if !full || *stopped.borrow() {
                break;
            }
        }
    }
}

/// Sends one claimed notice and records how it went.
async fn deliver(store: &dyn Store, vault: &Vault, sms: &dyn SmsSender, clock: &Clock, n: Notice) {
    // A retry waits from when the try began, not from when the gateway
    // answered: a slow answer does not push the next try further out.
    let tried_at = clock.now();
    let opened = vault
        .open_string(NOTICE_PHONE, &n.phone_sealed)
        .ok()
        .and_then(|p| Phone::parse(&p).ok())
        .zip(vault.open_string(NOTICE_TEXT, &n.text_sealed).ok());
    let sent = match opened {
        Some((phone, text)) => match sms.send(&phone, &text).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(notice = n.id, attempt = n.attempts + 1, error = %e, "notice not sent");
                false
            }
        },
        None => {
            tracing::error!(notice = n.id, "a notice cannot be opened");
            false
        }
    };
    let delivery = if sent {
        NoticeDelivery::Sent { at: clock.now() }
    } else {
        NoticeDelivery::Failed {
            retry_at: tried_at + backoff(n.attempts),
        }
    };
    if let Err(e) = store.finish_notice(n.id, delivery).await {
        tracing::warn!(error = %e, "could not record a notice's delivery");
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn retries_wait_longer_each_time() {
        let waits: Vec<i64> = (0..4).map(backoff).collect();
        assert_eq!(waits, [30, 60, 120, 240]);
    }
}
