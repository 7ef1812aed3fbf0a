//! A generic HTTP webhook: POSTs `{"phone", "text"}` as JSON to a configured
//! URL, for operators whose SMS gateway (or their own relay) takes that.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shiming_domain::{Phone, Secret};

use super::{SmsError, SmsSender};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// Per attempt.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Further attempts after the first, on network failures and 5xx answers.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_retries() -> u32 {
    2
}

pub struct WebhookSender {
    client: reqwest::Client,
    config: WebhookConfig,
}

impl WebhookSender {
    pub fn new(config: WebhookConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .expect("a TLS backend is compiled in");
        WebhookSender { client, config }
    }

    async fn attempt(&self, to: &Phone, text: &str) -> Result<(), Attempt> {
        let mut req = self
            .client
            .post(&self.config.url)
            .json(&serde_json::json!({ "phone": to.e164(), "text": text }));
        if let Some(token) = &self.config.bearer_token {
            req = req.bearer_auth(token.expose());
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) if resp.status().is_server_error() || resp.status().as_u16() == 429 => {
                Err(Attempt::Retry(format!("HTTP {}", resp.status().as_u16())))
            }
            Ok(resp) => Err(Attempt::Final(SmsError::Refused {
                status: resp.status().as_u16(),
            })),
            // reqwest's error text names the URL, never the body: safe to keep.
            Err(e) if e.is_timeout() => Err(Attempt::Retry("timed out".into())),
            Err(e) => Err(Attempt::Retry(e.without_url().to_string())),
        }
    }
}

enum Attempt {
    Retry(String),
    Final(SmsError),
}

#[async_trait]
impl SmsSender for WebhookSender {
    async fn send(&self, to: &Phone, text: &str) -> Result<(), SmsError> {
        let attempts = self.config.retries + 1;
        let mut reason = String::new();
        for n in 0..attempts {
            if n > 0 {
                // 100 ms, 200 ms, 400 ms…: short, since a person is waiting for the code.
                tokio::time::sleep(Duration::from_millis(100 << (n - 1).min(5))).await;
            }
            match self.attempt(to, text).await {
                Ok(()) => return Ok(()),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Retry(r)) => {
                    tracing::warn!(attempt = n + 1, reason = %r, "SMS webhook attempt failed");
                    reason = r;
                }
            }
        }
        Err(SmsError::Unreachable { attempts, reason })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::{Json, Router};

    use super::*;

    type Received = Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

    /// A gateway on a real port that fails the first `fail_first` requests with 503,
    /// or hangs when `hang` is set, and records what it accepted.
    async fn gateway(fail_first: u32, hang: bool, final_status: StatusCode) -> (String, Arc<AtomicU32>, Received) {
        let calls = Arc::new(AtomicU32::new(0));
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let state = (calls.clone(), got.clone());
        let app = Router::new()
            .route(
                "/sms",
                post(
                    move |State((calls, got)): State<(Arc<AtomicU32>, Received)>,
                          headers: HeaderMap,
                          Json(body): Json<serde_json::Value>| async move {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        if hang {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        if n < fail_first {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer t0ken") {
                            return StatusCode::UNAUTHORIZED;
                        }
                        got.lock().unwrap().push(body);
                        final_status
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, calls, got)
    }

    fn sender(url: String, retries: u32, timeout_ms: u64) -> WebhookSender {
        WebhookSender::new(WebhookConfig {
            url,
            bearer_token: Some("t0ken".into()),
            timeout_ms,
            retries,
        })
    }

    fn phone() -> Phone {
        Phone::parse("+8613912345678").unwrap()
    }

    #[tokio::test]
    async fn delivers_after_retrying_server_errors() {
        let (url, calls, got) = gateway(2, false, StatusCode::ACCEPTED).await;
        sender(url, 2, 2000).send(&phone(), "code 123456").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            got.lock().unwrap()[0],
            serde_json::json!({"phone": "+8613912345678", "text": "code 123456"})
        );
    }

    #[tokio::test]
    async fn gives_up_after_bounded_retries() {
        let (url, calls, got) = gateway(10, false, StatusCode::OK).await;
        let err = sender(url, 2, 2000).send(&phone(), "x").await.unwrap_err();
        assert!(matches!(err, SmsError::Unreachable { attempts: 3, .. }), "{err:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(got.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried() {
        let (url, calls, _) = gateway(0, false, StatusCode::BAD_REQUEST).await;
        let err = sender(url, 3, 2000).send(&phone(), "x").await.unwrap_err();
        assert!(matches!(err, SmsError::Refused { status: 400 }), "{err:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_hanging_gateway_times_out() {
        let (url, calls, _) = gateway(0, true, StatusCode::OK).await;
        let err = sender(url, 1, 200).send(&phone(), "x").await.unwrap_err();
        assert!(
            matches!(&err, SmsError::Unreachable { attempts: 2, reason } if reason == "timed out"),
            "{err:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unreachable_gateway_fails_clearly() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        drop(listener);
        let err = sender(url, 0, 500).send(&phone(), "x").await.unwrap_err();
        assert!(matches!(err, SmsError::Unreachable { attempts: 1, .. }), "{err:?}");
    }
}
