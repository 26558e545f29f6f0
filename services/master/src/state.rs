//! What the master serves from: its spec, its workers, its model and the progress of a fit.
//! Every HTTP thread shares one [`MasterState`]; nothing here knows about HTTP.

use crate::pool::Workers;
use chimera_shared::config::env::{Auth, Limits};
use chimera_shared::config::{MasterSpec, TaskKind};
use chimera_shared::fit_lock::{FitLock, FitState};
use chimera_shared::logs::NodeLogs;
use chimera_shared::service::{BodyLimits, LargeRequests};
use chimera_shared::sgd::LinearModel;
use chimera_shared::state::StateDir;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// The master's file in its state directory.
pub const SAVED_FILE: &str = "master.bin";

/// What the master keeps across restarts.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// A fit was running when this was written: found at start, that fit was interrupted.
    pub fitting: bool,
    /// A fit has succeeded: an aggregation master's workers hold models (they keep their own).
    pub fitted_once: bool,
    /// The parameter server's model.
    pub model: Option<LinearModel>,
}

/// Live training progress, for `/v1/chimera/status` and a watching client.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Progress {
    pub round: u64,
    pub max_iter: u64,
    pub last_loss: Option<f64>,
    pub loss_history: Vec<f64>,
    pub stop_reason: Option<String>,
    pub mode: Option<&'static str>,
    /// `async` and `ssp`: see `TrainingSummary::staleness_histogram`.
    pub staleness_histogram: Vec<u64>,
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
    /// What one request may cost (`CHIMERA_CLIENT_TIMEOUT`, `CHIMERA_MAX_COLUMNS`, ...).
    pub limits: Limits,
    /// The large requests in progress, against `CHIMERA_MAX_LARGE_REQUESTS`.
    pub large: LargeRequests,
    /// `CHIMERA_API_TOKEN`: asked of fit (and of predict with `CHIMERA_API_TOKEN_PREDICT=1`).
    pub auth: Auth,
    /// Where [`Saved`] is kept.
    pub saved: StateDir,
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

    /// A client's body: at most `CHIMERA_MAX_BODY_BYTES`, sent within `CHIMERA_CLIENT_TIMEOUT`.
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max_bytes: self.workers.settings.max_body_bytes,
            timeout: Duration::from_secs_f64(self.limits.client_timeout),
        }
    }

    /// Writes what must survive a restart; `fitting` marks a fit in progress. A failure is
    /// logged, never fatal: the node keeps serving from memory.
    pub fn persist(&self, fitting: bool) {
        let saved = Saved {
            fitting,
            fitted_once: self.has_model(),
            model: self.linear_model().map(|m| (*m).clone()),
        };
        if let Err(e) = self.saved.save(SAVED_FILE, &saved) {
            self.logs.status(
                "ERROR",
                &format!("cannot save the master's state in {}: {e}", self.saved.dir().display()),
            );
        }
    }

    pub fn set_linear_model(&self, model: LinearModel) {
        *self.model.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(model));
    }
}
