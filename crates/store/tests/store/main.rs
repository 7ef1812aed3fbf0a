//! The store's tests on real databases, in one test binary: each on SQLite
//! and on PostgreSQL (see `common::on_every_backend!`).
//!
//! - `rules`: constraints, atomic limits and codes;
//! - `audit`: the audit chain, and what tampering it catches;
//! - `enterprises`: enterprises and their members;
//! - `commit`: the commit of a bind, rebind or unbind (`commit_rebind`);
//! - `upkeep`: the notice queue (`claim_notices`, `finish_notice`) and `sweep`;
//! - `nodes`: two stores on one PostgreSQL database, as two nodes: their
//!   session caches (PostgreSQL only).

mod audit;
mod commit;
mod common;
mod enterprises;
mod nodes;
mod rules;
mod upkeep;
