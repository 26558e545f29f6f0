//! The Chimera master. `kind: aggregation` fans fit and predict out to model workers and
//! averages their predictions (bagging); `kind: parameter-server` holds a linear model and
//! trains it with gradients from SGD workers.
//!
//! - [`startup`]: configuration to a running server (`build` binds any port, for tests);
//! - [`state`]: what the master serves from (spec, workers, model, progress);
//! - [`pool`] and [`retry`]: master -> worker calls, timeouts, retries, latency records;
//! - [`aggregate`]: averaging worker predictions, free of HTTP;
//! - [`parameter_server`]: the fit's orchestration (each round's math is
//!   `chimera_shared::sgd::Trainer`);
//! - [`routes`]: the thin HTTP handlers.
//!
//! Imports run one way: `startup` -> `routes` -> `parameter_server`, `aggregate` -> `state`,
//! `pool` -> `retry`.

pub mod aggregate;
pub mod batch;
pub mod parameter_server;
pub mod pool;
pub mod retry;
pub mod routes;
pub mod startup;
pub mod state;
