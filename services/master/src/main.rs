//! `chimera-master`: serves an experiment's master.
//!
//! ```text
//! chimera-master               serve (CHIMERA_EXPERIMENT_DIR)
//! chimera-master healthcheck   exit 0 when this node's /healthz answers (Docker healthcheck)
//! ```

use chimera_shared::config::EnvSource;
use chimera_shared::service;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("chimera-master: error: {message}");
    std::process::exit(2)
}

fn main() {
    let dir = PathBuf::from(std::env::var("CHIMERA_EXPERIMENT_DIR").unwrap_or_else(|_| ".".into()));
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve(dir),
        Some("healthcheck") => healthcheck(dir),
        Some("--version" | "-V") => println!("chimera-master {}", env!("CARGO_PKG_VERSION")),
        Some(other) => fail(format!(
            "unknown command {other:?}; use `serve` (the default) or `healthcheck`"
        )),
    }
}

fn healthcheck(dir: PathBuf) {
    let src = EnvSource::from_process(&dir.join(".env")).unwrap_or_default();
    let port = src
        .get("CHIMERA_MASTER_PORT")
        .and_then(|p| p.parse::<f64>().ok())
        .unwrap_or(8080.0) as u16;
    let mut addr = src.listen(port).unwrap_or_else(|e| fail(e));
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    if let Err(e) = chimera_shared::healthcheck::probe(addr, Duration::from_secs(2)) {
        fail(format!("unhealthy: {e}"));
    }
}

fn serve(dir: PathBuf) {
    let (state, exp) = chimera_master::startup::load(&dir).unwrap_or_else(|e| fail(e));
    service::init_telemetry(exp.env.log_format, &exp.env.log_level);
    if exp.env.telemetry {
        service::prometheus();
        service::register_counters();
    } else {
        service::disable_metrics();
    }
    for w in &exp.warnings {
        tracing::warn!("{w}");
    }
    let addr = exp.source.listen(exp.env.master_port).unwrap_or_else(|e| fail(e));
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| fail(format!("cannot listen on {addr}: {e}")));
    tracing::info!(kind = exp.master.kind_name(), %addr, workers = exp.workers.len(), "master listening");
    state.logs.status(
        "INFO",
        &format!("master ({}) listening on {addr}", exp.master.kind_name()),
    );
    let result =
        actix_web::rt::System::new().block_on(async move { chimera_master::startup::build(state, listener)?.await });
    if let Err(e) = result {
        fail(format!("server stopped: {e}"));
    }
}
