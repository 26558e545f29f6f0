//! What the master serves from: its spec, its workers, its model and the progress of a fit.
//! Every HTTP thread shares one [`MasterState`]; nothing here knows about HTTP.

use crate::pool::Workers;
use chimera_shared::config::{MasterSpec, TaskKind};
use chimera_shared::fit_lock::{FitLock, FitState};
use chimera_shared::logs::NodeLogs;
use chimera_shared::sgd::LinearModel;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// Live training progress, for `/v1/chimera/status` and a watching client.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Progress {
    pub round: u64,
    pub max_iter: u64,
    pub last_loss: Option<f64>,
    pub loss_history: Vec<f64>,
    pub stop_reason: Option<String>,
}

pub struct MasterState {
    pub spec: MasterSpec,
    /// For an aggregation master: what its model workers predict.
    pub task: Option<TaskKind>,
    pub workers: Arc<Workers>,
    pub logs: Arc<NodeLogs>,
    /// One fit at a time; whether any has succeeded.
    pub fit: FitLock,
    /// The parameter server's model, replaced whole when a fit succeeds.
    pub model: RwLock<Option<Arc<LinearModel>>>,
    /// The parameter server's live training progress.
    pub progress: Mutex<Progress>,
    /// Metrics middleware and log files on (`CHIMERA_TELEMETRY`).
    pub telemetry: bool,
}

impl MasterState {
    pub fn set_progress(&self, p: Progress) {
        *self.progress.lock().unwrap_or_else(PoisonError::into_inner) = p;
    }

    pub fn update_progress(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self.progress.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub fn progress(&self) -> Progress {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn has_model(&self) -> bool {
        self.fit.has_model()
    }

    pub fn fit_state(&self) -> FitState {
        self.fit.state()
    }

    pub fn linear_model(&self) -> Option<Arc<LinearModel>> {
        self.model.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_linear_model(&self, model: LinearModel) {
        *self.model.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(model));
    }
}
