//! The HTTP surface: `fn app() -> Router`.

mod account;
mod approvals;
mod auth;
mod dev;
mod enterprises;
mod invitations;
mod ops;
mod rebind;
mod wechat;

pub(crate) use wechat::start as wechat_start;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::routing::{delete, get, post};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// The whole service. `simulators` (the development simulators' admin APIs)
/// are mounted only in dev.
pub fn app(state: AppState, simulators: Option<Router>) -> Router {
    let api = Router::new()
        .route("/sms/send", post(auth::sms_send))
        .route("/login/phone", post(auth::login_phone))
        .route("/logout", post(auth::logout))
        .route("/whoami", get(auth::whoami))
        .route("/account/security", get(account::security_view))
        .route("/account/real-name/phone", post(account::real_name_phone))
        .route("/account/real-name/wechat", post(account::real_name_wechat))
        .route("/account/sessions", get(account::sessions))
        .route("/account/sessions/others", delete(account::revoke_other_sessions))
        .route("/account/sessions/{id}", delete(account::revoke_session))
        .route("/step-up/sms", post(rebind::step_up_sms))
        .route("/step-up/verify", post(rebind::step_up_verify))
        .route(
            "/account/phone/change",
            get(rebind::phone_change_preview).post(rebind::phone_change),
        )
        .route("/account/phone/change/verify", post(rebind::phone_change_verify))
        .route("/account/phone/change/confirm", post(rebind::phone_change_confirm))
        .route("/account/audit", get(rebind::audit))
        .route("/account/rebind-approvals", get(rebind::approvals))
        .route("/account/notices", get(account::notices))
        .route("/account/notices/read", post(account::read_notices))
        .route("/account/wechat/rebind/start", get(wechat::rebind_start))
        .route("/account/wechat/rebind", get(rebind::wechat_rebind_preview))
        .route(
            "/account/wechat/rebind/real-name",
            post(rebind::wechat_rebind_real_name),
        )
        .route("/account/wechat/rebind/confirm", post(rebind::wechat_rebind_confirm))
        .route(
            "/account/wechat/unbind",
            get(rebind::wechat_unbind_preview).post(rebind::wechat_unbind),
        )
        .route("/enterprises", get(enterprises::list).post(enterprises::create))
        .route("/enterprises/{id}", get(enterprises::one).patch(enterprises::update))
        .route(
            "/enterprises/{id}/members",
            get(enterprises::members).post(invitations::add_member),
        )
        .route(
            "/enterprises/{id}/members/{account_id}",
            delete(enterprises::remove).patch(enterprises::set_role),
        )
        .route(
            "/enterprises/{id}/members/{account_id}/approve",
            post(enterprises::approve),
        )
        .route(
            "/enterprises/{id}/members/{account_id}/freeze",
            post(enterprises::freeze),
        )
        .route(
            "/enterprises/{id}/members/{account_id}/unfreeze",
            post(enterprises::unfreeze),
        )
        .route("/enterprises/{id}/audit", get(enterprises::audit_log))
        .route("/enterprises/{id}/leave", post(enterprises::leave))
        .route("/enterprises/{id}/transfer", post(enterprises::transfer))
        .route(
            "/enterprises/{id}/invitations",
            get(invitations::list).post(invitations::invite),
        )
        .route(
            "/enterprises/{id}/invitations/{invitation_id}",
            delete(invitations::revoke),
        )
        .route("/enterprises/{id}/rebind-approvals", get(approvals::list))
        .route(
            "/enterprises/{id}/rebind-approvals/{approval_id}/approve",
            post(approvals::approve),
        )
        .route(
            "/enterprises/{id}/rebind-approvals/{approval_id}/deny",
            post(approvals::deny),
        )
        .route("/invitations/{code}", get(invitations::one))
        .route("/invitations/{code}/accept", post(invitations::accept))
        .route("/invitations/{code}/decline", post(invitations::decline))
        .route("/step-up/wechat/start", get(wechat::step_up_start))
        .route("/wechat/login/start", get(wechat::login_start))
        .route("/wechat/bind/start", get(wechat::bind_start))
        .route("/wechat/callback", get(wechat::callback));

    let mut router = Router::new()
        .nest("/api/v1", api)
        .merge(crate::pages::router())
        .route("/wechat/done", get(wechat::done))
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
    if let Some(simulators) = simulators {
        router = router.merge(simulators);
    }

    let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
    router
        .layer(axum::middleware::from_fn(telemetry::record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveHeadersLayer::new([AUTHORIZATION, COOKIE, SET_COOKIE]))
                .layer(axum::middleware::from_fn(telemetry::screen_request_id))
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
