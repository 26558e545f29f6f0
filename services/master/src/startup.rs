//! From configuration to a running master. `load` checks everything before a socket opens;
//! `build` serves on a listener the caller chose (a fixed port, or port 0 in tests).

use crate::pool::{CallSettings, LastCalls, WorkerPool, WorkerRef, Workers};
use crate::routes;
use crate::state::{MasterState, Progress, Saved, SAVED_FILE};
use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use chimera_shared::api::paths;
use chimera_shared::config::{Experiment, MasterSpec, WorkerKind};
use chimera_shared::fit_lock::FitLock;
use chimera_shared::fit_lock::FitState;
use chimera_shared::logs::NodeLogs;
use chimera_shared::service::{self, LargeRequests, TokenPolicy};
use chimera_shared::state::{fingerprint, StateDir};
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
        NodeLogs::open_if(exp.env.telemetry, &exp.log_dir("master"), exp.env.log_rotation)
            .map_err(|e| format!("cannot open the logs: {e}"))?,
    );
    // What an earlier run of this experiment left: the model, and whether a fit was cut short.
    let saved_dir = StateDir::new(
        exp.state_dir("master"),
        fingerprint(&exp.input_files(exp.workers.iter().map(|(n, _)| n.as_str()))),
    );
    let saved = saved_dir.load::<Saved>(SAVED_FILE).unwrap_or_else(|e| {
        logs.status("WARN", &e);
        None
    });
    let mut progress = Progress::default();
    let fit = match &saved {
        Some(s) if s.fitting => {
            logs.status(
                "ERROR",
                "the master stopped during a fit: that fit failed; run it again",
            );
            progress.stop_reason = Some("interrupted: the master stopped during this fit".into());
            FitLock::restored(FitState::Failed, s.fitted_once)
        }
        Some(s) if s.fitted_once => {
            logs.status("INFO", "restored the fitted state saved by an earlier run");
            FitLock::restored(FitState::Fitted, true)
        }
        _ => FitLock::default(),
    };
    let model = saved.and_then(|s| s.model).map(Arc::new);
    Ok(MasterState {
        spec: exp.master.clone(),
        task,
        workers: Arc::new(Workers {
            list: workers,
            settings: CallSettings {
                timeout: Duration::from_secs_f64(exp.env.timeout),
                connect_timeout: Duration::from_secs_f64(exp.env.connect_timeout),
                max_retries: exp.env.max_retries,
                predict_timeout: Duration::from_secs_f64(exp.env.predict_timeout),
                max_body_bytes: exp.env.max_body_bytes,
                token: exp.env.auth.token.as_deref().map(Arc::from),
            },
            last_calls: LastCalls::default(),
            logs: logs.clone(),
        }),
        logs,
        fit,
        model: RwLock::new(model),
        progress: Mutex::new(progress),
        saved: saved_dir,
        telemetry: exp.env.telemetry,
        limits: exp.env.limits,
        large: LargeRequests::new(exp.env.limits.max_large_requests),
        auth: exp.env.auth.clone(),
    })
}

/// The master's paths that need the token: fit always (it retrains every worker).
fn protects_fit(path: &str) -> bool {
    path == paths::AGGREGATION_FIT || path == paths::PARAMETER_SERVER_FIT
}

/// With `CHIMERA_API_TOKEN_PREDICT=1`: predict too.
fn protects_fit_and_predict(path: &str) -> bool {
    protects_fit(path) || path == paths::AGGREGATION_PREDICT || path == paths::PARAMETER_SERVER_PREDICT
}

pub fn build(state: MasterState, listener: TcpListener) -> std::io::Result<Server> {
    let telemetry = state.telemetry;
    let client_timeout = Duration::from_secs_f64(state.limits.client_timeout);
    let policy = web::Data::new(TokenPolicy {
        token: state.auth.token.as_deref().map(Arc::from),
        protects: if state.auth.predict {
            protects_fit_and_predict
        } else {
            protects_fit
        },
    });
    // Takes back workers that were marked down as soon as they answer again.
    actix_web::rt::spawn(crate::pool::probe_down_workers(state.workers.clone()));
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        // One pool per HTTP thread: awc clients are not shared across threads.
        let pool = web::Data::new(WorkerPool::new(state.workers.clone()));
        // Likewise its batches of small predicts, which that pool sends.
        let batcher = web::Data::new(crate::batch::Batcher::new(state.body_limits().max_bytes));
        App::new()
            .app_data(state.clone())
            .app_data(pool)
            .app_data(batcher)
            .app_data(policy.clone())
            .wrap(middleware::from_fn(service::require_token))
            .wrap(middleware::Condition::new(
                telemetry,
                middleware::from_fn(service::record_request_metrics),
            ))
            .configure(routes::configure)
            .default_service(web::to(service::not_found))
    })
    // A client that does not finish its headers in time is cut off (the body has its own
    // limit in `read_body`).
    .client_request_timeout(client_timeout)
    .client_disconnect_timeout(Duration::from_secs(2))
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}
