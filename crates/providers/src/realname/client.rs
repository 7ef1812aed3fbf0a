//! The HTTP client of carrier protocol v1.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shiming_domain::{Person, Phone, Secret};

use super::protocol::{CheckRequest, CheckResponse, CheckResult, CHECK_PATH};
use super::{RealNameVerifier, Verdict, VerifierError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarrierConfig {
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5000
}

pub struct CarrierClient {
    client: reqwest::Client,
    url: String,
    api_key: Option<Secret>,
}

impl CarrierClient {
    pub fn new(config: &CarrierConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .expect("a TLS backend is compiled in");
        let url = format!("{}{CHECK_PATH}", config.base_url.trim_end_matches('/'));
        CarrierClient {
            client,
            url,
            api_key: config.api_key.clone(),
        }
    }
}

#[async_trait]
impl RealNameVerifier for CarrierClient {
    async fn check_phone(&self, phone: &Phone, person: &Person) -> Result<Verdict, VerifierError> {
        let request_id = format!("{:032x}", rand_id());
        let body = CheckRequest {
            request_id: request_id.clone(),
            phone: phone.e164().to_owned(),
            name: person.name.as_str().to_owned(),
            id_number: person.id_number.as_str().to_owned(),
        };
        let mut req = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose());
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                VerifierError::Timeout
            } else {
                VerifierError::Unreachable(e.without_url().to_string())
            }
        })?;
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => return Err(VerifierError::Unauthorized),
            s => return Err(VerifierError::Protocol(format!("HTTP {s}"))),
        }
        let answer: CheckResponse = resp.json().await.map_err(|e| {
            if e.is_timeout() {
                VerifierError::Timeout
            } else {
                VerifierError::Protocol("the body is not a check response".into())
            }
        })?;
        if answer.request_id != request_id {
            return Err(VerifierError::Protocol("the answer is for another request".into()));
        }
        Ok(match answer.result {
            CheckResult::Match => Verdict::Match,
            CheckResult::Mismatch | CheckResult::NoRecord => Verdict::Mismatch,
        })
    }
}

/// A request id unique enough to pair an answer with its request.
fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    nanos ^ (u128::from(COUNTER.fetch_add(1, Ordering::Relaxed)) << 64)
}
