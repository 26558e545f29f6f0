//! The Chimera master. `kind: aggregation` fans fit and predict out to model workers and
//! averages their predictions (bagging); `kind: parameter-server` holds a linear model and
//! trains it with gradients from SGD workers.
//!
//! - [`startup`]: configuration to a running server (`build` binds any port, for tests);
//! - [`client`] and [`retry`]: master -> worker calls, timeouts, retries, latency records;
//! - [`aggregate`]: averaging worker predictions, free of HTTP;
//! - [`parameter_server`]: distributed SGD rounds (the math is in `chimera_shared::sgd`);
//! - [`routes`]: the thin HTTP handlers.

pub mod aggregate;
pub mod client;
pub mod parameter_server;
pub mod retry;
pub mod routes;
pub mod startup;
