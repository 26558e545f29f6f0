//! A benchmark cluster (local processes or Docker) on an experiment written for the scenario,
//! and the probes run beside it: the floor of a round, the load generator, the machine.

use super::data::Data;
use super::median;
use crate::{docker, local, workspace};
use chimera_shared::client::Client;
use chimera_shared::config::{Experiment, Loss};
use chimera_shared::sgd::{self, ColumnStats, LossSpec, Targets};
use ndarray::{Array1, Array2};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Writes an experiment: `k` workers with the given spec, each with its rows of `data`.
pub(super) fn experiment(
    dir: &Path,
    subnet: u8,
    master_yaml: &str,
    worker_yaml: &str,
    data: &Data,
    shards: &[Vec<usize>],
) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("chimera_workers")).map_err(|e| e.to_string())?;
    let names: Vec<String> = (1..=shards.len()).map(|i| format!("worker-{i}")).collect();
    let ports = chimera_shared::client::free_ports(shards.len() + 1);
    let env = format!(
        "CHIMERA_WORKERS_NODES_NAMES='{}'\nCHIMERA_WORKERS_MAPPED_PORTS='{:?}'\nCHIMERA_MASTER_PORT={}\nCHIMERA_NETWORK_NAME=chimera-bench-{subnet}\nCHIMERA_NETWORK_PREFIX=172.30.{subnet}\n",
        serde_json::to_string(&names).expect("strings"),
        &ports[..shards.len()],
        ports[shards.len()]
    );
    std::fs::write(dir.join(".env"), env).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("chimera_master.yaml"), master_yaml).map_err(|e| e.to_string())?;
    let mut first: Option<PathBuf> = None;
    for (name, rows) in names.iter().zip(shards) {
        std::fs::write(dir.join("chimera_workers").join(format!("{name}.yaml")), worker_yaml)
            .map_err(|e| e.to_string())?;
        let data_dir = dir.join("chimera_train_data").join(name);
        std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
        // The same rows on every worker (bagging): write once, hard-link the rest.
        match &first {
            Some(src) if rows.len() == shards[0].len() && rows == &shards[0] => {
                for f in ["X_train.csv", "y_train.csv"] {
                    std::fs::hard_link(src.join(f), data_dir.join(f)).map_err(|e| e.to_string())?;
                }
            }
            _ => {
                data.write(&data_dir, rows)?;
                first.get_or_insert(data_dir);
            }
        }
    }
    Ok(())
}

/// A running cluster, local or Docker; stopped on drop.
pub(super) struct Cluster {
    pub(super) dir: PathBuf,
    pub(super) exp: Experiment,
    pub(super) docker: bool,
    pub(super) startup_s: f64,
}

impl Cluster {
    pub(super) fn start(dir: &Path, use_docker: bool) -> Result<Cluster, String> {
        let exp = Experiment::load(dir).map_err(|e| e.to_string())?;
        let started = Instant::now();
        if use_docker {
            docker::up(&exp, true)?;
        } else {
            local::up(&exp)?;
        }
        Ok(Cluster {
            dir: dir.to_path_buf(),
            exp,
            docker: use_docker,
            startup_s: started.elapsed().as_secs_f64(),
        })
    }

    pub(super) fn client(&self) -> Client {
        Client::new(
            format!("http://127.0.0.1:{}", self.exp.env.master_port),
            Duration::from_secs(600),
        )
    }

    pub(super) fn worker_urls(&self) -> Vec<String> {
        self.exp
            .env
            .mapped_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect()
    }

    /// `(node, pid)` of every process, from the pid files or Docker.
    pub(super) fn pids(&self) -> Vec<(String, i32)> {
        let names: Vec<String> = self
            .exp
            .workers
            .iter()
            .map(|(n, _)| n.clone())
            .chain(["master".to_string()])
            .collect();
        names
            .into_iter()
            .filter_map(|n| {
                let pid = if self.docker {
                    let id = Command::new("docker")
                        .current_dir(&self.dir)
                        .args(["inspect", "--format", "{{.State.Pid}}"])
                        .arg(self.container(&n)?)
                        .output()
                        .ok()?;
                    String::from_utf8_lossy(&id.stdout).trim().parse().ok()?
                } else {
                    std::fs::read_to_string(local::state_dir(&self.dir).join(format!("{n}.pid")))
                        .ok()?
                        .trim()
                        .parse()
                        .ok()?
                };
                Some((n, pid))
            })
            .collect()
    }

