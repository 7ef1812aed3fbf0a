//! The shiming HTTP service.

pub mod bootstrap;
pub mod config;
pub mod error;
mod extract;
mod flows;
mod routes;
pub mod secrets;
mod session;
mod state;
mod telemetry;

pub use bootstrap::{migrate, start, Running};
pub use config::Config;
pub use routes::app;
