//! What a worker serves from: its spec, its data, its model. Every HTTP thread shares one
//! [`WorkerState`]; nothing here knows about HTTP.

use crate::data::{self, Dataset};
use crate::ml::Model;
use chimera_shared::config::env::Limits;
use chimera_shared::config::WorkerSpec;
use chimera_shared::fit_lock::FitLock;
use chimera_shared::logs::NodeLogs;
use chimera_shared::service::{BodyLimits, LargeRequests};
use chimera_shared::state::StateDir;

/// The fitted model's file in the worker's state directory.
pub const MODEL_FILE: &str = "model.bin";
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// Everything a worker serves from; shared by all its HTTP threads.
pub struct WorkerState {
    pub name: String,
    pub spec: WorkerSpec,
    pub data: Dataset,
    pub model: RwLock<Option<Arc<Model>>>,
    /// One fit at a time: a second one is refused instead of racing.
    pub fit: FitLock,
    /// Where the fitted model is kept across restarts ([`MODEL_FILE`]).
    pub saved: StateDir,
    pub logs: NodeLogs,
    pub max_body_bytes: usize,
    /// Metrics middleware and log files on (`CHIMERA_TELEMETRY`).
    pub telemetry: bool,
    /// What one request may cost (`CHIMERA_CLIENT_TIMEOUT`, `CHIMERA_MAX_COLUMNS`, ...).
    pub limits: Limits,
    /// The large requests in progress, against `CHIMERA_MAX_LARGE_REQUESTS`.
    pub large: LargeRequests,
    /// How long a fit-step may compute: the master's call timeout (it has given up by then).
    pub work_timeout: Duration,
    /// `CHIMERA_API_TOKEN`: every `/v1/` path asks for it when set.
    pub token: Option<Arc<str>>,
    /// The current parameter-server fit's settings and prepared shard, kept between rounds.
    pub sgd_session: Mutex<Option<Arc<crate::sgd::Session>>>,
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
    /// A caller's body: at most `CHIMERA_MAX_BODY_BYTES`, sent within `CHIMERA_CLIENT_TIMEOUT`.
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max_bytes: self.max_body_bytes,
            timeout: Duration::from_secs_f64(self.limits.client_timeout),
        }
    }

    pub fn model(&self) -> Option<Arc<Model>> {
        self.model.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_model(&self, model: Model) {
        *self.model.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(model));
    }
}
