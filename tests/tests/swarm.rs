//! End-to-end on a one-node Docker Swarm: `cargo xtask up --swarm` deploys the generated stack,
//! which answers exactly as Compose and local processes do, and `down --swarm` leaves nothing.
//! The test joins a swarm only when the engine is in none (`docker swarm init --advertise-addr
//! 127.0.0.1`) and leaves the engine as it found it. Skipped with a notice when no Docker daemon
//! answers, unless `CHIMERA_REQUIRE_DOCKER=1` (as `.ci/run` sets).

use chimera_shared::client::Client;
use chimera_tests::{docker_or_skip, free_ports, xtask, Cluster, Down, TempDir};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One Docker test at a time in this file.
static DOCKER: Mutex<()> = Mutex::new(());

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker").args(args).output().expect("run docker");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text.trim().to_string())
}

fn docker_ok(args: &[&str]) -> String {
    let (ok, out) = docker(args);
    assert!(ok, "docker {args:?}: {out}");
    out
}

fn networks() -> BTreeSet<String> {
    docker_ok(&["network", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn swarm_state() -> String {
    docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
}

/// This engine as a one-node swarm manager for the test's length: joined when it was in no
/// swarm, and then left again, with the bridge network `swarm init` made removed.
struct OneNodeSwarm {
    joined: bool,
    networks_before: BTreeSet<String>,
    node: String,
}

impl OneNodeSwarm {
    fn start() -> OneNodeSwarm {
        let state = swarm_state();
        let networks_before = networks();
        let joined = state == "inactive";
        if joined {
            docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        } else {
            assert_eq!(state, "active", "the engine is in a swarm state this test cannot use");
        }
        let node = docker_ok(&["info", "--format", "{{.Swarm.NodeID}}"]);
        OneNodeSwarm {
            joined,
            networks_before,
            node,
        }
    }

    fn label(&self, value: Option<&str>) {
        match value {
            Some(v) => docker_ok(&["node", "update", "--label-add", &format!("chimera={v}"), &self.node]),
            None => docker_ok(&["node", "update", "--label-rm", "chimera", &self.node]),
        };
    }

    fn leave(&mut self) {
        if !std::mem::take(&mut self.joined) {
            return;
        }
        docker_ok(&["swarm", "leave", "--force"]);
        if !self.networks_before.contains("docker_gwbridge") {
            // `swarm leave` keeps the bridge `swarm init` made; it may take a moment to free.
            let deadline = Instant::now() + Duration::from_secs(20);
            while networks().contains("docker_gwbridge") && Instant::now() < deadline {
                let _ = docker(&["network", "rm", "docker_gwbridge"]);
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
}

impl Drop for OneNodeSwarm {
    fn drop(&mut self) {
        self.leave();
    }
}

/// `xtask down --swarm --volumes` however the test ends.
struct SwarmDown<'a>(&'a Path);

impl Drop for SwarmDown<'_> {
    fn drop(&mut self) {
        let (ok, out) = xtask(&["down", "--swarm", "--volumes"], self.0);
        if !ok {
            eprintln!("down --swarm failed: {out}");
        }
    }
}

/// What of stack `name` is left: services, containers, networks, configs, volumes.
fn leftovers(name: &str) -> Vec<String> {
    let filter = format!("label=com.docker.stack.namespace={name}");
    let mut left = Vec::new();
    for kind in ["service", "container", "network", "config", "volume"] {
        let args: Vec<&str> = match kind {
            "container" => vec!["ps", "-a", "-q", "--filter", &filter],
            _ => vec![kind, "ls", "-q", "--filter", &filter],
        };
        left.extend(docker_ok(&args).split_whitespace().map(|id| format!("{kind} {id}")));
    }
    left
}

/// An example copy with its own stack name, ports and (for the Compose run) subnet.
fn experiment(example: &str, subnet: u8) -> (TempDir, String, u16) {
    let dir = TempDir::copy_of(example);
    let p = free_ports(4);
    let name = format!("chimera-swarm-{}-{subnet}", std::process::id());
    let workers = if example.starts_with("sgd") {
        format!(
            "'[\"worker-1\", \"worker-2\"]'\nCHIMERA_WORKERS_MAPPED_PORTS='[{}, {}]'",
            p[0], p[1]
        )
    } else {
        format!(
            "'[\"worker-1\", \"worker-2\", \"worker-3\"]'\nCHIMERA_WORKERS_MAPPED_PORTS='[{}, {}, {}]'",
            p[0], p[1], p[2]
        )
    };
    dir.write(
        ".env",
        &format!(
            "CHIMERA_WORKERS_NODES_NAMES={workers}\nCHIMERA_MASTER_PORT={}\n\
             CHIMERA_NETWORK_NAME={name}\nCHIMERA_NETWORK_PREFIX=172.31.{subnet}\n",
            p[3]
        ),
    );
    (dir, name, p[3])
}

#[test]
fn a_one_node_swarm_answers_like_compose_and_local_processes_and_leaves_nothing() {
    if !docker_or_skip("a_one_node_swarm_answers_like_compose_and_local_processes_and_leaves_nothing") {
        return;
    }
    let _one = DOCKER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut swarm = OneNodeSwarm::start();
    swarm.label(Some("alpha"));

    for (example, kind, subnet) in [
        ("bagging-classification", "aggregation", 51),
        ("sgd-regression", "parameter-server", 52),
    ] {
        let (dir, stack, port) = experiment(example, subnet);
        // One worker placed by label: the node carries chimera=alpha.
        let spec = dir.path().join("chimera_workers/worker-1.yaml");
        let text = std::fs::read_to_string(&spec).unwrap();
        dir.write("chimera_workers/worker-1.yaml", &format!("{text}node: alpha\n"));
        let req = chimera_tests::test_split(&dir).0;

        let down = SwarmDown(dir.path());
        let (ok, out) = xtask(&["up", "--swarm", "--no-build"], dir.path());
        assert!(ok, "{example}: {out}");
        assert!(out.contains(&format!("stack {stack} deployed")), "{out}");
        let client = Client::new(format!("http://127.0.0.1:{port}"), Duration::from_secs(120));
        let fit = client.fit(kind).expect("fit on the swarm");
        assert!(fit.workers.iter().all(|w| w.outcome.as_str() == "ok"), "{fit:?}");
        let on_swarm = client.predict(kind, &req).expect("predict on the swarm");
        assert!(on_swarm.failed_workers.is_empty());
        if kind == "parameter-server" {
            // An edited spec is a new config: `up --swarm` again rolls the stack onto it and
            // waits for the new tasks, and the old config goes.
            let configs = || {
                docker_ok(&[
                    "config",
                    "ls",
                    "--format",
                    "{{.Name}}",
                    "--filter",
                    &format!("label=com.docker.stack.namespace={stack}"),
                ])
            };
            let before = configs();
            let spec = dir.path().join("chimera_workers/worker-2.yaml");
            let text = std::fs::read_to_string(&spec).unwrap();
            dir.write("chimera_workers/worker-2.yaml", &format!("{text}delay_ms: 1\n"));
            let (ok, out) = xtask(&["up", "--swarm", "--no-build"], dir.path());
            assert!(ok, "{out}");
            let after = configs();
            assert_ne!(before, after);
            assert_eq!(before.lines().count(), after.lines().count(), "{before}\n{after}");
            let fit = client.fit(kind).expect("fit after the update");
            assert!(fit.workers.iter().all(|w| w.outcome.as_str() == "ok"), "{fit:?}");
            dir.write("chimera_workers/worker-2.yaml", &text);
        }
        let (ok, out) = xtask(&["down", "--swarm", "--volumes"], dir.path());
        assert!(ok, "{out}");
        std::mem::forget(down);
        assert_eq!(leftovers(&stack), Vec::<String>::new(), "down --swarm left these");

        // The same experiment as local processes: the same seeds give the same answers.
        let local = Cluster::start(dir.path());
        local.client().fit(kind).expect("local fit");
        let on_loopback = local.client().predict(kind, &req).expect("local predict");
        assert_eq!(on_swarm, on_loopback, "{example}: swarm and local processes differ");
        drop(local);

        // And as a Compose project.
        if kind == "aggregation" {
            let _down = Down(dir.path());
            let (ok, out) = xtask(&["up", "--no-build"], dir.path());
            assert!(ok, "{out}");
            client.fit(kind).expect("fit with compose");
            let on_compose = client.predict(kind, &req).expect("predict with compose");
            assert_eq!(on_swarm, on_compose, "swarm and compose differ");
        }
    }

    // Through a registry: `images` pushes both images under CHIMERA_REGISTRY, the stack names
    // them so, and Swarm pins each service to the digest that was pushed.
    let registry = chimera_tests::registry::Registry::start();
    let prefix = format!("{}/chimera-test", registry.host());
    let remote = |image: &str| format!("{prefix}/{image}:latest");
    let out = Command::new(chimera_tests::bin("xtask"))
        .args(["images", "--no-build"])
        .env("CHIMERA_REGISTRY", &prefix)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "pushed {}, {}",
            remote("chimera-master"),
            remote("chimera-worker")
        )),
        "{text}"
    );
    assert_eq!(
        registry.tagged("latest"),
        ["chimera-test/chimera-master", "chimera-test/chimera-worker"]
    );
    let (dir, stack, port) = experiment("sgd-regression", 54);
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    dir.write(".env", &format!("{env}CHIMERA_REGISTRY={prefix}\n"));
    let down = SwarmDown(dir.path());
    let (ok, out) = xtask(&["up", "--swarm", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let image = docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        &format!("{stack}_worker-1"),
    ]);
    assert!(
        image.starts_with(&format!("{}@sha256:", remote("chimera-worker"))),
        "{image}"
    );
    let client = Client::new(format!("http://127.0.0.1:{port}"), Duration::from_secs(120));
    client.fit("parameter-server").expect("fit from the registry's images");
    drop(down);
    assert_eq!(leftovers(&stack), Vec::<String>::new());
    let _ = docker(&["rmi", &remote("chimera-master"), &remote("chimera-worker")]);
    drop(registry);

    // A placement no node satisfies fails at once, says why, and leaves nothing behind.
    let (dir, stack, _) = experiment("bagging-classification", 53);
    let spec = dir.path().join("chimera_workers/worker-2.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    dir.write("chimera_workers/worker-2.yaml", &format!("{text}node: nowhere\n"));
    let _down = SwarmDown(dir.path());
    let started = Instant::now();
    let (ok, out) = xtask(&["up", "--swarm", "--no-build"], dir.path());
    assert!(!ok, "a worker no node can take cannot come up: {out}");
    assert!(out.contains("worker-2") && out.contains("no suitable node"), "{out}");
    assert!(out.contains(&format!("the stack {stack} was removed again")), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "it waited {:?}",
        started.elapsed()
    );
    // The log and state volumes stay, with the failed nodes' logs, until `down --volumes`.
    let left = leftovers(&stack);
    assert!(left.iter().all(|l| l.starts_with("volume ")), "{left:?}");
    let (ok, out) = xtask(&["down", "--swarm", "--volumes"], dir.path());
    assert!(ok, "{out}");
    assert_eq!(leftovers(&stack), Vec::<String>::new());

    swarm.label(None);
    let networks_before = swarm.networks_before.clone();
    let joined = swarm.joined;
    swarm.leave();
    if joined {
        assert_eq!(swarm_state(), "inactive", "the engine left the swarm it joined");
        assert_eq!(networks(), networks_before, "no network of the swarm is left");
    }
}

/// `images --save` writes both images into one file `docker load` reads, under the
/// registry's names when `CHIMERA_REGISTRY` is set; a bad registry value stops it at once.
#[test]
fn images_are_saved_for_hosts_without_a_registry() {
    if !docker_or_skip("images_are_saved_for_hosts_without_a_registry") {
        return;
    }
    let _one = DOCKER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = TempDir::new("images");
    let file = dir.path().join("chimera-images.tar");
    let file_arg = file.to_str().unwrap();
    let images = |env: &[(&str, &str)]| {
        let out = Command::new(chimera_tests::bin("xtask"))
            .args(["images", "--no-build", "--save", file_arg])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let repo_tags = || -> Vec<String> {
        let out = Command::new("tar")
            .args(["-xOf", file_arg, "manifest.json"])
            .output()
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut tags: Vec<String> = manifest
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["RepoTags"].as_array().unwrap().clone())
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        tags.sort();
        tags
    };

    let (ok, out) = images(&[]);
    assert!(ok, "{out}");
    assert!(out.contains("docker load -i"), "{out}");
    assert_eq!(repo_tags(), ["chimera-master:latest", "chimera-worker:latest"]);
    let (ok, out) = docker(&["load", "--input", file_arg]);
    assert!(ok && out.contains("chimera-worker:latest"), "{out}");

    // Under a registry's names. Nothing listens there, so the push fails after the save,
    // and says what to check.
    let closed = free_ports(1)[0];
    let registry = format!("127.0.0.1:{closed}/chimera-test");
    let (ok, out) = images(&[("CHIMERA_REGISTRY", &registry)]);
    let remote = |image: &str| format!("{registry}/{image}:latest");
    let _ = docker(&["rmi", &remote("chimera-master"), &remote("chimera-worker")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("cannot push to CHIMERA_REGISTRY={registry:?}")),
        "{out}"
    );
    assert_eq!(repo_tags(), [remote("chimera-master"), remote("chimera-worker")]);

    let (ok, out) = images(&[("CHIMERA_REGISTRY", "https://registry.lan/chimera")]);
    assert!(!ok);
    assert!(
        out.contains("CHIMERA_REGISTRY=\"https://registry.lan/chimera\" is invalid"),
        "{out}"
    );
}
