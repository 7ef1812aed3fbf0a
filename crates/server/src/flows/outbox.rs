//! The development SMS outbox: an [`SmsSender`] that stores messages, sealed,
//! in the database, where `/dev/sms` reads them.

use std::sync::Arc;

use async_trait::async_trait;
use shiming_domain::Phone;
use shiming_providers::sms::{SmsError, SmsSender};
use shiming_store::{OutboxMessage, Store};
use shiming_vault::Vault;

use crate::clock::Clock;
use crate::state::rfc3339;

pub struct OutboxSender {
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    pub clock: Clock,
}

const PHONE: &str = "outbox.phone";
const TEXT: &str = "outbox.text";

impl OutboxSender {
    /// `text` to `to` as the outbox stores it, sealed.
    pub fn message(&self, to: &Phone, text: &str) -> OutboxMessage {
        OutboxMessage {
            phone_hash: super::security::phone_hash(&self.vault, to),
            phone_sealed: self.vault.seal(PHONE, to.e164().as_bytes()),
            text_sealed: self.vault.seal(TEXT, text.as_bytes()),
            sent_at: self.clock.now(),
        }
    }
}

#[async_trait]
impl SmsSender for OutboxSender {
    async fn send(&self, to: &Phone, text: &str) -> Result<(), SmsError> {
        self.store
            .push_outbox(self.message(to, text))
            .await
            .map_err(|e| SmsError::Outbox(e.to_string()))
    }
}

/// One message as `/dev/sms` shows it.
#[derive(serde::Serialize)]
pub struct ShownMessage {
    pub phone: String,
    pub text: String,
    pub sent_at: String,
}

pub fn open(vault: &Vault, m: &OutboxMessage) -> Result<ShownMessage, shiming_vault::VaultError> {
    Ok(ShownMessage {
        phone: vault.open_string(PHONE, &m.phone_sealed)?,
        text: vault.open_string(TEXT, &m.text_sealed)?,
        sent_at: rfc3339(m.sent_at),
    })
}
