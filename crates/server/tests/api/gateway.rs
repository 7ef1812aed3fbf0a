//! An SMS gateway for the tests: a real HTTP server taking the webhook
//! protocol (`POST {"phone", "text"}`), which records every attempt and can
//! be told to fail.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Default)]
struct Books {
    /// Attempts still to refuse with 503.
    failures_left: u32,
    /// Every attempt, delivered or not: (phone, text).
    attempts: Vec<(String, String)>,
    /// Delivered messages, newest first, as `/dev/sms` shows them.
    delivered: Vec<Value>,
}

#[derive(Clone, Default)]
pub struct Gateway(Arc<Mutex<Books>>);

impl Gateway {
    /// Starts the gateway on a port of its own; its webhook URL.
    pub async fn start() -> (Gateway, String) {
        let gateway = Gateway::default();
        let app = Router::new().route("/sms", post(receive)).with_state(gateway.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (gateway, url)
    }

    /// Refuses the next `n` attempts (`u32::MAX`: until told otherwise).
    pub fn fail(&self, n: u32) {
        self.0.lock().unwrap().failures_left = n;
    }

    /// The messages delivered to `phone`, newest first.
    pub fn delivered(&self, phone: &str) -> Vec<Value> {
        let books = self.0.lock().unwrap();
        books
            .delivered
            .iter()
            .filter(|m| m["phone"] == phone)
            .cloned()
            .collect()
    }

    /// How many attempts carried a text containing `needle`.
    pub fn attempts(&self, needle: &str) -> usize {
        let books = self.0.lock().unwrap();
        books.attempts.iter().filter(|(_, text)| text.contains(needle)).count()
    }
}

async fn receive(State(g): State<Gateway>, Json(body): Json<Value>) -> StatusCode {
    let mut books = g.0.lock().unwrap();
    let (phone, text) = (
        body["phone"].as_str().unwrap_or(""),
        body["text"].as_str().unwrap_or(""),
    );
    books.attempts.push((phone.to_owned(), text.to_owned()));
    if books.failures_left > 0 {
        books.failures_left = books
            .failures_left
            .saturating_sub(u32::from(books.failures_left != u32::MAX));
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    books.delivered.insert(0, json!({ "phone": phone, "text": text }));
    StatusCode::OK
}
