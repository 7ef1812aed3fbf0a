//! Request extractors whose failures are typed API errors.

use std::error::Error;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::rejection::{JsonDataError, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body; malformed JSON and wrong shapes are 400s with our error body.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::InvalidRequest(shape_error(&e))),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::InvalidJson(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::InvalidJson("send Content-Type: application/json".into()))
            }
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge),
            Err(e) => Err(ApiError::InvalidRequest(e.body_text())),
        }
    }
}

/// What a body that is JSON, but not of the shape asked for, is told: in the
/// contract's own words, naming the field. Never serde's text, which lists
/// the variants an enum has (some accepted only by other endpoints) and
/// names Rust types.
fn shape_error(rejection: &JsonDataError) -> String {
    type PathError = serde_path_to_error::Error<serde_json::Error>;
    let mut source: Option<&(dyn Error + 'static)> = Some(rejection);
    let found = std::iter::from_fn(|| {
        let e = source?;
        source = e.source();
        Some(e)
    })
    .find_map(|e| e.downcast_ref::<PathError>());
    let Some(e) = found else {
        return "the request body does not have the shape this endpoint expects".into();
    };
    // serde's own wording, kept to the field name it quotes (from our types, not the client).
    let message = e.inner().to_string();
    let path = e.path().to_string();
    let at_root = path == ".";
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return if at_root {
            format!("missing field `{name}`")
        } else {
            format!("missing field `{path}.{name}`")
        };
    }
    if at_root {
        "the request body must be a JSON object with the fields this endpoint documents".into()
    } else if message.starts_with("invalid type:") {
        format!("field `{path}` has the wrong type")
    } else {
        format!("field `{path}` has a value this endpoint does not accept")
    }
}

/// The client as per-address limits count it: the peer's address, or the
/// configured proxy header's last entry, keyed by [`limit_key`].
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(name) = &state.config.http.client_ip_header {
            // A header sent on several lines is one list: the proxy appended
            // to its last line the address it saw.
            let forwarded = parts
                .headers
                .get_all(name.as_str())
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok());
            if let Some(ip) = forwarded {
                return Ok(ClientIp(limit_key(ip)));
            }
        }
        let ConnectInfo(addr) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("no peer address on the connection".into()))?;
        Ok(ClientIp(limit_key(addr.ip())))
    }
}

/// An IPv4 address as itself (an IPv4-mapped IPv6 address too), an IPv6
/// address as its /64: one subscriber's network, inside which a client can
/// take a new address for every request.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| limit_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:3::1"), "2001:db8:1:3::");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::1"), "::");
    }
}