    pub(super) fn container(&self, service: &str) -> Option<String> {
        let parts = docker::compose_command().ok()?;
        let out = Command::new(&parts[0])
            .args(&parts[1..])
            .current_dir(&self.dir)
            .args(["-f", "docker-compose.yml", "ps", "-q", service])
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
    }

    /// Peak resident memory (VmHWM) of each process, in MB.
    pub(super) fn peak_rss_mb(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (name, pid) in self.pids() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let kb: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(f64::NAN);
            out.insert(name, json!((kb / 1024.0 * 10.0).round() / 10.0));
        }
        Value::Object(out)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        local::down(&self.dir);
        if self.docker {
            let _ = docker::down(&self.dir, true);
        }
    }
}

/// The gradient alone over a shard, as a worker computes it: median seconds over `reps`.
pub(super) fn gradient_floor(data: &Data, rows: &[usize], loss: Loss, reps: usize) -> f64 {
    let x = Array2::from_shape_fn((rows.len(), data.columns.len()), |(i, j)| data.x[rows[i]][j]);
    let stats = ColumnStats::of(x.view());
    let z = sgd::standardize(x.view(), &stats.mean, &stats.scale());
    let values: Vec<f64> = rows.iter().map(|&i| data.y[i].parse().unwrap_or(0.0)).collect();
    let classes: Vec<usize> = values.iter().map(|v| usize::from(*v > 0.5)).collect();
    let targets = match loss {
        Loss::SquaredError | Loss::Huber => Targets::Values(&values),
        _ => Targets::Classes {
            y: &classes,
            n_classes: 2,
        },
    };
    let w = Array2::from_elem((data.columns.len(), 1), 0.01);
    let b = Array1::zeros(1);
    let spec = LossSpec { loss, huber_delta: 0.1 };
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(sgd::data_gradient(z.view(), targets, None, &w, &b, spec));
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// A bare k-way fan-out round trip with the master's client to the workers' server.
pub(super) fn http_floor(urls: &[String], rounds: usize) -> Result<f64, String> {
    let out = Command::new(workspace::bin("chimera-bench"))
        .arg("floor")
        .arg(rounds.to_string())
        .args(urls)
        .output()
        .map_err(|e| format!("chimera-bench floor: {e}"))?;
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("chimera-bench floor: {e}: {}", String::from_utf8_lossy(&out.stderr)))?;
    v["median_s"]
        .as_f64()
        .ok_or_else(|| "chimera-bench floor printed no median".into())
}

/// `clients` single-row predicts kept in flight for `seconds`, by `chimera-bench load` (an
/// event-driven client on the master's own HTTP stack, so the load generator takes little of
/// the 2 cores the cluster runs on).
pub(super) fn load(client_base: &str, body: &[u8], path: &str, clients: usize, seconds: f64) -> Value {
    let body_file = std::env::temp_dir().join(format!("chimera-bench-body-{}.json", std::process::id()));
    let result = std::fs::write(&body_file, body)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            Command::new(workspace::bin("chimera-bench"))
                .args(["load", &format!("{client_base}{path}")])
                .arg(&body_file)
                .args([clients.to_string(), seconds.to_string()])
                .output()
                .map_err(|e| e.to_string())
        });
    let _ = std::fs::remove_file(&body_file);
    let mut v: Value = match result {
        Ok(out) => serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| json!({"error": format!("{e}: {}", String::from_utf8_lossy(&out.stderr))})),
        Err(e) => json!({"error": e}),
    };
    v["clients"] = json!(clients);
    v
}

pub(super) fn git_revision() -> String {
    let rev = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace::root())
        .output();
    let rev = rev
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(workspace::root())
        .output();
    let dirty = dirty.is_ok_and(|o| !o.stdout.is_empty());
    format!("{rev}{}", if dirty { "-dirty" } else { "" })
}

pub(super) fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    json!({
        "cpus": std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        "cpu": model,
        "memory_gb": (mem_kb / 1_048_576.0).round(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}
