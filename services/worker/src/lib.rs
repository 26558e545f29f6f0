//! The Chimera worker: a model worker (one estimator over its data, for bagging) or an SGD
//! worker (gradients over its shard, for the parameter server).
//!
//! - [`data`]: the training CSVs, loaded with polars;
//! - [`ml`]: the estimators, free of HTTP;
//! - [`state`]: what a worker serves from (spec, data, model);
//! - [`startup`]: configuration to a running server (`build` binds any port, for tests);
//! - [`routes`]: the thin HTTP handlers.

pub mod data;
pub mod ml;
pub mod routes;
pub mod sgd;
pub mod startup;
pub mod state;
