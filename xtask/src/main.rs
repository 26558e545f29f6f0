//! `cargo xtask`: Chimera's task runner. Run `cargo xtask --help`.

mod bench;
mod client_cmds;
mod csv;
mod data;
mod demo;
mod docker;
mod examples;
mod import;
mod kubernetes;
mod local;
mod report;
mod swarm;
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
    /// Write EXP/docker-compose.yml (or a Swarm stack, or Kubernetes manifests) from EXP/.env
    /// and the spec files.
    Compose {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// compose: EXP/docker-compose.yml; swarm: EXP/chimera-stack.yml; kubernetes: EXP/k8s/.
        #[arg(long, value_enum, default_value_t = Target::Compose)]
        target: Target,
        /// Add a Prometheus service and EXP/prometheus.yml scraping every node (Compose only).
        #[arg(long)]
        with_prometheus: bool,
        /// Swarm, and Kubernetes with `--data host-path`: the absolute folder, on every host
        /// that may run a worker, holding chimera_train_data/<worker>/ (default: EXP itself).
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// Swarm: also publish each worker on its CHIMERA_WORKERS_MAPPED_PORTS port.
        #[arg(long)]
        publish_workers: bool,
        /// Kubernetes: the workers' data from a PersistentVolumeClaim or a host path.
        #[arg(long, value_enum, default_value_t = KubeDataKind::Pvc)]
        data: KubeDataKind,
        /// Kubernetes with `--data pvc`: the claim holding chimera_train_data/<worker>/.
        #[arg(long, default_value = "chimera-data")]
        claim: String,
    },
    /// Build the chimera-master and chimera-worker images (static binaries, FROM scratch);
    /// with CHIMERA_REGISTRY=host:port/prefix set, also tag and push them there.
    Images {
        /// Rebuild even when the binaries did not change.
        #[arg(long)]
        force: bool,
        /// Also write both images to this tar file, for `docker load -i FILE` on other hosts.
        #[arg(long, value_name = "FILE.tar")]
        save: Option<PathBuf>,
        /// Use the binaries as they are, without `cargo build` first.
        #[arg(long)]
        no_build: bool,
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
        /// As a Docker Swarm stack (`docker stack deploy`); this engine must be a manager.
        #[arg(long, conflicts_with = "local")]
        swarm: bool,
        /// With --swarm: see `compose --data-root`.
        #[arg(long, requires = "swarm")]
        data_root: Option<PathBuf>,
        /// With --swarm: also publish each worker on its mapped port.
        #[arg(long, requires = "swarm")]
        publish_workers: bool,
    },
    /// Stop an experiment's nodes (local processes and containers) and remove its network.
    Down {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Also remove the containers' log and state volumes.
        #[arg(long)]
        volumes: bool,
        /// Remove the experiment's Swarm stack and wait until its tasks are gone.
        #[arg(long)]
        swarm: bool,
    },
    /// Fit a running experiment, with a progress bar and a per-worker timing table.
    Fit {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Write EXP/report.html from the last `cargo xtask fit`: loss, worker latency, straggler
    /// gap, staleness, each worker's rows and labels, held-out quality (inline SVG, no server).
    Report {
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
    /// Cut a dataset into one training shard per worker (IID or not) plus a held-out test/
    /// split, into EXP/chimera_train_data/<worker>/ and EXP/test/.
    Data(data::Options),
    /// Translate an experiment written for the Python original (master .py file,
    /// chimera_workers/*.py, chimera_train_data/) into this layout, without running Python.
    Import {
        /// The original experiment's folder.
        #[arg(long)]
        from: PathBuf,
        /// A new folder for the translated experiment.
        #[arg(long)]
        to: PathBuf,
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    Compose,
    Swarm,
    Kubernetes,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KubeDataKind {
    Pvc,
    HostPath,
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
        Cmd::Compose {
            dir,
            target,
            with_prometheus,
            data_root,
            publish_workers,
            data,
            claim,
        } => {
            let exp = load(&dir)?;
            if with_prometheus && target != Target::Compose {
                return Err("--with-prometheus adds a Prometheus service to the Compose file only; on Kubernetes the pods carry prometheus.io scrape annotations, on Swarm see the README".into());
            }
            match target {
                Target::Compose => {
                    let path = docker::write_compose(&exp, with_prometheus)?;
                    println!("wrote {}", path.display());
                }
                Target::Swarm => {
                    let root = swarm::data_root(&exp, data_root.as_deref())?;
                    let path = swarm::write_stack(&exp, root, publish_workers)?;
                    println!("wrote {}", path.display());
                }
                Target::Kubernetes => {
                    let data = match data {
                        KubeDataKind::Pvc => chimera_compose::kubernetes::KubeData::Claim(claim),
                        KubeDataKind::HostPath => chimera_compose::kubernetes::KubeData::HostPath(swarm::data_root(
                            &exp,
                            data_root.as_deref(),
                        )?),
                    };
                    for path in kubernetes::write(&exp, data)? {
                        println!("wrote {}", path.display());
                    }
                }
            }
            Ok(())
        }
        Cmd::Images { force, save, no_build } => {
            let registry = swarm::registry(None)?;
            if !no_build {
                workspace::build_binaries()?;
            }
            let built = docker::build_images(force)?;
            if built.is_empty() {
                println!("images are up to date");
            } else {
                println!("built {}", built.join(", "));
            }
            // The file first: it serves hosts that no registry reaches, even if a push fails.
            if let Some(file) = save {
                let saved = docker::save_images(&file, registry.as_deref())?;
                let size = std::fs::metadata(&file).map_or(0, |m| m.len());
                println!(
                    "saved {} to {} ({:.1} MB); on each host run `docker load -i {}`",
                    saved.join(", "),
                    file.display(),
                    size as f64 / 1e6,
                    file.display()
                );
            }
            if let Some(r) = &registry {
                println!("pushed {}", docker::push_images(r)?.join(", "));
            }
            Ok(())
        }
        Cmd::Up {
            dir,
            local,
            no_build,
            swarm: true,
            data_root,
            publish_workers,
        } => {
            let _ = local;
            let exp = load(&dir)?;
            let root = swarm::data_root(&exp, data_root.as_deref())?;
            let took = swarm::up(&exp, no_build, root, publish_workers)?;
            println!(
                "stack {} deployed: {} worker(s) healthy behind the master in {:.2} s. Master: http://{}:{}",
                chimera_compose::swarm::stack_name(&exp),
                exp.workers.len(),
                took.as_secs_f64(),
                exp.env.master_host,
                exp.env.master_port
            );
            Ok(())
        }
        Cmd::Up {
            dir, local, no_build, ..
        } => {
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
        Cmd::Down {
            dir,
            volumes,
            swarm: true,
        } => {
            let exp = load(&dir)?;
            let stack = chimera_compose::swarm::stack_name(&exp);
            let removed = swarm::down(&stack, volumes)?;
            println!("removed stack {stack} ({} object(s))", removed.len());
            Ok(())
        }
        Cmd::Down { dir, volumes, .. } => {
            let dir = workspace::experiment_dir(&dir)?;
            let stopped = local::down(&dir);
            docker::down(&dir, volumes)?;
            println!("stopped {} node(s): {}", stopped.len(), stopped.join(", "));
            Ok(())
        }
        Cmd::Data(options) => {
            for line in data::run(&options)? {
                println!("{line}");
            }
            Ok(())
        }
        Cmd::Import { from, to } => {
            for line in import::run(&from, &to)? {
                println!("{line}");
            }
            println!("run it: cargo xtask up --local --dir {}", to.display());
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
        Cmd::Report { dir } => report::write(&load(&dir)?).map(|path| report::announce(&path)),
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
