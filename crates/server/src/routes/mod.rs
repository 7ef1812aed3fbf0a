//! The HTTP surface: `fn app() -> Router`.

mod account;
mod auth;
mod dev;
mod ops;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::routing::{delete, get, post};
use axum::Router;
use shiming_providers::realname::DevCarrier;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// The whole service. `dev_carrier` is mounted (its admin API) only in dev.
pub fn app(state: AppState, dev_carrier: Option<&Arc<DevCarrier>>) -> Router {
    let api = Router::new()
        .route("/sms/send", post(auth::sms_send))
        .route("/login/phone", post(auth::login_phone))
        .route("/logout", post(auth::logout))
        .route("/whoami", get(auth::whoami))
        .route("/account/security", get(account::security_view))
        .route("/account/real-name/phone", post(account::real_name_phone))
        .route("/account/sessions", get(account::sessions))
        .route("/account/sessions/others", delete(account::revoke_other_sessions))
        .route("/account/sessions/{id}", delete(account::revoke_session));

    let mut router = Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics));
    if state.config.dev {
        router = router.route("/dev/sms", get(dev::sms_outbox));
    }
    let mut router = router
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state.clone());
    if let Some(carrier) = dev_carrier {
        router = router.merge(carrier.admin_router());
    }

    let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
    router
        .layer(axum::middleware::from_fn(telemetry::record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveHeadersLayer::new([AUTHORIZATION, COOKIE, SET_COOKIE]))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(telemetry::trace_layer())
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    timeout,
                ))
                .layer(DefaultBodyLimit::max(64 * 1024)),
        )
}
