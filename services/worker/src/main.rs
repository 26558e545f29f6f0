//! `chimera-worker`: serves one worker of an experiment.
//!
//! ```text
//! chimera-worker               serve (CHIMERA_EXPERIMENT_DIR, CHIMERA_NODE_NAME)
//! chimera-worker healthcheck   exit 0 when this node's /healthz answers (Docker healthcheck)
//! ```

use chimera_shared::service;
use std::net::TcpListener;
use std::path::PathBuf;

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("chimera-worker: error: {message}");
    std::process::exit(2)
}

fn main() {
    let dir = PathBuf::from(std::env::var("CHIMERA_EXPERIMENT_DIR").unwrap_or_else(|_| ".".into()));
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve(dir),
        Some("healthcheck") => healthcheck(dir),
        Some("--version" | "-V") => println!("chimera-worker {}", env!("CARGO_PKG_VERSION")),
        Some(other) => fail(format!(
            "unknown command {other:?}; use `serve` (the default) or `healthcheck`"
        )),
    }
}

fn healthcheck(dir: PathBuf) {
    if let Err(e) = chimera_shared::healthcheck::run(&dir, "CHIMERA_WORKERS_PORT", 80) {
        fail(e);
    }
}

fn serve(dir: PathBuf) {
    let Ok(name) = std::env::var("CHIMERA_NODE_NAME") else {
        fail("CHIMERA_NODE_NAME=\"\" is invalid: is required: the worker's name from CHIMERA_WORKERS_NODES_NAMES");
    };
    let (state, exp) = chimera_worker::startup::load(&dir, &name).unwrap_or_else(|e| fail(e));
    service::init_telemetry(exp.env.log_format, &exp.env.log_level);
    if exp.env.telemetry {
        service::prometheus();
        service::register_counters();
        metrics::gauge!("chimera_worker_rows_loaded", "worker" => name.clone()).set(state.data.n_rows() as f64);
    } else {
        service::disable_metrics();
    }
    for w in &exp.warnings {
        tracing::warn!("{w}");
    }
    let addr = exp.source.listen(exp.env.workers_port).unwrap_or_else(|e| fail(e));
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| {
        let hint = if addr.port() < 1024 {
            " (ports below 1024 need root; set CHIMERA_WORKERS_MAPPED_PORTS to ports >= 1024)"
        } else {
            ""
        };
        fail(format!("cannot listen on {addr}: {e}{hint}"))
    });
    tracing::info!(worker = %name, %addr, rows = state.data.n_rows(), "worker listening");
    state.logs.status("INFO", &format!("worker {name} listening on {addr}"));
    let result =
        actix_web::rt::System::new().block_on(async move { chimera_worker::startup::build(state, listener)?.await });
    if let Err(e) = result {
        fail(format!("server stopped: {e}"));
    }
}
