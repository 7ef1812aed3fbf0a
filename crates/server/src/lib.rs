//! The shiming HTTP service.

pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod error;
mod extract;
mod flows;
pub mod operator;
mod pages;
mod routes;
pub mod secrets;
pub mod seed;
mod session;
mod state;
mod telemetry;

pub use bootstrap::{migrate, start, start_with_clock, Running};
pub use clock::Clock;
pub use config::Config;
pub use routes::app;
