//! Development simulators on the main listener (only with `--dev`).

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use shiming_domain::Phone;

use crate::error::ApiResult;
use crate::flows::outbox::{self, ShownMessage};
use crate::flows::security;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct OutboxQuery {
    phone: Option<String>,
    limit: Option<u32>,
}

/// `GET /dev/sms?phone=…`: the outbox, newest first.
pub async fn sms_outbox(
    State(state): State<AppState>,
    Query(q): Query<OutboxQuery>,
) -> ApiResult<Json<Vec<ShownMessage>>> {
    let phone_hash = match q.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        // A `+` typed unencoded in a query string arrives as a space (trimmed above).
        Some(p) => {
            let phone = if p.starts_with('+') {
                Phone::parse(p)?
            } else {
                Phone::parse(&format!("+{p}"))?
            };
            Some(security::phone_hash(&state.vault, &phone))
        }
        None => None,
    };
    let messages = state
        .store
        .outbox(phone_hash.as_deref(), q.limit.unwrap_or(50).min(500))
        .await?;
    let shown = messages
        .iter()
        .map(|m| outbox::open(&state.vault, m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(shown))
}
