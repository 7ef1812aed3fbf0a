//! Request ids, request logs without query strings, and Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::request_id::RequestId;
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::{Level, Span};

const X_REQUEST_ID: &str = "x-request-id";

/// The process-wide recorder (installed once; servers in one test process share it).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Counts requests and their latency. Every label comes from a fixed set, so
/// that no client can add series without bound: the route template (never
/// the raw path, which may carry ids; one label for every unmatched path),
/// the method if it is a standard one, and the status.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("shiming_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("shiming_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// A standard method as itself; any other (HTTP allows inventing them) as `other`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD.into_iter().find(|m| *m == method.as_str()).unwrap_or("other")
}

/// Drops a client's `X-Request-Id` unless it is one short plain token (at
/// most 64 characters of `A-Z a-z 0-9 . _ -`), so that the request gets a
/// fresh id instead: ids go into every log line and answer, and must carry
/// nothing a client smuggles in (forged log fields, markup, kilobytes).
pub async fn screen_request_id(mut req: Request, next: Next) -> Response {
    let mut ids = req.headers().get_all(X_REQUEST_ID).iter();
    let acceptable = match (ids.next(), ids.next()) {
        (Some(id), None) => is_plain_request_id(id.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !acceptable {
        req.headers_mut().remove(X_REQUEST_ID);
    }
    next.run(req).await
}

fn is_plain_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A span per request naming its method, its path without the query string
/// (queries can carry phone numbers, OAuth codes and states) and its id.
#[derive(Clone)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> Span {
        let id = req
            .extensions()
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    }
}

pub fn trace_layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    RequestSpan,
    (),
    DefaultOnResponse,
> {
    // One line per request only at debug: at INFO it was most of what the
    // service wrote, and a cost on every request. Failures (5xx) are logged
    // at ERROR by the layer's default, which is what an operator acts on.
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
}
