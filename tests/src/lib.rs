//! Helpers for the black-box tests: experiment folders in a temp dir, a cluster of real
//! servers on ephemeral 127.0.0.1 ports (each node on its own thread and actix system, as a
//! process would run it), the built binaries, and reading the examples' CSVs.

pub mod registry;

use actix_web::dev::{Server, ServerHandle};
use chimera_shared::client::Client;
use chimera_shared::config::{dotenv, EnvSource, Experiment};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

pub fn example(name: &str) -> PathBuf {
    workspace_root().join("examples").join(name)
}

/// Where `cargo xtask test` put the binaries (it exports `CHIMERA_BIN_DIR`).
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("CHIMERA_BIN_DIR").map_or_else(
        || {
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
            target.join("x86_64-unknown-linux-gnu").join("release")
        },
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo xtask test`, which builds it first",
        path.display()
    );
    path
}

/// A folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("chimera-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// A copy of an example experiment (its data included).
    pub fn copy_of(example_name: &str) -> TempDir {
        let t = TempDir::new(example_name);
        chimera_shared::config::experiment::copy_folder(&example(example_name), &t.0).expect("copy the example");
        t
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().expect("a file has a parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
        self
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server on its own thread and actix system.
pub struct Node {
    pub name: String,
    pub port: u16,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    /// The state the server's HTTP threads share, when the test knows it: [`Node::kill`] waits
    /// until every thread has let go of it, that is until no connection can still be served.
    served: Option<Weak<dyn Send + Sync>>,
}

impl Node {
    /// Any server (a real node, or a fake peer a test writes) on its own thread and actix system.
    pub fn spawn_server(
        name: &str,
        listener: TcpListener,
        make: impl FnOnce(TcpListener) -> std::io::Result<Server> + Send + 'static,
    ) -> Node {
        Self::spawn(name, listener, make)
    }

    fn spawn(
        name: &str,
        listener: TcpListener,
        make: impl FnOnce(TcpListener) -> std::io::Result<Server> + Send + 'static,
    ) -> Node {
        let port = listener.local_addr().expect("bound").port();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = make(listener).expect("server starts");
                tx.send(server.handle()).expect("the test waits for the handle");
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("server handle");
        Node {
            name: name.to_string(),
            port,
            handle,
            thread: Some(thread),
            served: None,
        }
    }

    /// Lets [`Node::kill`] wait for the server's threads to drop `state`.
    #[must_use]
    pub fn serving<T: Send + Sync + 'static>(mut self, state: &Arc<T>) -> Node {
        let weak: Weak<dyn Send + Sync> = Arc::downgrade(state) as Weak<dyn Send + Sync>;
        self.served = Some(weak);
        self
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> Client {
        Client::new(self.url(), Duration::from_secs(60))
    }

    /// Stops the server at once, as a killed process would (connections are dropped).
    ///
    /// A forced stop only closes the listener before it returns: each HTTP thread gets the
    /// stop as a message, and until it reads it, a keep-alive connection the master pooled
    /// could still be served. A killed process answers nothing, so this waits for the threads.
    pub fn kill(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(served) = self.served.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while served.strong_count() > 0 {
                assert!(
                    Instant::now() < deadline,
                    "{} still serves 30 s after it was killed",
                    self.name
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.kill();
        }
    }
}

/// A listener on a port no other server of this test run has had. Tests run in parallel and
/// kill servers: with ephemeral ports (bind to port 0), the kernel may hand a killed worker's
/// port to another test's new server, and a "dead" worker would answer. Ports come from a
/// sequence below the kernel's ephemeral range (32768 and up), offset by the process id so
/// test binaries that overlap do not collide; one that is taken is skipped.
pub fn fresh_listener() -> TcpListener {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let offset = (std::process::id() as usize % 40) * 300;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(n < 12_000, "no free port left for in-process servers");
        let port = 20_000 + (offset + n) % 12_000;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", u16::try_from(port).expect("below 32768"))) {
            return l;
        }
    }
}

/// `n` ports that were free a moment ago, for servers a test starts in other processes. They
/// come from [`fresh_listener`]'s sequence: never handed out twice in a run, and below the
/// kernel's ephemeral range, so no outgoing connection takes one before its server binds it.
pub fn free_ports(n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| fresh_listener().local_addr().expect("bound").port())
        .collect()
}

/// An experiment's master and workers as in-process servers on ports never reused in a run.
pub struct Cluster {
    pub exp: Experiment,
    pub master: Node,
    pub workers: Vec<Node>,
}

/// The variables of `dir/.env`, with `overrides` set as if from the process environment.
pub fn env_source(dir: &Path, overrides: &[(&str, String)]) -> EnvSource {
    let mut src = EnvSource {
        dotenv: dotenv::read(&dir.join(".env")).expect(".env"),
        ..Default::default()
    };
    for (k, v) in overrides {
        src.process.insert(k.to_string(), v.clone());
    }
    src
}

impl Cluster {
    pub fn start(dir: &Path) -> Cluster {
        Self::try_start(dir).unwrap_or_else(|e| panic!("the cluster did not start: {e}"))
    }

    pub fn try_start(dir: &Path) -> Result<Cluster, String> {
        let first = Experiment::load_with(dir, &env_source(dir, &[])).map_err(|e| e.to_string())?;
        let listeners: Vec<TcpListener> = first.workers.iter().map(|_| fresh_listener()).collect();
        let urls: Vec<String> = listeners
            .iter()
            .map(|l| format!("http://127.0.0.1:{}", l.local_addr().expect("bound").port()))
            .collect();
        let src = env_source(
            dir,
            &[("CHIMERA_WORKERS_URLS", serde_json::to_string(&urls).expect("json"))],
        );
        let exp = Experiment::load_with(dir, &src).map_err(|e| e.to_string())?;
        let mut workers = Vec::new();
        for ((name, _), listener) in exp.workers.iter().zip(listeners) {
            let (state, _) = chimera_worker::startup::load_from(exp.clone(), name)?;
            let state = Arc::new(state);
            let shared = state.clone();
            workers
                .push(Node::spawn(name, listener, move |l| chimera_worker::startup::build(shared, l)).serving(&state));
        }
        let state = chimera_master::startup::state_from(&exp)?;
        let listener = fresh_listener();
        let master = Node::spawn("master", listener, move |l| chimera_master::startup::build(state, l));
        Ok(Cluster { exp, master, workers })
    }

    pub fn client(&self) -> Client {
        self.master.client()
    }

    pub fn worker(&self, name: &str) -> &Node {
        self.workers
            .iter()
            .find(|w| w.name == name)
            .expect("a worker of this name")
    }

    pub fn worker_mut(&mut self, name: &str) -> &mut Node {
        self.workers
            .iter_mut()
            .find(|w| w.name == name)
            .expect("a worker of this name")
    }
}

/// A CSV of the examples: header and cells as text, read with the project's one reader
/// ([`chimera_shared::table`]).
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn read(path: &Path) -> Csv {
        let table = chimera_shared::table::Table::read(path).unwrap_or_else(|e| panic!("{e}"));
        let rows = table.text_rows().unwrap_or_else(|e| panic!("{e}"));
        Csv {
            header: table.header,
            rows,
        }
    }

    pub fn numbers(&self) -> Vec<Vec<f64>> {
        self.rows
            .iter()
            .map(|r| r.iter().map(|c| c.trim().parse().expect("a number")).collect())
            .collect()
    }

    pub fn column(&self, i: usize) -> Vec<String> {
        self.rows.iter().map(|r| r[i].clone()).collect()
    }
}

pub use chimera_shared::scores::r2;

pub fn accuracy(truth: &[String], pred: &[String]) -> f64 {
    chimera_shared::scores::accuracy(truth, pred)
}

/// Runs `xtask ARGS --dir DIR`; returns success and everything it printed.
pub fn xtask(args: &[&str], dir: &Path) -> (bool, String) {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    all.extend([std::ffi::OsStr::new("--dir"), dir.as_os_str()]);
    run_xtask(&all)
}

/// Runs `xtask ARGS` as given; returns success and everything it printed.
pub fn run_xtask<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (bool, String) {
    let out = std::process::Command::new(bin("xtask"))
        .args(args)
        .output()
        .expect("run xtask");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Whether a Docker daemon answers. When none does, a Docker test is skipped with a printed
/// notice, unless `CHIMERA_REQUIRE_DOCKER=1` (as `.ci/run` sets), which makes it a failure.
pub fn docker_or_skip(test: &str) -> bool {
    let answers = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if answers {
        return true;
    }
    assert!(
        !std::env::var("CHIMERA_REQUIRE_DOCKER").is_ok_and(|v| v == "1"),
        "{test}: no Docker daemon answers, and CHIMERA_REQUIRE_DOCKER=1 requires one"
    );
    eprintln!("NOTICE: {test} skipped: no Docker daemon answers (set CHIMERA_REQUIRE_DOCKER=1 to make this a failure)");
    false
}

/// Runs `xtask down` (with `--volumes` for Docker) however the test ends.
pub struct Down<'a>(pub &'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let (ok, out) = xtask(&["down", "--volumes"], self.0);
        if !ok {
            eprintln!("down failed: {out}");
        }
    }
}

/// Writes `.env` for workers `worker-1..=worker-n` on free host ports; returns the ports, the
/// master's last. `extra` lines are appended.
pub fn local_env(dir: &TempDir, n: usize, extra: &str) -> Vec<u16> {
    let ports = free_ports(n + 1);
    let names: Vec<String> = (1..=n).map(|i| format!("worker-{i}")).collect();
    dir.write(
        ".env",
        &format!(
            "CHIMERA_WORKERS_NODES_NAMES='{}'\nCHIMERA_WORKERS_MAPPED_PORTS='{:?}'\nCHIMERA_MASTER_PORT={}\n{extra}",
            serde_json::to_string(&names).expect("strings"),
            &ports[..n],
            ports[n]
        ),
    );
    ports
}

/// An example's held-out split: a predict request for `test/X_test.csv` and the true labels
/// (or values, as text) of `test/y_test.csv`.
pub fn test_split(dir: &TempDir) -> (chimera_shared::api::PredictRequest, Vec<String>) {
    let x = Csv::read(&dir.path().join("test/X_test.csv"));
    let y = Csv::read(&dir.path().join("test/y_test.csv"));
    (
        chimera_shared::api::PredictRequest {
            columns: x.header.clone(),
            rows: x.numbers(),
        },
        y.column(0),
    )
}

/// Makes a copy of `sgd-regression` fit slowly enough to be interrupted: `rounds` rounds, with
/// worker-1 a straggler of 2 ms per step.
pub fn slow_sgd_fit(dir: &TempDir, rounds: u64) {
    let master = std::fs::read_to_string(dir.path().join("chimera_master.yaml")).expect("spec");
    dir.write(
        "chimera_master.yaml",
        &master.replace("max_iter: 200", &format!("max_iter: {rounds}")),
    );
    let w1 = std::fs::read_to_string(dir.path().join("chimera_workers/worker-1.yaml")).expect("spec");
    dir.write("chimera_workers/worker-1.yaml", &format!("{w1}\ndelay_ms: 2\n"));
}
