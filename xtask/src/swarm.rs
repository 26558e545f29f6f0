//! `up --swarm` and `down --swarm`: the experiment as a Docker Swarm stack. Swarm, not this
//! code, places and restarts the containers; this only deploys, waits and removes.

use crate::docker::{self, run_ok};
use chimera_compose::swarm::{self, SwarmOptions, STACK_FILE};
use chimera_compose::Images;
use chimera_shared::config::Experiment;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long `up --swarm` waits for every worker to answer through the master.
const UP_LIMIT: Duration = Duration::from_secs(120);
/// How long `down --swarm` waits for the stack's containers, networks and configs to go.
const DOWN_LIMIT: Duration = Duration::from_secs(90);

/// `CHIMERA_REGISTRY` from the process environment or `.env`, checked.
pub fn registry(exp: Option<&Experiment>) -> Result<Option<String>, String> {
    let value = match exp {
        Some(exp) => exp.source.get("CHIMERA_REGISTRY").map(str::to_string),
        None => std::env::var("CHIMERA_REGISTRY").ok(),
    };
    value
        .filter(|v| !v.is_empty())
        .map(|v| chimera_compose::parse_registry(&v))
        .transpose()
}

/// The folder the stack's bind mounts read the data from: `--data-root`, or the experiment
/// folder itself (right on a one-host swarm).
pub fn data_root(exp: &Experiment, given: Option<&Path>) -> Result<PathBuf, String> {
    match given {
        Some(p) => Ok(p.to_path_buf()),
        None => exp
            .dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", exp.dir.display())),
    }
}

/// Writes `EXP/chimera-stack.yml`.
pub fn write_stack(exp: &Experiment, data_root: PathBuf, publish_workers: bool) -> Result<PathBuf, String> {
    let options = SwarmOptions {
        data_root,
        images: Images::new(registry(Some(exp))?.as_deref()),
        publish_workers,
    };
    let yaml = swarm::generate(exp, &options)?;
    let path = exp.dir.join(STACK_FILE);
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// This engine must be a swarm manager: `docker stack deploy` runs only there.
fn require_manager() -> Result<(), String> {
    docker::require_daemon()?;
    let info = run_ok(Command::new("docker").args([
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
    ]))?;
    if info.trim() == "active true" {
        return Ok(());
    }
    Err(format!(
        "this Docker engine is not a swarm manager (swarm state: {}); for a one-host swarm run `docker swarm init --advertise-addr 127.0.0.1` (and `docker swarm leave --force` afterwards), or run this on a manager of your swarm",
        info.trim()
    ))
}

/// Images, stack file, `docker stack deploy`, then wait until the master answers `/readyz`
/// with every worker healthy. A failed deploy is removed again.
pub fn up(exp: &Experiment, no_build: bool, data_root: PathBuf, publish_workers: bool) -> Result<Duration, String> {
    require_manager()?;
    if !no_build {
        crate::workspace::build_binaries()?;
    }
    docker::build_images(false)?;
    let registry = registry(Some(exp))?;
    if let Some(r) = &registry {
        docker::push_images(r)?;
    }
    write_stack(exp, data_root, publish_workers)?;
    let stack = swarm::stack_name(exp);
    let started = Instant::now();
    let mut deploy = Command::new("docker");
    deploy
        .current_dir(&exp.dir)
        .args(["stack", "deploy", "--compose-file", STACK_FILE, "--prune"]);
    if registry.is_some() {
        deploy.args(["--with-registry-auth", "--resolve-image", "always"]);
    } else {
        // Local images have no registry digest to look up.
        deploy.args(["--resolve-image", "never"]);
    }
    // Tasks from before this deploy (a worker that crashed last week) are not its failures.
    let earlier: HashSet<String> = stack_ps(&stack, &[], "{{.ID}}")?.lines().map(str::to_string).collect();
    let result = run_ok(deploy.arg(&stack))
        .and_then(|_| wait_ready(exp, &stack, &earlier))
        .and_then(|()| prune_configs(&stack, &exp.dir.join(STACK_FILE)));
    if let Err(e) = result {
        let removed = down(&stack, false)
            .err()
            .map(|d| format!("; removing it failed too: {d}"));
        return Err(format!(
            "{e}\nthe stack {stack} was removed again{}; the nodes' logs stay in the volume {stack}_chimera-logs until `cargo xtask down --swarm --volumes`",
            removed.unwrap_or_default()
        ));
    }
    Ok(started.elapsed())
}

/// Why a task of this deploy cannot run, as `docker stack ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trouble {
    /// It ran and failed, or a node refused it (a missing data folder, an image a host
    /// lacks, a port still held). Swarm starts another task in its slot after the restart
    /// delay, so one such task is not yet a verdict.
    Failed(String),
    /// Pending on no suitable node (a `node:` label no host carries): no retry changes that.
    Unplaceable(String),
}

