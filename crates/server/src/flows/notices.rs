//! Sends the notices a commit queued (to the old phone, to the new one).
//! They are written in the commit's transaction, so a crash loses none; this
//! task claims a few at a time with a lease, so several nodes never send one
//! notice at once, and retries a failed one up to five times.

use std::sync::Arc;
use std::time::Duration;

use shiming_domain::Phone;
use shiming_providers::sms::SmsSender;
use shiming_store::Store;
use shiming_vault::Vault;
use tokio::sync::watch;

use super::rebind::{NOTICE_PHONE, NOTICE_TEXT};
use crate::clock::Clock;

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
        let claimed = match store.claim_notices(clock.now(), 60, 20).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim notices");
                continue;
            }
        };
        for n in claimed {
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
            if let Err(e) = store.finish_notice(n.id, sent, clock.now()).await {
                tracing::warn!(error = %e, "could not record a notice's delivery");
            }
        }
    }
}
