//! From configuration to a running worker. `load` reads everything that can be wrong before
//! a socket is opened, so a bad experiment stops start-up with one line; `build` serves on a
//! listener the caller chose (a fixed port, or port 0 in tests).

use crate::data;
use crate::ml::Model;
use crate::routes;
use crate::state::WorkerState;
use crate::state::MODEL_FILE;
use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use chimera_shared::config::Experiment;
use chimera_shared::fit_lock::{FitLock, FitState};
use chimera_shared::logs::NodeLogs;
use chimera_shared::service::{self, LargeRequests, TokenPolicy};
use chimera_shared::state::{fingerprint, StateDir};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Reads worker `name` of the experiment at `dir`: config, spec, data, log files.
/// The error is the one line to print before exiting with status 2.
pub fn load(dir: &Path, name: &str) -> Result<(WorkerState, Experiment), String> {
    let exp = Experiment::load(dir).map_err(|e| e.to_string())?;
    load_from(exp, name)
}

pub fn load_from(exp: Experiment, name: &str) -> Result<(WorkerState, Experiment), String> {
    let spec = exp.worker(name).cloned().ok_or_else(|| {
        format!(
            "CHIMERA_NODE_NAME={name:?} is invalid: must be one of the workers in CHIMERA_WORKERS_NODES_NAMES {:?}",
            exp.env.workers
        )
    })?;
    let data = data::load(&exp.data_dir(name), spec.kind.task()).map_err(|e| e.to_string())?;
    if spec.kind.splits_on_bins() {
        // Bin the features now, once, so no fit request pays for it.
        data.binned();
    }
    let logs = NodeLogs::open_if(exp.env.telemetry, &exp.log_dir(name), exp.env.log_rotation)
        .map_err(|e| format!("cannot open the logs: {e}"))?;
    // The fitted model of an earlier run, if it was made from these very spec and data files
    // (the master's spec is left out: it does not change a model worker's model).
    let saved_dir = StateDir::new(exp.state_dir(name), fingerprint(&exp.input_files([name])[1..]));
    let saved = saved_dir.load::<Model>(MODEL_FILE).unwrap_or_else(|e| {
        logs.status("WARN", &e);
        None
    });
    if saved.is_some() {
        logs.status("INFO", "loaded the fitted model saved by an earlier run");
    }
    let fit = if saved.is_some() {
        FitLock::restored(FitState::Fitted, true)
    } else {
        FitLock::default()
    };
    let state = WorkerState {
        name: name.to_string(),
        spec,
        data,
        model: RwLock::new(saved.map(Arc::new)),
        fit,
        saved: saved_dir,
        logs,
        max_body_bytes: exp.env.max_body_bytes,
        telemetry: exp.env.telemetry,
        limits: exp.env.limits,
        large: LargeRequests::new(exp.env.limits.max_large_requests),
        work_timeout: Duration::from_secs_f64(exp.env.timeout),
        token: exp.env.auth.token.as_deref().map(Arc::from),
        sgd_session: Mutex::new(None),
    };
    state.logs.status(
        "INFO",
        &format!(
            "worker {name} loaded {} rows x {} columns",
            state.data.n_rows(),
            state.data.columns.len()
        ),
    );
    Ok((state, exp))
}

/// Starts serving on `listener`. The returned server runs until stopped or sent SIGTERM/SIGINT
/// (graceful: in-flight requests finish).
/// A worker's paths that need the token: every `/v1/` path (its data sample, fit, predict,
/// fit-step); health and metrics stay open for Docker and Prometheus.
fn protects_v1(path: &str) -> bool {
    path.starts_with("/v1/")
}

/// `state` may be shared (an `Arc`): a test harness keeps a weak handle to know when every HTTP
/// thread has let go of it.
pub fn build(state: impl Into<Arc<WorkerState>>, listener: TcpListener) -> std::io::Result<Server> {
    let state: Arc<WorkerState> = state.into();
    let delay = Duration::from_millis(state.spec.knobs.delay_ms);
    let telemetry = state.telemetry;
    let client_timeout = Duration::from_secs_f64(state.limits.client_timeout);
    let policy = web::Data::new(TokenPolicy {
        token: state.token.clone(),
        protects: protects_v1,
    });
    let state = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(policy.clone())
            .wrap(middleware::from_fn(service::require_token))
            .wrap(middleware::Condition::new(
                telemetry,
                middleware::from_fn(service::record_request_metrics),
            ))
            .wrap(middleware::Condition::new(
                !delay.is_zero(),
                middleware::from_fn(routes::straggler_delay),
            ))
            .configure(routes::configure)
            .default_service(web::to(service::not_found))
    })
    // One HTTP thread: heavy work runs on the blocking pool, and on a small machine several
    // workers share the cores with the master; fewer threads means less switching.
    .workers(1)
    // A caller that does not finish its headers in time is cut off (bodies: `read_body`).
    .client_request_timeout(client_timeout)
    .client_disconnect_timeout(Duration::from_secs(2))
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}
