//! `cargo xtask demo`: a real experiment end to end. For each bundled example it copies the
//! experiment to `target/chimera-demo/`, starts it, fits, predicts the held-out split, prints
//! the quality and each worker's time, and stops everything — also on failure and on Ctrl-C.

use crate::{csv, docker, local, workspace};
use chimera_shared::api::{PredRows, PredictRequest};
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
];

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
        let dir = copy_example(name)?;
        *current.lock().map_err(|e| e.to_string())? = Some(dir.clone());
        run_one(name, &dir, use_docker)?;
        *current.lock().map_err(|e| e.to_string())? = None;
    }
    Ok(())
}

fn copy_example(name: &str) -> Result<PathBuf, String> {
    let from = workspace::root().join("examples").join(name);
    if !from.exists() {
        return Err(format!("no example {name:?}; the examples are {EXAMPLES:?}"));
    }
    let to = workspace::target_dir().join("chimera-demo").join(name);
    if to.exists() {
        stop(&to);
    }
    let _ = std::fs::remove_dir_all(&to);
    chimera_shared::config::experiment::copy_folder(&from, &to)
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    Ok(to)
}

fn run_one(name: &str, dir: &Path, use_docker: bool) -> Result<(), String> {
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
    let fit = client.fit(kind)?;
    crate::client_cmds::print_fit(&fit);

    let x_path = dir.join("test").join("X_test.csv");
    let y_path = dir.join("test").join("y_test.csv");
    let x = csv::read(&x_path)?;
    let y = csv::read(&y_path)?;
    let request = PredictRequest {
        columns: x.header.clone(),
        rows: csv::numbers(&x)?,
    };
    let started = Instant::now();
    let answer = client.predict(kind, &request)?;
    let seconds = started.elapsed().as_secs_f64();
    let truth = y.text_column(0).map_err(|e| e.to_string())?;
    match (&answer.y_pred_labels, &answer.y_pred_rows) {
        (Some(labels), _) => {
            println!(
                "predict {} held-out rows in {seconds:.3} s: accuracy {:.3}",
                truth.len(),
                chimera_shared::scores::accuracy(&truth, labels)
            );
        }
        (None, PredRows::Values(pred)) => {
            let t: Vec<f64> = truth.iter().map(|v| v.trim().parse().unwrap_or(f64::NAN)).collect();
            println!(
                "predict {} held-out rows in {seconds:.3} s: R² {:.3}",
                t.len(),
                chimera_shared::scores::r2(&t, pred)
            );
        }
        _ => return Err("the master answered neither labels nor values".into()),
    }
    if !answer.failed_workers.is_empty() {
        println!("workers that did not contribute: {:?}", answer.failed_workers);
    }
    Ok(())
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
            format!("distributed SGD, {} rounds at most", ps.max_iter)
        }
    }
}
