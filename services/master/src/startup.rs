//! From configuration to a running master. `load` checks everything before a socket opens;
//! `build` serves on a listener the caller chose (a fixed port, or port 0 in tests).

use crate::pool::{CallSettings, LastCalls, WorkerPool, WorkerRef, Workers};
use crate::routes;
use crate::state::{MasterState, Progress};
use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use chimera_shared::config::{Experiment, MasterSpec, WorkerKind};
use chimera_shared::fit_lock::FitLock;
use chimera_shared::logs::NodeLogs;
use chimera_shared::service;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

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
    let logs = Arc::new(
        NodeLogs::open_if(exp.env.telemetry, &exp.log_dir("master"))
            .map_err(|e| format!("cannot open the logs: {e}"))?,
    );
    Ok(MasterState {
        spec: exp.master.clone(),
        task,
        workers: Arc::new(Workers {
            list: workers,
            settings: CallSettings {
                timeout: Duration::from_secs_f64(exp.env.timeout),
                connect_timeout: Duration::from_secs_f64(exp.env.connect_timeout),
                max_retries: exp.env.max_retries,
                max_body_bytes: exp.env.max_body_bytes,
            },
            last_calls: LastCalls::default(),
            logs: logs.clone(),
        }),
        logs,
        fit: FitLock::default(),
        model: RwLock::new(None),
        progress: Mutex::new(Progress::default()),
        telemetry: exp.env.telemetry,
    })
}

pub fn build(state: MasterState, listener: TcpListener) -> std::io::Result<Server> {
    let telemetry = state.telemetry;
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        // One pool per HTTP thread: awc clients are not shared across threads.
        let pool = web::Data::new(WorkerPool::new(state.workers.clone()));
        App::new()
            .app_data(state.clone())
            .app_data(pool)
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
