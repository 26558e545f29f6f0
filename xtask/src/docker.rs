//! The Docker side: `compose` writes the file, `images` builds the two images with no registry
//! (static binaries `FROM scratch`), `up` starts the experiment with whichever Compose the
//! machine has and waits until every service is healthy, `down` removes it.

use crate::workspace;
use chimera_compose::{Options, MASTER_IMAGE, PROMETHEUS_CONFIG, WORKER_IMAGE};
use chimera_shared::config::Experiment;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub const COMPOSE_FILE: &str = "docker-compose.yml";

fn output(cmd: &mut Command) -> Result<Output, String> {
    cmd.output()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))
}

pub fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = output(cmd)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} {:?} failed: {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether a Docker daemon answers.
pub fn daemon_answers() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn require_daemon() -> Result<(), String> {
    if daemon_answers() {
        Ok(())
    } else {
        Err("no Docker daemon answers (is it running, and may you use it?); run `cargo xtask up --local --dir EXP` to use local processes instead".into())
    }
}

/// `docker compose` (v2) when present, else `docker-compose` (1.29, as Debian ships it).
pub fn compose_command() -> Result<Vec<String>, String> {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if v2.is_ok_and(|s| s.success()) {
        return Ok(vec!["docker".into(), "compose".into()]);
    }
    let v1 = Command::new("docker-compose")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if v1.is_ok_and(|s| s.success()) {
        return Ok(vec!["docker-compose".into()]);
    }
    Err("neither `docker compose` nor `docker-compose` is installed".into())
}

fn compose(dir: &Path) -> Result<Command, String> {
    let parts = compose_command()?;
    let mut cmd = Command::new(&parts[0]);
    cmd.args(&parts[1..]).current_dir(dir).args(["-f", COMPOSE_FILE]);
    Ok(cmd)
}

/// Writes `EXP/docker-compose.yml` (and `EXP/prometheus.yml` with Prometheus).
pub fn write_compose(exp: &Experiment, with_prometheus: bool) -> Result<PathBuf, String> {
    let input_labels = crate::local::nodes(exp)
        .iter()
        .map(|n| (n.name.clone(), crate::local::inputs_fingerprint(n, false)))
        .collect();
    let yaml = chimera_compose::generate(
        exp,
        &Options {
            with_prometheus,
            input_labels,
        },
    )?;
    let path = exp.dir.join(COMPOSE_FILE);
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    if with_prometheus {
        let prom = exp.dir.join(PROMETHEUS_CONFIG);
        std::fs::write(&prom, chimera_compose::prometheus_config(exp)?)
            .map_err(|e| format!("{}: {e}", prom.display()))?;
    }
    Ok(path)
}

/// A label value that changes whenever the binary does.
fn binary_stamp(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mtime = meta
        .modified()
        .unwrap_or(SystemTime::UNIX_EPOCH)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(format!("{}-{}", meta.len(), mtime.as_nanos()))
}

fn image_stamp(image: &str) -> Option<String> {
    let out = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"chimera.binary\"}}",
            image,
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds both images when their binary changed. The build context is a staging folder holding
/// only the stripped binary and an empty log directory, so it is a few MB, not the target dir.
pub fn build_images(force: bool) -> Result<Vec<String>, String> {
    require_daemon()?;
    let staging = workspace::target_dir().join("docker-context");
    let mut built = Vec::new();
    for (binary, image, dockerfile) in [
        ("chimera-master", MASTER_IMAGE, "Dockerfile.master"),
        ("chimera-worker", WORKER_IMAGE, "Dockerfile.worker"),
    ] {
        let source = workspace::bin(binary);
        // The binary and the Dockerfile: a change of either rebuilds the image.
        let stamp = format!(
            "{}-{}",
            binary_stamp(&source)?,
            chimera_shared::state::fingerprint(&[workspace::root().join(dockerfile)])
        );
        if !force && image_stamp(image).as_deref() == Some(stamp.as_str()) {
            continue;
        }
        let context = staging.join(binary);
        let _ = std::fs::remove_dir_all(&context);
        std::fs::create_dir_all(context.join("chimera-logs")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(context.join("chimera-state")).map_err(|e| e.to_string())?;
        let staged = context.join(binary);
        std::fs::copy(&source, &staged).map_err(|e| format!("{}: {e}", source.display()))?;
        // Symbols are not needed at run time; stripping keeps the image well under 40 MB.
        let _ = Command::new("strip").arg(&staged).status();
        eprintln!("building image {image} ...");
        run_ok(
            Command::new("docker")
                .args(["build", "--quiet", "--file"])
                .arg(workspace::root().join(dockerfile))
                .args(["--tag", image, "--label"])
                .arg(format!("chimera.binary={stamp}"))
                .arg(&context),
        )?;
        built.push(image.to_string());
    }
    Ok(built)
}

/// Tags both images under `registry` (`CHIMERA_REGISTRY`) and pushes them, for hosts that
/// pull from it (a stack or manifests generated with the same variable name them so).
pub fn push_images(registry: &str) -> Result<Vec<String>, String> {
    let named = chimera_compose::Images::new(Some(registry));
    let mut pushed = Vec::new();
    for (local, remote) in [(MASTER_IMAGE, named.master), (WORKER_IMAGE, named.worker)] {
        run_ok(Command::new("docker").args(["tag", local, &remote]))?;
        eprintln!("pushing {remote} ...");
        run_ok(Command::new("docker").args(["push", "--quiet", &remote])).map_err(|e| {
            format!("{e}\ncannot push to CHIMERA_REGISTRY={registry:?}: is the registry running, reachable from here, and (if it is plain HTTP) listed in the engine's insecure-registries?")
        })?;
        pushed.push(remote);
    }
    Ok(pushed)
}

/// Writes both images (under their registry names when `CHIMERA_REGISTRY` is set) to one
/// tar file for `docker load -i FILE` on hosts that cannot reach a registry.
pub fn save_images(file: &Path, registry: Option<&str>) -> Result<Vec<String>, String> {
    let names = chimera_compose::Images::new(registry);
    if registry.is_some() {
        for (local, remote) in [(MASTER_IMAGE, &names.master), (WORKER_IMAGE, &names.worker)] {
            run_ok(Command::new("docker").args(["tag", local, remote]))?;
        }
    }
    let images = vec![names.master, names.worker];
    run_ok(
        Command::new("docker")
            .arg("save")
            .arg("--output")
            .arg(file)
            .args(&images),
    )?;
    Ok(images)
}

/// Compose, images when stale, `up -d`, then wait until every service is healthy.
pub fn up(exp: &Experiment, no_build: bool) -> Result<Duration, String> {
    require_daemon()?;
    if !no_build {
        workspace::build_binaries()?;
    }
    build_images(false)?;
    write_compose(exp, exp.dir.join(PROMETHEUS_CONFIG).exists())?;
    let started = Instant::now();
    let result = run_ok(compose(&exp.dir)?.args(["up", "-d", "--remove-orphans"]))
        .and_then(|_| wait_healthy(&exp.dir, Duration::from_secs(60)));
    if let Err(e) = result {
        // Half an experiment is worse than none: stop what this `up` started (the log volume
        // stays, with the failed node's logs).
        let stopped = down(&exp.dir, false)
            .err()
            .map(|d| format!("; stopping it failed too: {d}"));
        return Err(format!(
            "{e}\nthe experiment was stopped again{}; read `docker-compose logs` in {} for the cause",
            stopped.unwrap_or_default(),
            exp.dir.display()
        ));
    }
    Ok(started.elapsed())
}

/// The container ids of the project's services.
pub fn container_ids(dir: &Path) -> Result<Vec<String>, String> {
    let out = run_ok(compose(dir)?.args(["ps", "-q"]))?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// docker-compose 1.29 has no `up --wait`: poll the containers ourselves, asking the (fast)
/// docker CLI rather than Compose each time. A container is ready when it runs and either
/// Docker calls it healthy or its published `/healthz` answers: Docker checks health only every
/// 30 s (each check costs the engine a process start), and `up` need not wait for that.
fn wait_healthy(dir: &Path, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let ids = container_ids(dir)?;
    if ids.is_empty() {
        return Err("compose started no containers".into());
    }
    loop {
        let out = run_ok(
            Command::new("docker")
                .args([
                    "inspect",
                    "--format",
                    "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{range $p, $c := .NetworkSettings.Ports}}{{range $c}}{{.HostPort}} {{end}}{{end}}",
                ])
                .args(&ids),
        )?;
        let mut waiting = Vec::new();
        for line in out.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let (name, status, health) = (
                parts[0].trim_start_matches('/'),
                parts[1],
                parts.get(2).copied().unwrap_or("none"),
            );
            if status == "exited" || status == "dead" || health == "unhealthy" {
                let logs = output(Command::new("docker").args(["logs", "--tail", "5", name]))
                    .map(|o| {
                        format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        )
                    })
                    .unwrap_or_default();
                return Err(format!("{name} is {status}/{health}:\n{}", logs.trim()));
            }
            let answers = || {
                parts.get(3).and_then(|p| p.parse::<u16>().ok()).is_some_and(|port| {
                    chimera_shared::healthcheck::probe(([127, 0, 0, 1], port).into(), Duration::from_millis(300))
                        .is_ok()
                })
            };
            let ready = status == "running" && (health == "healthy" || health == "none" || answers());
            if !ready {
                waiting.push(name.to_string());
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not healthy after {limit:?}: {waiting:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes the project's containers and network (and its log volume with `volumes`).
pub fn down(dir: &Path, volumes: bool) -> Result<(), String> {
    if !dir.join(COMPOSE_FILE).exists() || !daemon_answers() {
        return Ok(());
    }
    let mut cmd = compose(dir)?;
    cmd.args(["down", "--remove-orphans", "--timeout", "10"]);
    if volumes {
        cmd.arg("--volumes");
    }
    run_ok(&mut cmd).map(|_| ())
}
