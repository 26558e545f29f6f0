//! `cargo xtask demo`: a real experiment end to end. For each bundled example it copies the
//! experiment to `target/chimera-demo/`, starts it, fits, predicts the held-out split, prints
//! the quality and each worker's time, writes each run's report, and stops everything — also
//! on failure and on Ctrl-C. The last run, `stragglers`, trains the same experiment with a slow
//! worker twice, in `gradient` and in `async` mode, and compares them.

use crate::{docker, local, workspace};
use chimera_shared::client::Client;
use chimera_shared::config::{Experiment, MasterSpec};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const EXAMPLES: &[&str] = &[
    "bagging-classification",
    "hybrid-regression",
    "sgd-regression",
    "sgd-classification",
    "stragglers",
];

/// The straggler comparison: worker-2 of `sgd-regression` waits this long before every answer.
const STRAGGLER_DELAY_MS: u64 = 20;

/// Stops the cluster of `dir` when dropped, so an error or a panic never leaves it running.
struct Running(PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        stop(&self.0);
    }
}

fn stop(dir: &Path) {
    let stopped = local::down(dir);
    match docker::down(dir, true) {
        Ok(()) if dir.join(docker::COMPOSE_FILE).exists() => {
            eprintln!("removed the containers and the network");
        }
        Ok(()) if !stopped.is_empty() => eprintln!("stopped {} node(s)", stopped.len()),
        Ok(()) => {}
        Err(e) => eprintln!("could not remove the containers: {e}"),
    }
}

pub fn run(examples: &[String], use_docker: bool) -> Result<(), String> {
    workspace::build_binaries()?;
    if use_docker {
        docker::build_images(false)?;
    }
    let current: Arc<Mutex<Option<PathBuf>>> = Arc::new(Mutex::new(None));
    let for_handler = current.clone();
    let _ = ctrlc::set_handler(move || {
        if let Some(dir) = for_handler.lock().ok().and_then(|d| d.clone()) {
            eprintln!("\ninterrupted: stopping the cluster ...");
            stop(&dir);
        }
        std::process::exit(130);
    });
    for name in examples {
        if name == "stragglers" {
            stragglers(&current, use_docker)?;
            continue;
        }
        let dir = copy_example(name, name)?;
        *current.lock().map_err(|e| e.to_string())? = Some(dir.clone());
        run_one(name, &dir, use_docker)?;
        *current.lock().map_err(|e| e.to_string())? = None;
    }
    Ok(())
}

/// `sgd-regression` with worker-2 slowed down, once synchronous and once asynchronous, for
/// the same work (2 workers x 100 gradients); prints what the straggler cost each.
fn stragglers(current: &Arc<Mutex<Option<PathBuf>>>, use_docker: bool) -> Result<(), String> {
    let mut results = Vec::new();
    for (mode, updates) in [("gradient", 100), ("async", 200)] {
        let name = format!("stragglers-{mode}");
        let dir = copy_example("sgd-regression", &name)?;
        std::fs::write(
            dir.join("chimera_master.yaml"),
            format!("kind: parameter-server\nmodel_type: regressor\nmode: {mode}\nmax_iter: {updates}\n"),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("chimera_workers").join("worker-2.yaml"),
            format!("kind: sgd\nmodel_type: regressor\ndelay_ms: {STRAGGLER_DELAY_MS}\n"),
        )
        .map_err(|e| e.to_string())?;
        *current.lock().map_err(|e| e.to_string())? = Some(dir.clone());
        results.push((mode, run_one(&name, &dir, use_docker)?));
        *current.lock().map_err(|e| e.to_string())? = None;
    }
    println!("\n== stragglers: worker-2 answers {STRAGGLER_DELAY_MS} ms late");
    for (mode, r) in &results {
        let t = r.answer.training.as_ref();
        println!(
            "  {mode:<8} {:>4} updates in {:.3} s, {}{}",
            t.map_or(0, |t| t.rounds),
            r.answer.seconds.unwrap_or(f64::NAN),
            r.test
                .as_ref()
                .map_or_else(String::new, |s| format!("held-out {} {:.3}", s.metric, s.value)),
            t.and_then(|t| t.staleness_histogram.as_ref())
                .map_or_else(String::new, |h| {
                    format!(
                        ", staleness (updates behind: gradients) {}",
                        crate::client_cmds::staleness_text(h)
                    )
                }),
        );
    }
    println!("  each run's report.html shows the latency, the gap and the staleness behind these figures");
    Ok(())
}

/// Copies example `name` to `target/chimera-demo/<as_name>/`.
fn copy_example(name: &str, as_name: &str) -> Result<PathBuf, String> {
    let from = workspace::root().join("examples").join(name);
    if !from.exists() {
        return Err(format!("no example {name:?}; the examples are {EXAMPLES:?}"));
    }
    let to = workspace::target_dir().join("chimera-demo").join(as_name);
    if to.exists() {
        stop(&to);
    }
    let _ = std::fs::remove_dir_all(&to);
    chimera_shared::config::experiment::copy_folder(&from, &to)
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    Ok(to)
}

fn run_one(name: &str, dir: &Path, use_docker: bool) -> Result<crate::report::FitRecord, String> {
    let exp = Experiment::load(dir).map_err(|e| e.to_string())?;
    let kind = exp.master.kind_name();
    println!(
        "\n== {name}: {kind} master, {} workers: {}",
        exp.workers.len(),
        describe(&exp)
    );
    let _running = Running(dir.to_path_buf());
    if use_docker {
        let took = docker::up(&exp, true)?;
        println!(
            "containers healthy in {:.2} s (docker compose, project {name:?})",
            took.as_secs_f64()
        );
    } else {
        let started = Instant::now();
        local::up(&exp)?;
        println!(
            "cluster healthy in {:.2} s (local processes; logs in {})",
            started.elapsed().as_secs_f64(),
            dir.join("logs").display()
        );
    }

    let client = Client::new(
        format!("http://127.0.0.1:{}", exp.env.master_port),
        Duration::from_secs(600),
    )
    .with_token(exp.env.auth.token.clone());
    let mark = crate::report::time_log_mark(&exp);
    let fit = client.fit(kind)?;
    crate::client_cmds::print_fit(&fit);
    let record = crate::client_cmds::record_and_report(&exp, &client, fit, mark)?;
    if !dir.join("test").exists() {
        return Err(format!("the example {name} has no test/ folder to score"));
    }
    Ok(record)
}

fn describe(exp: &Experiment) -> String {
    match &exp.master {
        MasterSpec::Aggregation => {
            let size = |name: &str| {
                std::fs::metadata(exp.data_dir(name).join("X_train.csv"))
                    .map(|m| m.len())
                    .ok()
            };
            let first = size(&exp.workers[0].0);
            if exp.workers.iter().all(|(n, _)| size(n) == first) {
                "model parallelism (bagging, the same data on every worker)".into()
            } else {
                "hybrid parallelism (bagging, a different dataset on each worker)".into()
            }
        }
        MasterSpec::ParameterServer(ps) => {
            format!(
                "distributed SGD, mode {}, {} updates at most",
                ps.mode.as_str(),
                ps.max_iter
            )
        }
    }
}
