//! The service's procedures, between the HTTP handlers and the store: each
//! validates, checks limits and commits through one store call.

pub mod accounts;
pub mod approvals;
pub mod codes;
pub mod enterprises;
pub mod invitations;
pub mod members;
pub mod notices;
pub mod outbox;
pub mod realname;
pub mod rebind;
pub mod security;
pub mod wechat;
