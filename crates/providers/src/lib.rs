//! Providers that reach outside shiming, each behind a trait with a real
//! protocol implementation, and the development servers that speak the same
//! protocols over HTTP so that tests exercise the real clients.

pub mod realname;
pub mod sms;
pub mod wechat;
