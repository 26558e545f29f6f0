//! From configuration to a running master. `load` checks everything before a socket opens;
//! `build` serves on a listener the caller chose (a fixed port, or port 0 in tests).

use crate::client::{self, CallSettings, WorkerRef};
use crate::parameter_server::{LinearModel, Progress};
use crate::routes;
use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use chimera_shared::config::{Experiment, MasterSpec, TaskKind, WorkerKind};
use chimera_shared::logs::NodeLogs;
use chimera_shared::service;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Where the master is in its life, as `/v1/chimera/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitState {
    Idle,
    Fitting,
    Fitted,
    Failed,
}

pub struct MasterState {
    pub spec: MasterSpec,
    /// For an aggregation master: what its model workers predict.
    pub task: Option<TaskKind>,
    pub workers: Vec<WorkerRef>,
    pub calls: CallSettings,
    pub last_calls: client::LastCalls,
    pub logs: NodeLogs,
    pub state: Mutex<FitState>,
    /// Set by the first successful fit; predictions are served from then on, refits included.
    pub fitted_once: AtomicBool,
    /// The parameter server's model, replaced whole when a fit succeeds.
    pub model: RwLock<Option<Arc<LinearModel>>>,
    /// The parameter server's live training progress.
    pub progress: Mutex<Progress>,
    /// Metrics middleware and log files on (`CHIMERA_TELEMETRY`).
    pub telemetry: bool,
}

impl MasterState {
    pub fn set_progress(&self, p: Progress) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    pub fn update_progress(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self.progress.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn progress(&self) -> Progress {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn has_model(&self) -> bool {
        self.fitted_once.load(Ordering::SeqCst)
    }

    pub fn fit_state(&self) -> FitState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_fit_state(&self, s: FitState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Moves to `Fitting` unless a fit already runs. The guard puts the state back however the
    /// fit ends: an error, or a client that went away mid-fit (actix then drops the handler).
    pub fn begin_fit(&self) -> Option<FitGuard<'_>> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if *s == FitState::Fitting {
            return None;
        }
        *s = FitState::Fitting;
        Some(FitGuard {
            state: self,
            succeeded: false,
        })
    }
}

/// A fit in progress; see [`MasterState::begin_fit`].
pub struct FitGuard<'a> {
    state: &'a MasterState,
    succeeded: bool,
}

impl FitGuard<'_> {
    /// The fit produced a model: predictions are served from now on.
    pub fn succeeded(mut self) {
        self.succeeded = true;
        self.state.fitted_once.store(true, Ordering::SeqCst);
        self.state.set_fit_state(FitState::Fitted);
    }
}

impl Drop for FitGuard<'_> {
    fn drop(&mut self) {
        if !self.succeeded {
            // A model from an earlier fit stays usable: the workers and the master still hold it.
            self.state.set_fit_state(if self.state.has_model() {
                FitState::Fitted
            } else {
                FitState::Failed
            });
        }
    }
}

/// Reads the experiment at `dir`. The error is the one line to print before exiting with 2.
pub fn load(dir: &Path) -> Result<(MasterState, Experiment), String> {
    let exp = Experiment::load(dir).map_err(|e| e.to_string())?;
    let state = state_from(&exp)?;
    Ok((state, exp))
}

pub fn state_from(exp: &Experiment) -> Result<MasterState, String> {
    let task = match &exp.master {
        MasterSpec::Aggregation => exp.workers.first().and_then(|(_, w)| match &w.kind {
            WorkerKind::Model { task, .. } => Some(*task),
            WorkerKind::Sgd { .. } => None,
        }),
        MasterSpec::ParameterServer(_) => None,
    };
    let workers = exp
        .workers
        .iter()
        .enumerate()
        .map(|(i, (name, _))| WorkerRef::new(name, exp.env.worker_url(i)))
        .collect();
    let logs = NodeLogs::open_if(exp.env.telemetry, &exp.log_dir("master"))
        .map_err(|e| format!("cannot open the logs: {e}"))?;
    Ok(MasterState {
        spec: exp.master.clone(),
        task,
        workers,
        calls: CallSettings {
            timeout: Duration::from_secs_f64(exp.env.timeout),
            connect_timeout: Duration::from_secs_f64(exp.env.connect_timeout),
            max_retries: exp.env.max_retries,
            max_body_bytes: exp.env.max_body_bytes,
        },
        logs,
        last_calls: client::LastCalls::default(),
        state: Mutex::new(FitState::Idle),
        fitted_once: AtomicBool::new(false),
        model: RwLock::new(None),
        progress: Mutex::new(Progress::default()),
        telemetry: exp.env.telemetry,
    })
}

pub fn build(state: MasterState, listener: TcpListener) -> std::io::Result<Server> {
    let telemetry = state.telemetry;
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        // One pooled client per HTTP thread: awc clients are not shared across threads.
        let client = web::Data::new(client::new_client(&state.calls));
        App::new()
            .app_data(state.clone())
            .app_data(client)
            .wrap(middleware::Condition::new(
                telemetry,
                middleware::from_fn(service::record_request_metrics),
            ))
            .configure(routes::configure)
            .default_service(web::to(service::not_found))
    })
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}