/// Tasks of this deploy (not in `earlier`) that cannot run, each with its slot; failed
/// tasks stay listed after Swarm has replaced them.
fn failing_tasks(stack: &str, earlier: &HashSet<String>) -> Result<Vec<(String, String, Trouble)>, String> {
    let out = stack_ps(stack, &[], "{{.ID}}\t{{.Name}}\t{{.CurrentState}}\t{{.Error}}")?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            let (id, slot, rest) = (parts.next()?, parts.next()?, parts.next()?);
            if earlier.contains(id) {
                return None;
            }
            let why = rest.replace('\t', " ");
            let trouble = if rest.contains("no suitable node") {
                Trouble::Unplaceable(why)
            } else if rest.starts_with("Rejected") || rest.starts_with("Failed") {
                Trouble::Failed(why)
            } else {
                return None;
            };
            Some((id.to_string(), slot.to_string(), trouble))
        })
        .collect())
}

/// How long a slot may stay unplaceable before `up` gives up on it.
const FAILING_FOR: Duration = Duration::from_secs(8);

/// How many of a slot's tasks must fail before `up` gives up on it: Swarm restarts a failed
/// task after 2 s, and a task can fail once for a passing reason (the engine could not mount
/// its secrets once, or a rolling update found the master's host-mode port still held by the
/// task it replaces), so one failure is retried, as Swarm itself does; a missing data folder
/// fails every time, and three in a row are its verdict.
const FAILURES_PER_SLOT: usize = 3;

/// The slots to give up on, each as `slot: why` (its latest reason): [`FAILURES_PER_SLOT`]
/// failed tasks, or unplaceable since [`FAILING_FOR`] ago. `unplaceable_since` remembers when
/// each slot was first seen unplaceable.
fn given_up(
    failing: &[(String, String, Trouble)],
    unplaceable_since: &mut HashMap<String, Instant>,
    now: Instant,
) -> Vec<String> {
    let mut failures: HashMap<&str, (HashSet<&str>, &str)> = HashMap::new();
    let mut unplaceable: HashMap<&str, &str> = HashMap::new();
    for (id, slot, trouble) in failing {
        match trouble {
            Trouble::Failed(why) => {
                let entry = failures
                    .entry(slot.as_str())
                    .or_insert_with(|| (HashSet::new(), why.as_str()));
                entry.0.insert(id.as_str());
            }
            Trouble::Unplaceable(why) => {
                unplaceable.insert(slot.as_str(), why.as_str());
            }
        }
    }
    unplaceable_since.retain(|slot, _| unplaceable.contains_key(slot.as_str()));
    let mut out = Vec::new();
    for (slot, why) in unplaceable {
        let since = *unplaceable_since.entry(slot.to_string()).or_insert(now);
        if now.duration_since(since) >= FAILING_FOR {
            out.push(format!("{slot}: {why}"));
        }
    }
    for (slot, (ids, why)) in failures {
        if ids.len() >= FAILURES_PER_SLOT {
            out.push(format!("{slot}: {why} ({} tasks failed)", ids.len()));
        }
    }
    out.sort();
    out
}

