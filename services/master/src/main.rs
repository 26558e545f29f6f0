//! `chimera-master`: serves an experiment's master.
//!
//! ```text
//! chimera-master               serve (CHIMERA_EXPERIMENT_DIR)
//! chimera-master healthcheck   exit 0 when this node's /healthz answers (Docker healthcheck)
//! ```

use chimera_master::startup;
use chimera_shared::service::Binary;

const BINARY: Binary = Binary {
    name: "chimera-master",
    version: env!("CARGO_PKG_VERSION"),
    port_variable: "CHIMERA_MASTER_PORT",
    default_port: 8080,
    port_setting: "CHIMERA_MASTER_PORT",
};

fn main() {
    BINARY.main(|dir| {
        let (state, exp) = startup::load(dir).unwrap_or_else(|e| BINARY.fail(e));
        BINARY.start_telemetry(&exp);
        let (listener, addr) = BINARY.bind(&exp, exp.env.master_port);
        tracing::info!(kind = exp.master.kind_name(), %addr, workers = exp.workers.len(), "master listening");
        state.logs.status(
            "INFO",
            &format!("master ({}) listening on {addr}", exp.master.kind_name()),
        );
        BINARY.run(listener, |l| startup::build(state, l));
    });
}
