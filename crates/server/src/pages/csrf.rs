//! CSRF tokens of the pages' forms: a keyed hash of what the form belongs
//! to, the session (signed in) or a random browser id in a cookie of its own
//! (signing in, so that nobody can sign a victim in to an account of theirs).
//! A post carries the token in a hidden field; a missing or wrong one
//! answers 403 and changes nothing. SameSite cookies stop most cross-site
//! posts already; the token also stops a same-site page (another app on a
//! sibling host) from posting.

use axum::http::{HeaderMap, HeaderValue};
use shiming_vault::{ct_eq, random_hex};

use crate::session::{self, Authenticated, CookieName};
use crate::state::AppState;

/// The browser id of a form shown before sign-in.
pub const FORM_COOKIE: CookieName = CookieName {
    plain: "shiming_form",
    host: "__Host-shiming_form",
};

/// What a form is bound to.
pub enum Binding {
    Session(String),
    /// The browser's form id; `new` when it was made for this answer and
    /// must be set as a cookie.
    Browser {
        id: String,
        new: bool,
    },
}

impl Binding {
    /// The session's, or the browser's form id (a new one if it has none).
    pub fn of(state: &AppState, headers: &HeaderMap, who: Option<&Authenticated>) -> Binding {
        match who {
            Some(who) => Binding::Session(who.session_id.clone()),
            None => match session::cookie_value(state, headers, FORM_COOKIE).filter(|v| v.len() == 32) {
                Some(id) => Binding::Browser { id, new: false },
                None => Binding::Browser {
                    id: random_hex(16),
                    new: true,
                },
            },
        }
    }

    pub fn token(&self, state: &AppState) -> String {
        let (kind, id) = match self {
            Binding::Session(id) => ("session", id),
            Binding::Browser { id, .. } => ("browser", id),
        };
        hex::encode(state.vault.keyed_hash("csrf", &format!("{kind}:{id}")))
    }

    /// Whether `presented` is this binding's token (in constant time).
    pub fn accepts(&self, state: &AppState, presented: &str) -> bool {
        ct_eq(self.token(state).as_bytes(), presented.as_bytes())
    }

    /// The cookie to set with the answer, for a new browser id.
    pub fn cookie(&self, state: &AppState) -> Option<HeaderValue> {
        match self {
            Binding::Browser { id, new: true } => Some(session::set_cookie(state, FORM_COOKIE, id, 86_400)),
            _ => None,
        }
    }
}