/// `docker stack ps`, where a stack whose tasks are not created yet has no lines.
fn stack_ps(stack: &str, filters: &[&str], format: &str) -> Result<String, String> {
    match run_ok(
        Command::new("docker")
            .args(["stack", "ps", stack, "--no-trunc"])
            .args(filters)
            .args(["--format", format]),
    ) {
        Err(e) if e.contains("nothing found in stack") => Ok(String::new()),
        other => other,
    }
}

fn wait_ready(exp: &Experiment, stack: &str, earlier: &HashSet<String>) -> Result<(), String> {
    let host = match exp.env.master_host {
        ip if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    let url = format!("http://{host}:{}", exp.env.master_port);
    let client = chimera_shared::client::Client::new(&url, Duration::from_secs(3));
    let deadline = Instant::now() + UP_LIMIT;
    let mut said = Instant::now();
    // Slot -> when it was first seen unplaceable (forgotten when it is placed).
    let mut unplaceable_since: HashMap<String, Instant> = HashMap::new();
    loop {
        let starting = tasks_starting(stack)?;
        let last = match client.get("/readyz").and_then(|a| a.json::<serde_json::Value>()) {
            _ if !starting.is_empty() => format!("tasks starting: {}", starting.join(", ")),
            Ok(v) if v["ready"] == true && v["workers_healthy"] == v["workers"] => return Ok(()),
            Ok(v) => format!("{} of {} workers healthy", v["workers_healthy"], v["workers"]),
            Err(e) => format!("the master does not answer yet ({e})"),
        };
        let failing = failing_tasks(stack, earlier)?;
        let given_up = given_up(&failing, &mut unplaceable_since, Instant::now());
        if !given_up.is_empty() {
            return Err(format!(
                "tasks of stack {stack} cannot start:\n  {}",
                given_up.join("\n  ")
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("stack {stack} not ready after {UP_LIMIT:?}: {last} at {url}"));
        }
        if said.elapsed() > Duration::from_secs(5) {
            eprintln!("waiting for stack {stack}: {last}");
            said = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Tasks Swarm wants running that are not (yet) running and healthy: a fresh deploy's, or
/// the replacements a changed spec rolls out while the old tasks still answer.
fn tasks_starting(stack: &str) -> Result<Vec<String>, String> {
    let out = stack_ps(
        stack,
        &["--filter", "desired-state=running"],
        "{{.Name}}\t{{.CurrentState}}",
    )?;
    if out.trim().is_empty() {
        return Ok(vec!["(no task created yet)".to_string()]);
    }
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, state)| !state.starts_with("Running"))
        .map(|(name, _)| name.to_string())
        .collect())
}

/// Configs of `stack` that its current stack file no longer names (an edited spec's old
/// version): removed once no task uses them, so they do not pile up across redeploys.
fn prune_configs(stack: &str, stack_file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(stack_file).map_err(|e| format!("{}: {e}", stack_file.display()))?;
    let out = run_ok(Command::new("docker").args([
        "config",
        "ls",
        "--filter",
        &format!("label=com.docker.stack.namespace={stack}"),
        "--format",
        "{{.Name}}",
    ]))?;
    for name in out.lines().filter(|n| !text.contains(&format!("\"{n}\""))) {
        // In use by a task that is still stopping: the next deploy removes it.
        let _ = run_ok(Command::new("docker").args(["config", "rm", name]));
    }
    Ok(())
}

/// What of `stack` is still there: containers, networks, configs (and volumes with
/// `volumes`), as `kind name` lines.
fn leftovers(stack: &str, volumes: bool) -> Result<Vec<String>, String> {
    let filter = format!("label=com.docker.stack.namespace={stack}");
    let mut kinds = vec![
        ("service", vec!["service", "ls", "-q"]),
        ("container", vec!["ps", "-a", "-q"]),
        ("network", vec!["network", "ls", "-q"]),
        ("config", vec!["config", "ls", "-q"]),
    ];
    if volumes {
        kinds.push(("volume", vec!["volume", "ls", "-q"]));
    }
    let mut left = Vec::new();
    for (kind, args) in kinds {
        let out = run_ok(Command::new("docker").args(&args).args(["--filter", &filter]))?;
        left.extend(out.split_whitespace().map(|id| format!("{kind} {id}")));
    }
    Ok(left)
}

/// `docker stack rm`, then wait until its containers, networks and configs are gone (the
/// command returns before they are, and a network is only removed once its containers are).
pub fn down(stack: &str, volumes: bool) -> Result<Vec<String>, String> {
    require_manager()?;
    let before = leftovers(stack, volumes)?;
    let deadline = Instant::now() + DOWN_LIMIT;
    let mut last_error = String::new();
    let mut left = before.clone();
    loop {
        if left.is_empty() {
            return Ok(before);
        }
        // `stack rm` again while anything but volumes is left: a first one often fails to
        // remove the network while the containers still stop. Its errors are only reported
        // when the stack does not go.
        let result = if left.iter().any(|l| !l.starts_with("volume ")) {
            run_ok(Command::new("docker").args(["stack", "rm", stack]))
        } else {
            let ids: Vec<&str> = left.iter().filter_map(|l| l.strip_prefix("volume ")).collect();
            run_ok(Command::new("docker").args(["volume", "rm"]).args(&ids))
        };
        if let Err(e) = result {
            last_error = format!(" (last error: {e})");
        }
        if Instant::now() > deadline {
            return Err(format!(
                "stack {stack} is not gone after {DOWN_LIMIT:?}: {}{last_error}",
                left.join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
        left = leftovers(stack, volumes)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(id: &str, slot: &str) -> (String, String, Trouble) {
        (
            id.into(),
            slot.into(),
            Trouble::Failed(format!("Failed 1 second ago \"{id}\"")),
        )
    }

    #[test]
    fn a_slot_is_given_up_after_repeated_failures_or_a_lasting_placement_problem() {
        let start = Instant::now();
        let mut since = HashMap::new();
        // One failed task (the engine could not mount its secrets once): Swarm retries it.
        assert!(given_up(&[failed("a", "s_worker-2.1")], &mut since, start).is_empty());
        // Failures in other slots do not add up.
        let spread = [
            failed("a", "s_worker-1.1"),
            failed("b", "s_worker-2.1"),
            failed("c", "s_master.1"),
        ];
        assert!(given_up(&spread, &mut since, start).is_empty());
        // The same task listed twice is one failure.
        let twice = [
            failed("a", "s_worker-2.1"),
            failed("a", "s_worker-2.1"),
            failed("b", "s_worker-2.1"),
        ];
        assert!(given_up(&twice, &mut since, start).is_empty());
        // Three failed tasks of one slot: its verdict, with the latest reason listed first.
        let three = [
            failed("c", "s_worker-2.1"),
            failed("b", "s_worker-2.1"),
            failed("a", "s_worker-2.1"),
        ];
        assert_eq!(
            given_up(&three, &mut since, start),
            vec!["s_worker-2.1: Failed 1 second ago \"c\" (3 tasks failed)".to_string()]
        );
        // A task no node can take: given up once it has waited FAILING_FOR.
        let pending = [(
            "p".to_string(),
            "s_worker-3.1".to_string(),
            Trouble::Unplaceable("Pending: no suitable node".into()),
        )];
        assert!(given_up(&pending, &mut since, start).is_empty());
        assert!(given_up(&pending, &mut since, start + FAILING_FOR / 2).is_empty());
        assert_eq!(given_up(&pending, &mut since, start + FAILING_FOR).len(), 1);
        // Placed in between: the clock starts again.
        assert!(given_up(&[], &mut since, start + FAILING_FOR).is_empty());
        assert!(given_up(&pending, &mut since, start + FAILING_FOR * 2).is_empty());
    }
}
