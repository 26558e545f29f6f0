//! From configuration to a running worker. `load` reads everything that can be wrong before
//! a socket is opened, so a bad experiment stops start-up with one line; `build` serves on a
//! listener the caller chose (a fixed port, or port 0 in tests).

use crate::data;
use crate::routes;
use crate::state::WorkerState;
use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use chimera_shared::config::Experiment;
use chimera_shared::fit_lock::FitLock;
use chimera_shared::logs::NodeLogs;
use chimera_shared::service;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Mutex, RwLock};
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
    let state = WorkerState {
        name: name.to_string(),
        spec,
        data,
        model: RwLock::new(None),
        fit: FitLock::default(),
        logs: NodeLogs::open_if(exp.env.telemetry, &exp.log_dir(name))
            .map_err(|e| format!("cannot open the logs: {e}"))?,
        max_body_bytes: exp.env.max_body_bytes,
        telemetry: exp.env.telemetry,
        sgd_prepared: Mutex::new(None),
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
pub fn build(state: WorkerState, listener: TcpListener) -> std::io::Result<Server> {
    let delay = Duration::from_millis(state.spec.knobs.delay_ms);
    let telemetry = state.telemetry;
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
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
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}
