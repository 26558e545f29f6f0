//! `cargo xtask`: Chimera's task runner. Run `cargo xtask --help`.

mod bench;
mod client_cmds;
mod csv;
mod demo;
mod docker;
mod examples;
mod local;
mod workspace;

use chimera_shared::config::Experiment;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Chimera's tasks: run experiments, clusters and tests")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the bundled examples end to end: start, fit, predict held-out data, report, stop.
    Demo {
        /// Which examples (default: all).
        #[arg(value_name = "EXAMPLE")]
        examples: Vec<String>,
        /// Local processes even when a Docker daemon answers.
        #[arg(long, conflicts_with = "docker")]
        local: bool,
        /// Docker containers (fails when no daemon answers).
        #[arg(long)]
        docker: bool,
    },
    /// Write EXP/docker-compose.yml from EXP/.env and the spec files.
    Compose {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Add a Prometheus service and EXP/prometheus.yml scraping every node.
        #[arg(long)]
        with_prometheus: bool,
    },
    /// Build the chimera-master and chimera-worker images (static binaries, FROM scratch).
    Images {
        /// Rebuild even when the binaries did not change.
        #[arg(long)]
        force: bool,
    },
    /// Start an experiment's master and workers and wait until every one is healthy.
    Up {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// As local processes on 127.0.0.1 instead of Docker containers.
        #[arg(long)]
        local: bool,
        /// Use the binaries as they are, without `cargo build` first.
        #[arg(long)]
        no_build: bool,
    },
    /// Stop an experiment's nodes (local processes and containers) and remove its network.
    Down {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Also remove the containers' log volume.
        #[arg(long)]
        volumes: bool,
    },
    /// Fit a running experiment, with a progress bar and a per-worker timing table.
    Fit {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Predict every row of a CSV (header = feature names); predictions as CSV.
    Predict {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        csv: PathBuf,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The master's state, training progress, and each worker's health and last call.
    Status {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Benchmarks: the original's scenarios through the real HTTP path, with the floor measured
    /// in the same run; one JSON line per (scenario, worker count).
    Bench {
        /// A short run (k = 2 and 3, fewer repeats; under 2 minutes once the data exists).
        #[arg(long)]
        quick: bool,
        /// On Docker containers instead of local processes.
        #[arg(long)]
        docker: bool,
        /// Also write this markdown file (docs/benchmarks.md) from the run's results.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Run the criterion micro-benchmarks of the hot paths instead.
        #[arg(long)]
        micro: bool,
    },
    /// (Re)write the examples' data from the red wine set that linfa-datasets ships.
    Examples,
    /// Build the binaries, then run every test (the Docker tests too, when a daemon answers).
    Test {
        /// Passed to `cargo test` (a test name filter, `--nocapture`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn load(dir: &std::path::Path) -> Result<Experiment, String> {
    let dir = workspace::experiment_dir(dir)?;
    let exp = Experiment::load(&dir).map_err(|e| e.to_string())?;
    for w in &exp.warnings {
        eprintln!("{w}");
    }
    Ok(exp)
}

fn run(cmd: Cmd) -> Result<(), String> {
    match cmd {
        Cmd::Demo {
            examples,
            local,
            docker: want_docker,
        } => {
            let chosen = if examples.is_empty() {
                demo::EXAMPLES.iter().map(ToString::to_string).collect()
            } else {
                examples
            };
            let use_docker = if want_docker {
                docker::require_daemon()?;
                true
            } else {
                !local && docker::daemon_answers()
            };
            demo::run(&chosen, use_docker)
        }
        Cmd::Compose { dir, with_prometheus } => {
            let exp = load(&dir)?;
            let path = docker::write_compose(&exp, with_prometheus)?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Cmd::Images { force } => {
            workspace::build_binaries()?;
            let built = docker::build_images(force)?;
            if built.is_empty() {
                println!("images are up to date");
            } else {
                println!("built {}", built.join(", "));
            }
            Ok(())
        }
        Cmd::Up { dir, local, no_build } => {
            let exp = load(&dir)?;
            if !local {
                let took = docker::up(&exp, no_build)?;
                println!(
                    "{} worker container(s) and the master healthy in {:.2} s. Master: http://{}:{}",
                    exp.workers.len(),
                    took.as_secs_f64(),
                    exp.env.master_host,
                    exp.env.master_port
                );
                return Ok(());
            }
            if !no_build {
                workspace::build_binaries()?;
            }
            let started = std::time::Instant::now();
            let names = local::up(&exp)?;
            println!(
                "{} node(s) started, {} already running; all healthy in {:.2} s. Master: http://127.0.0.1:{}",
                names.len(),
                exp.workers.len() + 1 - names.len(),
                started.elapsed().as_secs_f64(),
                exp.env.master_port
            );
            Ok(())
        }
        Cmd::Down { dir, volumes } => {
            let dir = workspace::experiment_dir(&dir)?;
            let stopped = local::down(&dir);
            docker::down(&dir, volumes)?;
            println!("stopped {} node(s): {}", stopped.len(), stopped.join(", "));
            Ok(())
        }
        Cmd::Examples => {
            let root = workspace::root();
            examples::write_all(&root.join("examples"))?;
            examples::write_sgd(&root.join("examples"), &root.join("tests/data/winequality_red"))
        }
        Cmd::Test { args } => test(&args),
        Cmd::Bench { micro: true, .. } => {
            let status = workspace::cargo()
                .args(["bench", "--bench", "hot_paths"])
                .status()
                .map_err(|e| format!("cannot run cargo bench: {e}"))?;
            status
                .success()
                .then_some(())
                .ok_or_else(|| "cargo bench failed".to_string())
        }
        Cmd::Bench {
            quick,
            docker,
            markdown,
            ..
        } => bench::run(&bench::Options {
            quick,
            docker,
            markdown,
        }),
        Cmd::Fit { dir } => client_cmds::fit(&load(&dir)?),
        Cmd::Predict { dir, csv, out } => client_cmds::predict(&load(&dir)?, &csv, out.as_deref()),
        Cmd::Status { dir } => client_cmds::status(&load(&dir)?),
    }
}

/// The README's test command: binaries first (the black-box tests start them), then all tests.
fn test(args: &[String]) -> Result<(), String> {
    workspace::build_binaries()?;
    let status = workspace::cargo()
        .args(["test", "--release", "--workspace"])
        .args(args)
        .env("CHIMERA_BIN_DIR", workspace::bin_dir())
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("some tests failed (see above)".into())
    }
}
