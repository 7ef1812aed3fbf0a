//! The store's tests on real database files, in one test binary.
//!
//! - `sqlite`: constraints, atomic limits and codes;
//! - `audit`: the audit chain, and what tampering it catches;
//! - `commit`: the commit of a bind, rebind or unbind (`commit_rebind`);
//! - `upkeep`: the notice queue (`claim_notices`, `finish_notice`) and `sweep`.

mod audit;
mod commit;
mod common;
mod sqlite;
mod upkeep;
