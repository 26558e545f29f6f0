//! End-to-end against the real Docker Engine: the generated compose file, the FROM scratch
//! images, `cargo xtask up`/`down`. Skipped with a printed notice when no daemon answers, unless
//! `CHIMERA_REQUIRE_DOCKER=1` (as `.ci/run` sets), which turns the skip into a failure.

use chimera_shared::api::{PredictRequest, PredictResponse};
use chimera_shared::client::Client;
use chimera_tests::{docker_or_skip, free_ports, xtask, Cluster, Csv, Down, TempDir};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One Docker test at a time: they are heavy for 2 cores, and each still uses its own subnet,
/// network name and ports, so they could run side by side.
static DOCKER: Mutex<()> = Mutex::new(());

/// An example copy with its own network name, subnet and host ports.
fn experiment(example: &str, subnet: u8) -> (TempDir, String, u16) {
    let dir = TempDir::copy_of(example);
    let p = free_ports(4);
    let network = format!("chimera-e2e-{}-{subnet}", std::process::id());
    dir.write(
        ".env",
        &format!(
            "CHIMERA_WORKERS_NODES_NAMES='[\"worker-1\", \"worker-2\", \"worker-3\"]'\n\
             CHIMERA_WORKERS_MAPPED_PORTS='[{}, {}, {}]'\nCHIMERA_MASTER_PORT={}\n\
             CHIMERA_NETWORK_NAME={network}\nCHIMERA_NETWORK_PREFIX=172.31.{subnet}\n",
            p[0], p[1], p[2], p[3]
        ),
    );
    (dir, network, p[3])
}

