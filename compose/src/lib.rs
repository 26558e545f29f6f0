//! The generator: an experiment's `.env` and spec files -> `docker-compose.yml`, so that Docker
//! Compose, not Rust code, manages the containers.
//!
//! The file works with Compose v2 (`docker compose`) and docker-compose 1.29 alike: Compose-spec
//! layout without `version:` or a top-level `name:`, short port syntax, literal values (no
//! `${...}`), every string double-quoted (YAML 1.1 parsers read `8101:80` as a base-60 number).
//! The output is deterministic: the same inputs give the same bytes.

use chimera_shared::config::{EnvConfig, Experiment};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

pub const WORKER_IMAGE: &str = "chimera-worker:latest";
pub const MASTER_IMAGE: &str = "chimera-master:latest";
pub const PROMETHEUS_IMAGE: &str = "prom/prometheus:latest";
/// Where the experiment folder is mounted (read-only) in every container.
pub const EXPERIMENT_MOUNT: &str = "/chimera";
/// The writable log volume's mount point; the images create it owned by the service user.
pub const LOG_MOUNT: &str = "/chimera-logs";
/// The writable state volume's mount point (fitted models kept across restarts).
pub const STATE_MOUNT: &str = "/chimera-state";
pub const PROMETHEUS_CONFIG: &str = "prometheus.yml";

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Add a Prometheus service scraping every node, with a generated `prometheus.yml`.
    pub with_prometheus: bool,
    /// Service name -> a fingerprint of the files it reads at start (spec, `.env`, data),
    /// written as the label `chimera.inputs`: when a file changes, the service's configuration
    /// changes, so `up` recreates exactly the containers whose inputs changed.
    pub input_labels: std::collections::BTreeMap<String, String>,
}

/// The network plan: addresses checked against the subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub subnet: String,
    pub gateway: Ipv4Addr,
    pub workers: Vec<Ipv4Addr>,
    pub master: Ipv4Addr,
    pub prometheus: Ipv4Addr,
}

/// Checks the topology and computes the addresses: workers `PREFIX.(i+2)` as the original,
/// the master after them, Prometheus after the master.
pub fn plan(env: &EnvConfig) -> Result<Plan, String> {
    let [a, b, c] = env.network_prefix;
    let base = u32::from(Ipv4Addr::new(a, b, c, 0));
    let mask = env.subnet_mask;
    let bits: u32 = if mask == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(mask))
    };
    let network = base & bits;
    let broadcast = network | !bits;
    let gateway = base + 1;
    let ip = |i: usize| base + 2 + i as u32;
    let n = env.workers.len();
    let last_needed = ip(n + 1); // The master is n, Prometheus n + 1.
    let inside = |addr: u32| addr > network && addr < broadcast;
    if mask > 30 || !inside(gateway) || !inside(last_needed) || last_needed > base + 254 {
        let room = if broadcast > gateway + 1 {
            broadcast - gateway - 1
        } else {
            0
        };
        return Err(format!(
            "CHIMERA_NETWORK_SUBNET_MASK={mask} is invalid: the subnet {}/{mask} must hold the gateway {}, {n} workers, the master and Prometheus after {} (room for {room} addresses; use a mask of 24 or less)",
            Ipv4Addr::from(network),
            Ipv4Addr::from(gateway),
            Ipv4Addr::from(gateway),
        ));
    }
    let mut ports = env.mapped_ports.clone();
    ports.push(env.master_port);
    ports.sort_unstable();
    if ports.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!(
            "CHIMERA_WORKERS_MAPPED_PORTS={:?} is invalid: ports must be unique and differ from CHIMERA_MASTER_PORT={}",
            env.mapped_ports, env.master_port
        ));
    }
    Ok(Plan {
        subnet: format!("{}/{mask}", Ipv4Addr::from(network)),
        gateway: Ipv4Addr::from(gateway),
        workers: (0..n).map(|i| Ipv4Addr::from(ip(i))).collect(),
        master: Ipv4Addr::from(ip(n)),
        prometheus: Ipv4Addr::from(ip(n + 1)),
    })
}

/// A tiny YAML writer that quotes every string, so no YAML 1.1 reader misreads a value.
struct Yaml(String);

