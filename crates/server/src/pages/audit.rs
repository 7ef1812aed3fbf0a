//! A log as people read it: the account's own security log, and an
//! enterprise's, by time and name (their details hold ids and keyed hashes,
//! which mean nothing to people), a page at a time.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::i18n::{Lang, Text};
use super::{page, Frame};

/// An event as the log shows it.
pub(super) struct EventRow {
    pub at: String,
    pub what: &'static str,
    /// Who did it and to whom, where the log names them; may be empty.
    pub detail: String,
}

/// A page of a log.
pub(super) struct AuditShown {
    /// The page's own path, for the language switch.
    pub here: String,
    pub heading: &'static str,
    /// Newest first.
    pub events: Vec<EventRow>,
    /// The link to older events, when there are more.
    pub older: Option<String>,
    /// (where, what the link says) back.
    pub back: (String, &'static str),
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    lang: Lang,
    t: &'static Text,
    here: String,
    signed_in: Option<String>,
    log: AuditShown,
}

/// The page of `log`.
pub(super) fn audit_list(frame: &Frame, log: AuditShown) -> Response {
    page(
        StatusCode::OK,
        &AuditPage {
            here: log.here.clone(),
            log,
            lang: frame.lang,
            t: frame.t,
            signed_in: frame.signed_in.clone(),
        },
    )
}
