//! `chimera-worker`: serves one worker of an experiment.
//!
//! ```text
//! chimera-worker               serve (CHIMERA_EXPERIMENT_DIR, CHIMERA_NODE_NAME)
//! chimera-worker healthcheck   exit 0 when this node's /healthz answers (Docker healthcheck)
//! ```

use chimera_shared::service::Binary;
use chimera_worker::startup;

const BINARY: Binary = Binary {
    name: "chimera-worker",
    version: env!("CARGO_PKG_VERSION"),
    port_variable: "CHIMERA_WORKERS_PORT",
    default_port: 80,
    port_setting: "CHIMERA_WORKERS_MAPPED_PORTS",
};

fn main() {
    BINARY.main(|dir| {
        let Ok(name) = std::env::var("CHIMERA_NODE_NAME") else {
            BINARY.fail(
                "CHIMERA_NODE_NAME=\"\" is invalid: is required: the worker's name from CHIMERA_WORKERS_NODES_NAMES",
            );
        };
        let (state, exp) = startup::load(dir, &name).unwrap_or_else(|e| BINARY.fail(e));
        BINARY.start_telemetry(&exp);
        if exp.env.telemetry {
            metrics::gauge!("chimera_worker_rows_loaded", "worker" => name.clone()).set(state.data.n_rows() as f64);
        }
        let (listener, addr) = BINARY.bind(&exp, exp.env.workers_port);
        tracing::info!(worker = %name, %addr, rows = state.data.n_rows(), "worker listening");
        state.logs.status("INFO", &format!("worker {name} listening on {addr}"));
        BINARY.run(listener, |l| startup::build(state, l));
    });
}
