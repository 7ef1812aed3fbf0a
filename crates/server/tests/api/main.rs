//! The service driven over HTTP as an operator's app would: the real router
//! on a real port, SQLite in a temporary folder, the development simulators
//! on ports of their own, and a clock the tests hold. One test binary, so
//! that the whole stack links once.

mod cache;
mod contract;
mod enterprises;
mod gateway;
mod hardening;
mod helpers;
mod invitations;
mod notices;
mod pages;
mod phone_login;
mod policies;
mod realname;
mod rebinding;
mod sessions;
mod trust;
mod wechat;
mod wechat_realname;