fn compose(dir: &Path, args: &[&str]) -> String {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if v2 {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        Command::new("docker-compose")
    };
    let out = cmd
        .current_dir(dir)
        .args(["-f", "docker-compose.yml"])
        .args(args)
        .output()
        .expect("compose");
    assert!(
        out.status.success(),
        "compose {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn exists(kind: &str, id: &str) -> bool {
    Command::new("docker")
        .args([kind, "inspect", id])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn request(dir: &Path) -> PredictRequest {
    let x = Csv::read(&dir.join("test/X_test.csv"));
    PredictRequest {
        columns: x.header.clone(),
        rows: x.numbers(),
    }
}

#[test]
fn containers_answer_like_local_processes_and_a_killed_worker_is_named() {
    if !docker_or_skip("containers_answer_like_local_processes_and_a_killed_worker_is_named") {
        return;
    }
    let _one = DOCKER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (dir, network, master_port) = experiment("bagging-classification", 41);
    let _down = Down(dir.path());
    let (ok, out) = xtask(&["up", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let ids: Vec<String> = compose(dir.path(), &["ps", "-q"]).lines().map(str::to_string).collect();
    assert_eq!(ids.len(), 4, "three workers and the master");

    let client = Client::new(format!("http://127.0.0.1:{master_port}"), Duration::from_secs(60));
    let fit = client.fit("aggregation").expect("fit in containers");
    assert_eq!(fit.workers.len(), 3);
    let req = request(dir.path());
    let in_docker = client.predict("aggregation", &req).expect("predict in containers");

    // The same experiment as in-process servers: the same seeds give the same answer.
    let local = Cluster::start(dir.path());
    local.client().fit("aggregation").expect("local fit");
    let on_loopback: PredictResponse = local.client().predict("aggregation", &req).expect("local predict");
    assert_eq!(in_docker, on_loopback);

    // Kill one worker through Compose: predict still answers, quickly, and names it.
    compose(dir.path(), &["kill", "worker-2"]);
    let started = Instant::now();
    let answer = client.predict("aggregation", &req).expect("predict with a dead worker");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "a dead worker cost {took:?}");
    assert_eq!(answer.failed_workers.len(), 1, "{:?}", answer.failed_workers);
    assert_eq!(answer.failed_workers[0].name, "worker-2");

    let (ok, out) = xtask(&["down", "--volumes"], dir.path());
    assert!(ok, "{out}");
    for id in &ids {
        assert!(!exists("container", id), "container {id} is left behind");
    }
    assert!(!exists("network", &network), "network {network} is left behind");
}

#[test]
fn two_experiments_run_side_by_side() {
    if !docker_or_skip("two_experiments_run_side_by_side") {
        return;
    }
    let _one = DOCKER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (a, net_a, port_a) = experiment("hybrid-regression", 42);
    let (b, net_b, port_b) = experiment("hybrid-regression", 43);
    let _down_a = Down(a.path());
    let _down_b = Down(b.path());
    let (ok, out) = xtask(&["up", "--no-build"], a.path());
    assert!(ok, "{out}");
    let (ok, out) = xtask(&["up", "--no-build"], b.path());
    assert!(ok, "{out}");
    for port in [port_a, port_b] {
        let client = Client::new(format!("http://127.0.0.1:{port}"), Duration::from_secs(60));
        client.fit("aggregation").expect("fit");
        assert_eq!(
            client
                .predict("aggregation", &request(a.path()))
                .expect("predict")
                .y_pred_rows
                .len(),
            320
        );
    }
    // `up` again leaves healthy containers as they are.
    let before = compose(a.path(), &["ps", "-q"]);
    let (ok, out) = xtask(&["up", "--no-build"], a.path());
    assert!(ok, "{out}");
    assert_eq!(before, compose(a.path(), &["ps", "-q"]));
    assert!(exists("network", &net_a) && exists("network", &net_b));

    // A changed spec recreates that worker (and the master, which reads every spec), only them.
    let w1 = compose(a.path(), &["ps", "-q", "worker-1"]);
    let w2 = compose(a.path(), &["ps", "-q", "worker-2"]);
    a.write(
        "chimera_workers/worker-2.yaml",
        "kind: regression\nmodel: decision_tree\nparams: {max_depth: 3}\n",
    );
    let (ok, out) = xtask(&["up", "--no-build"], a.path());
    assert!(ok, "{out}");
    assert_eq!(
        w1,
        compose(a.path(), &["ps", "-q", "worker-1"]),
        "an unchanged worker keeps its container"
    );
    assert_ne!(
        w2,
        compose(a.path(), &["ps", "-q", "worker-2"]),
        "the changed worker is recreated"
    );
}

/// `docker kill` in the middle of a long parameter-server fit: the worker comes back and
/// rejoins, and a killed master serves the same model from its state volume.
#[test]
fn containers_killed_mid_fit_rejoin_and_a_killed_master_keeps_its_model() {
    if !docker_or_skip("containers_killed_mid_fit_rejoin_and_a_killed_master_keeps_its_model") {
        return;
    }
    let _one = DOCKER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = TempDir::copy_of("sgd-regression");
    let p = free_ports(3);
    dir.write(
        ".env",
        &format!(
            "CHIMERA_WORKERS_NODES_NAMES='[\"worker-1\", \"worker-2\"]'\n\
             CHIMERA_WORKERS_MAPPED_PORTS='[{}, {}]'\nCHIMERA_MASTER_PORT={}\n\
             CHIMERA_NETWORK_NAME=chimera-e2e-{}-44\nCHIMERA_NETWORK_PREFIX=172.31.44\n",
            p[0],
            p[1],
            p[2],
            std::process::id()
        ),
    );
    // 3,000 rounds of at least 2 ms each: the fit outlives a kill and a restart.
    chimera_tests::slow_sgd_fit(&dir, 3000);
    let _down = Down(dir.path());
    let (ok, out) = xtask(&["up", "--no-build"], dir.path());
    assert!(ok, "{out}");
    let client = Client::new(format!("http://127.0.0.1:{}", p[2]), Duration::from_secs(600));

    let fit = {
        let client = client.clone();
        std::thread::spawn(move || client.fit("parameter-server"))
    };
    std::thread::sleep(Duration::from_secs(2));
    compose(dir.path(), &["kill", "worker-2"]);
    compose(dir.path(), &["start", "worker-2"]);
    let answer = fit.join().unwrap().expect("the fit ends well");
    assert_eq!(answer.training.as_ref().unwrap().rounds, 3000);
    let w2 = answer.workers.iter().find(|w| w.name == "worker-2").unwrap();
    assert_eq!(w2.outcome.as_str(), "ok", "worker-2 rejoined: {w2:?}");

    let req = request(dir.path());
    let before = client.predict("parameter-server", &req).unwrap();
    compose(dir.path(), &["kill", "master"]);
    compose(dir.path(), &["start", "master"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.healthy() {
        assert!(Instant::now() < deadline, "the master did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(client.predict("parameter-server", &req).unwrap(), before);
}
