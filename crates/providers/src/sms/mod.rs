//! Sending SMS messages.

mod webhook;

use async_trait::async_trait;
use shiming_domain::Phone;
use thiserror::Error;

pub use webhook::{WebhookConfig, WebhookSender};

#[derive(Debug, Error)]
pub enum SmsError {
    /// The gateway answered, and refused the message.
    #[error("the SMS gateway refused the message (HTTP {status})")]
    Refused { status: u16 },
    /// The gateway did not answer in time or could not be reached, after every retry.
    #[error("the SMS gateway could not be reached after {attempts} attempts: {reason}")]
    Unreachable { attempts: u32, reason: String },
    /// Storing the message (the development outbox) failed.
    #[error("the SMS outbox could not store the message: {0}")]
    Outbox(String),
}

/// Sends one text message. Succeeds only when the message was accepted for
/// delivery; a failure means it was not sent.
#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, to: &Phone, text: &str) -> Result<(), SmsError>;
}
