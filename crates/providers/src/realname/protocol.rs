//! The JSON shapes of carrier protocol v1, shared by client and dev server.

use serde::{Deserialize, Serialize};

/// Where a three-element check is posted, below the configured base URL.
pub const CHECK_PATH: &str = "/v1/mobile/three-element";

#[derive(Debug, Serialize, Deserialize)]
pub struct CheckRequest {
    pub request_id: String,
    pub phone: String,
    pub name: String,
    pub id_number: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Match,
    Mismatch,
    NoRecord,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CheckResponse {
    pub request_id: String,
    pub result: CheckResult,
}
