//! Rebinds waiting for the approval of the enterprise that manages the
//! account: listed, approved and denied by the owner and admins.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::enterprises::ReasonBody;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::flows::approvals;
use crate::flows::enterprises::admin_of;
use crate::session::Authenticated;
use crate::state::AppState;

/// `GET /api/v1/enterprises/{id}/rebind-approvals`: the rebinds waiting,
/// oldest first.
pub async fn list(State(state): State<AppState>, who: Authenticated, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    admin_of(&state, &who, &id).await?;
    Ok(Json(approvals::open(&state, &id).await?))
}

/// `POST …/rebind-approvals/{approval_id}/approve`: commits the member's
/// rebind as they previewed it.
pub async fn approve(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, approval_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(approvals::approve(&state, &who, &id, &approval_id).await?))
}

/// `POST …/rebind-approvals/{approval_id}/deny` `{"reason"}`: ends the
/// member's change; they see the reason.
pub async fn deny(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, approval_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        approvals::deny(&state, &who, &id, &approval_id, &body.reason).await?,
    ))
}
