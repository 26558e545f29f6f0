//! `cargo xtask up --local` / `down`: the master and one process per worker on 127.0.0.1,
//! detached from the calling shell, with their pids and output under `EXP/.chimera/local/`.
//!
//! `up` is idempotent: a node that is alive, healthy and started from the same inputs (spec,
//! `.env`, data, binary) is left alone; a missing, dead or changed one is (re)started.

use crate::workspace;
use chimera_shared::client::Client;
use chimera_shared::config::Experiment;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One process of the cluster.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub binary: &'static str,
    pub port: u16,
    pub env: BTreeMap<String, String>,
    /// Files whose change means the node must restart.
    pub inputs: Vec<PathBuf>,
}

pub fn state_dir(exp: &Path) -> PathBuf {
    exp.join(".chimera").join("local")
}

/// The nodes of an experiment, workers first, as local processes.
pub fn nodes(exp: &Experiment) -> Vec<Node> {
    let dir = exp.dir.display().to_string();
    let mut nodes = Vec::new();
    let mut all_specs = vec![exp.dir.join(".env"), exp.dir.join("chimera_master.yaml")];
    for (i, (name, _)) in exp.workers.iter().enumerate() {
        let port = exp.env.mapped_ports[i];
        let spec = exp.dir.join("chimera_workers").join(format!("{name}.yaml"));
        all_specs.push(spec.clone());
        let data = exp.data_dir(name);
        nodes.push(Node {
            name: name.clone(),
            binary: "chimera-worker",
            port,
            env: BTreeMap::from([
                ("CHIMERA_EXPERIMENT_DIR".into(), dir.clone()),
                ("CHIMERA_NODE_NAME".into(), name.clone()),
                ("CHIMERA_LISTEN_HOST".into(), "127.0.0.1".into()),
                ("CHIMERA_LISTEN_PORT".into(), port.to_string()),
            ]),
            inputs: vec![
                exp.dir.join(".env"),
                spec,
                data.join("X_train.csv"),
                data.join("y_train.csv"),
            ],
        });
    }
    let urls: Vec<String> = exp
        .env
        .mapped_ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    nodes.push(Node {
        name: "master".into(),
        binary: "chimera-master",
        port: exp.env.master_port,
        env: BTreeMap::from([
            ("CHIMERA_EXPERIMENT_DIR".into(), dir),
            ("CHIMERA_NODE_NAME".into(), "master".into()),
            ("CHIMERA_LISTEN_HOST".into(), "127.0.0.1".into()),
            ("CHIMERA_LISTEN_PORT".into(), exp.env.master_port.to_string()),
            (
                "CHIMERA_WORKERS_URLS".into(),
                serde_json::to_string(&urls).expect("strings serialize"),
            ),
        ]),
        inputs: all_specs,
    });
    nodes
}

/// FNV-1a over the node's environment, its inputs' sizes and modification times, and its
/// binary's: when it changes, the node must restart.
fn fingerprint(node: &Node) -> String {
    inputs_fingerprint(node, true)
}

/// The same without the binary (containers are recreated by Compose when their image changes).
pub fn inputs_fingerprint(node: &Node, with_binary: bool) -> String {
    let mut h = chimera_shared::hash::Fnv::new();
    for (k, v) in &node.env {
        h.eat(k.as_bytes());
        h.eat(v.as_bytes());
    }
    let binary = with_binary.then(|| workspace::bin(node.binary));
    for path in node.inputs.iter().chain(binary.as_ref()) {
        h.eat_file_stamp(path);
    }
    format!("{:016x}", h.finish())
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesized command name: "123 (name) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn health_client(port: u16) -> Client {
    Client::new(format!("http://127.0.0.1:{port}"), Duration::from_millis(500))
}

/// The last lines a node printed: where its start-up error is.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Starts what is missing, dead or changed; waits until every node answers healthy.
/// Returns the names of the nodes it started.
pub fn up(exp: &Experiment) -> Result<Vec<String>, String> {
    let state = state_dir(&exp.dir);
    fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    let mut started: Vec<(Node, Child)> = Vec::new();
    for node in nodes(exp) {
        let pid_file = state.join(format!("{}.pid", node.name));
        let print_file = state.join(format!("{}.fingerprint", node.name));
        let fp = fingerprint(&node);
        let running = read_pid(&pid_file).filter(|&p| alive(p));
        if let Some(pid) = running {
            let same = fs::read_to_string(&print_file).is_ok_and(|old| old.trim() == fp);
            if same && health_client(node.port).healthy() {
                continue;
            }
            stop_pid(pid);
        }
        let out_path = state.join(format!("{}.out", node.name));
        let out = fs::File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let binary = workspace::bin(node.binary);
        let spawned = Command::new(&binary)
            .envs(&node.env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: Ctrl-C in the calling shell does not reach it.
            .process_group(0)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                stop_started(&state, &mut started);
                return Err(format!(
                    "cannot start {}: {e} (build it with `cargo build --release`)",
                    binary.display()
                ));
            }
        };
        fs::write(&pid_file, child.id().to_string()).map_err(|e| e.to_string())?;
        fs::write(&print_file, &fp).map_err(|e| e.to_string())?;
        started.push((node, child));
    }
    if let Err(e) = wait_healthy(&state, &mut started, Duration::from_secs(30)) {
        // Half an experiment is worse than none: stop every node this `up` started.
        stop_started(&state, &mut started);
        return Err(format!("{e}\nthe nodes this `up` started were stopped again"));
    }
    Ok(started.into_iter().map(|(n, _)| n.name).collect())
}

/// Stops the nodes one `up` started and forgets them (their output files stay, to read).
fn stop_started(state: &Path, started: &mut [(Node, Child)]) {
    for (node, child) in started.iter_mut() {
        stop_pid(child.id() as i32);
        let _ = child.wait();
        let _ = fs::remove_file(state.join(format!("{}.pid", node.name)));
        let _ = fs::remove_file(state.join(format!("{}.fingerprint", node.name)));
    }
}

fn wait_healthy(state: &Path, started: &mut [(Node, Child)], limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut pending: Vec<usize> = (0..started.len()).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for i in pending {
            let (node, child) = &mut started[i];
            if let Ok(Some(status)) = child.try_wait() {
                let out = state.join(format!("{}.out", node.name));
                return Err(format!(
                    "{} exited at start-up ({status}):\n{}",
                    node.name,
                    tail(&out, 5)
                ));
            }
            if !health_client(node.port).healthy() {
                still.push(i);
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let names: Vec<&str> = pending.iter().map(|&i| started[i].0.name.as_str()).collect();
            return Err(format!(
                "not healthy after {limit:?}: {names:?}; see {}",
                state.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// SIGTERM, then SIGKILL after 5 s.
// The one unsafe call of the project: kill(2) through libc, so stopping a node needs no shell.
#[allow(unsafe_code)]
fn stop_pid(pid: i32) {
    // SAFETY: kill(2) with a pid we started and a valid signal number has no memory effects.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Stops every node started for `dir`. Returns the names it stopped.
pub fn down(dir: &Path) -> Vec<String> {
    let state = state_dir(dir);
    let mut stopped = Vec::new();
    let Ok(entries) = fs::read_dir(&state) else {
        return stopped;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pid") {
            if let Some(pid) = read_pid(&path).filter(|&p| alive(p)) {
                stop_pid(pid);
                stopped.push(path.file_stem().unwrap_or_default().to_string_lossy().into_owned());
            }
            let _ = fs::remove_file(&path);
        }
    }
    stopped.sort();
    stopped
}
