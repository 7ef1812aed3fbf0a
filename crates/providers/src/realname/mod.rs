//! Real-name verification of a phone: the carrier three-element check (name,
//! resident ID number, and the phone number registered to them).
//!
//! The wire protocol ("shiming carrier protocol v1") is documented in
//! docs/providers.md; [`CarrierClient`] speaks it, and [`DevCarrier`] serves it
//! with test persons for development and tests.

mod client;
mod dev;
mod protocol;

use async_trait::async_trait;
use shiming_domain::{Person, Phone};
use thiserror::Error;

pub use client::{CarrierClient, CarrierConfig};
pub use dev::{test_persons, DevCarrier, Fault, TestPerson};

/// What the carrier says of a phone and a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The phone is registered to this person.
    Match,
    /// It is not, or the carrier has no record of the phone or the person.
    Mismatch,
}

#[derive(Debug, Error)]
pub enum VerifierError {
    #[error("the real-name verifier did not answer in time")]
    Timeout,
    #[error("the real-name verifier could not be reached: {0}")]
    Unreachable(String),
    #[error("the real-name verifier refused shiming's credentials")]
    Unauthorized,
    #[error("the real-name verifier answered something unexpected: {0}")]
    Protocol(String),
}

#[async_trait]
pub trait RealNameVerifier: Send + Sync {
    async fn check_phone(&self, phone: &Phone, person: &Person) -> Result<Verdict, VerifierError>;
}
