//! Chimera's shared crate: the one place that defines what the services say to each other and
//! to clients (the wire types in [`api`]), the error shape ([`error`]), and how an experiment is
//! configured ([`config`]: `.env`, environment variables, `chimera_master.yaml`,
//! `chimera_workers/<name>.yaml`).
//!
//! With the `service` feature it also carries the HTTP glue both services share ([`service`]):
//! JSON error responses, body parsing with precise error paths, health, metrics and telemetry.

pub mod api;
#[cfg(feature = "client")]
pub mod client;
pub mod compact;
pub mod config;
pub mod error;
pub mod fit_lock;
pub mod hash;
pub mod healthcheck;
pub mod logs;
pub mod openapi;
pub mod predict;
pub mod scores;
#[cfg(feature = "service")]
pub mod service;
pub mod sgd;
pub mod state;
#[cfg(feature = "csv")]
pub mod table;

pub use error::{ApiError, Code};
