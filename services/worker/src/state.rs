//! What a worker serves from: its spec, its data, its model. Every HTTP thread shares one
//! [`WorkerState`]; nothing here knows about HTTP.

use crate::data::{self, Dataset};
use crate::ml::Model;
use chimera_shared::config::WorkerSpec;
use chimera_shared::fit_lock::FitLock;
use chimera_shared::logs::NodeLogs;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// Everything a worker serves from; shared by all its HTTP threads.
pub struct WorkerState {
    pub name: String,
    pub spec: WorkerSpec,
    pub data: Dataset,
    pub model: RwLock<Option<Arc<Model>>>,
    /// One fit at a time: a second one is refused instead of racing.
    pub fit: FitLock,
    pub logs: NodeLogs,
    pub max_body_bytes: usize,
    /// Metrics middleware and log files on (`CHIMERA_TELEMETRY`).
    pub telemetry: bool,
    /// The shard prepared for the current parameter-server fit, reused every round.
    pub sgd_prepared: Mutex<Option<Arc<crate::sgd::Prepared>>>,
}

impl WorkerState {
    pub fn n_classes(&self) -> usize {
        match &self.data.target {
            data::Target::Classification { classes, .. } => classes.len(),
            data::Target::Regression(_) => 0,
        }
    }
}

impl WorkerState {
    pub fn model(&self) -> Option<Arc<Model>> {
        self.model.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_model(&self, model: Model) {
        *self.model.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(model));
    }
}