impl Yaml {
    fn line(&mut self, indent: usize, text: &str) {
        let _ = writeln!(self.0, "{:indent$}{text}", "", indent = indent * 2);
    }
    fn kv(&mut self, indent: usize, key: &str, value: &str) {
        self.line(indent, &format!("{key}: {}", quote(value)));
    }
    fn raw(&mut self, indent: usize, key: &str, value: impl std::fmt::Display) {
        self.line(indent, &format!("{key}: {value}"));
    }
    fn item(&mut self, indent: usize, value: &str) {
        self.line(indent, &format!("- {}", quote(value)));
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize") // JSON strings are valid YAML scalars.
}

/// The compose project's volume holding every node's logs.
const LOG_VOLUME: &str = "chimera-logs";
const STATE_VOLUME: &str = "chimera-state";
const NETWORK_KEY: &str = "chimera";

/// `docker-compose.yml` for the experiment.
pub fn generate(exp: &Experiment, options: &Options) -> Result<String, String> {
    let env = &exp.env;
    let plan = plan(env)?;
    let mut y = Yaml(String::new());
    y.line(
        0,
        "# Generated by `cargo xtask compose` from .env and the spec files: edit those, not this.",
    );
    y.line(
        0,
        "# Start with `cargo xtask up --dir .` (or `docker compose up -d` once the images exist).",
    );
    y.line(0, "services:");
    for (i, (name, spec)) in exp.workers.iter().enumerate() {
        y.line(1, &format!("{name}:"));
        y.kv(2, "image", WORKER_IMAGE);
        y.line(2, "environment:");
        y.kv(3, "CHIMERA_EXPERIMENT_DIR", EXPERIMENT_MOUNT);
        y.kv(3, "CHIMERA_LOG_DIR", LOG_MOUNT);
        y.kv(3, "CHIMERA_STATE_DIR", STATE_MOUNT);
        y.kv(3, "CHIMERA_NODE_NAME", name);
        y.kv(3, "CHIMERA_LISTEN_HOST", "0.0.0.0");
        y.kv(3, "CHIMERA_LISTEN_PORT", &env.workers_port.to_string());
        node_common(&mut y, env);
        y.line(2, "ports:");
        y.item(
            3,
            &format!("{}:{}:{}", env.workers_host, env.mapped_ports[i], env.workers_port),
        );
        y.line(2, "networks:");
        y.line(3, &format!("{NETWORK_KEY}:"));
        y.kv(4, "ipv4_address", &plan.workers[i].to_string());
        y.raw(2, "cpu_shares", env.cpu_shares[i]);
        y.kv(
            2,
            "mem_limit",
            spec.knobs.mem_limit.as_deref().unwrap_or(DEFAULT_MEM_LIMIT),
        );
        healthcheck(&mut y, "/chimera-worker");
        input_label(&mut y, options, name);
    }
    y.line(1, "master:");
    y.kv(2, "image", MASTER_IMAGE);
    y.line(2, "environment:");
    y.kv(3, "CHIMERA_EXPERIMENT_DIR", EXPERIMENT_MOUNT);
    y.kv(3, "CHIMERA_LOG_DIR", LOG_MOUNT);
    y.kv(3, "CHIMERA_STATE_DIR", STATE_MOUNT);
    y.kv(3, "CHIMERA_NODE_NAME", "master");
    y.kv(3, "CHIMERA_LISTEN_HOST", "0.0.0.0");
    y.kv(3, "CHIMERA_LISTEN_PORT", &env.master_port.to_string());
    // The workers by their static addresses on the private network.
    let urls: Vec<String> = plan
        .workers
        .iter()
        .map(|ip| format!("http://{ip}:{}", env.workers_port))
        .collect();
    y.kv(
        3,
        "CHIMERA_WORKERS_URLS",
        &serde_json::to_string(&urls).expect("strings serialize"),
    );
    node_common(&mut y, env);
    y.kv(2, "mem_limit", DEFAULT_MEM_LIMIT);
    y.line(2, "ports:");
    y.item(
        3,
        &format!("{}:{}:{}", env.master_host, env.master_port, env.master_port),
    );
    y.line(2, "networks:");
    y.line(3, &format!("{NETWORK_KEY}:"));
    y.kv(4, "ipv4_address", &plan.master.to_string());
    healthcheck(&mut y, "/chimera-master");
    input_label(&mut y, options, "master");
    // Started after the workers, not after they are healthy: the master finds a worker that
    // is not ready yet on its own (marked down, probed every second, taken back).
    y.line(2, "depends_on:");
    for (name, _) in &exp.workers {
        y.line(3, &format!("{name}:"));
        y.kv(4, "condition", "service_started");
    }
    if options.with_prometheus {
        y.line(1, "prometheus:");
        y.kv(2, "image", PROMETHEUS_IMAGE);
        y.line(2, "volumes:");
        y.item(3, &format!("./{PROMETHEUS_CONFIG}:/etc/prometheus/prometheus.yml:ro"));
        y.line(2, "ports:");
        y.item(3, &format!("{}:9090:9090", env.master_host));
        y.line(2, "networks:");
        y.line(3, &format!("{NETWORK_KEY}:"));
        y.kv(4, "ipv4_address", &plan.prometheus.to_string());
        y.kv(2, "restart", "unless-stopped");
        y.line(2, "depends_on:");
        y.item(3, "master");
    }
    y.line(0, "networks:");
    y.line(1, &format!("{NETWORK_KEY}:"));
    y.kv(2, "name", &env.network_name);
    y.kv(2, "driver", "bridge");
    y.line(2, "ipam:");
    y.line(3, "config:");
    y.line(4, &format!("- subnet: {}", quote(&plan.subnet)));
    y.kv(5, "gateway", &plan.gateway.to_string());
    y.line(0, "volumes:");
    y.line(1, &format!("{LOG_VOLUME}: {{}}"));
    y.line(1, &format!("{STATE_VOLUME}: {{}}"));
    Ok(y.0)
}

/// A node's memory limit unless its spec sets `mem_limit`: room for a 100,000-row predict.
pub const DEFAULT_MEM_LIMIT: &str = "2g";
/// Processes and threads a node may start: the binaries use a few dozen.
pub const PIDS_LIMIT: u32 = 256;

/// What every Chimera node shares: mounts, a read-only root, a tmpfs, no capabilities and no
/// privilege escalation (the binaries need neither), a process limit, restarts, shutdown.
fn node_common(y: &mut Yaml, env: &EnvConfig) {
    if env.log_format == chimera_shared::config::LogFormat::Json {
        y.kv(3, "CHIMERA_LOG_FORMAT", "json");
    }
    y.line(2, "volumes:");
    y.item(3, &format!(".:{EXPERIMENT_MOUNT}:ro"));
    y.item(3, &format!("{LOG_VOLUME}:{LOG_MOUNT}"));
    y.item(3, &format!("{STATE_VOLUME}:{STATE_MOUNT}"));
    y.raw(2, "read_only", "true");
    y.line(2, "tmpfs:");
    y.item(3, "/tmp");
    y.line(2, "cap_drop:");
    y.item(3, "ALL");
    y.line(2, "security_opt:");
    y.item(3, "no-new-privileges:true");
    y.raw(2, "pids_limit", PIDS_LIMIT);
    y.kv(2, "restart", "unless-stopped");
    // The binaries run as PID 1 and stop gracefully on SIGTERM.
    y.kv(2, "stop_grace_period", "10s");
}

fn input_label(y: &mut Yaml, options: &Options, service: &str) {
    if let Some(fp) = options.input_labels.get(service) {
        y.line(2, "labels:");
        y.kv(3, "chimera.inputs", fp);
    }
}

/// A scratch image has no shell or curl: the binary probes its own /healthz.
fn healthcheck(y: &mut Yaml, binary: &str) {
    y.line(2, "healthcheck:");
    y.line(
        3,
        &format!("test: [{}, {}, {}]", quote("CMD"), quote(binary), quote("healthcheck")),
    );
    // Every 30 s, Docker's default: each check makes the engine start a process in the
    // container (about 85 ms of CPU here), so checks every few seconds cost an idle experiment
    // over 10% of a core. Start-up does not wait for them (see `depends_on`).
    y.kv(3, "interval", "30s");
    y.kv(3, "timeout", "2s");
    y.raw(3, "retries", 3);
    y.kv(3, "start_period", "10s");
}

/// `prometheus.yml`: scrape the master and every worker on the private network.
pub fn prometheus_config(exp: &Experiment) -> Result<String, String> {
    let env = &exp.env;
    let plan = plan(env)?;
    let mut y = Yaml(String::new());
    y.line(0, "# Generated by `cargo xtask compose --with-prometheus`.");
    y.line(0, "global:");
    y.kv(1, "scrape_interval", "5s");
    y.line(0, "scrape_configs:");
    y.line(1, &format!("- job_name: {}", quote("chimera")));
    y.kv(2, "metrics_path", "/metrics");
    y.line(2, "static_configs:");
    y.line(
        3,
        &format!(
            "- targets: [{}]",
            quote(&format!("{}:{}", plan.master, env.master_port))
        ),
    );
    y.line(4, "labels:");
    y.kv(5, "node", "master");
    y.kv(5, "role", "master");
    for (i, (name, _)) in exp.workers.iter().enumerate() {
        y.line(
            3,
            &format!(
                "- targets: [{}]",
                quote(&format!("{}:{}", plan.workers[i], env.workers_port))
            ),
        );
        y.line(4, "labels:");
        y.kv(5, "node", name);
        y.kv(5, "role", "worker");
    }
    Ok(y.0)
}
