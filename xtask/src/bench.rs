//! `cargo xtask bench`: the Python original's scenarios, through the real path a user takes
//! (HTTP, JSON, the master and the workers), with the physical floor measured in the same run.
//! One JSON line per (scenario, k) on standard output; progress on standard error;
//! `--markdown docs/benchmarks.md` writes the doc's tables from this run's results.

use crate::{csv, docker, local, workspace};
use chimera_shared::api::{PredRows, PredictRequest};
use chimera_shared::client::Client;
use chimera_shared::config::{Experiment, Loss};
use chimera_shared::sgd::{self, ColumnStats, LossSpec, Targets};
use ndarray::{Array1, Array2};
use rand08::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub docker: bool,
    pub markdown: Option<PathBuf>,
}

/// A table held as numbers: features and one target column.
struct Data {
    columns: Vec<String>,
    x: Vec<Vec<f64>>,
    target: String,
    y: Vec<String>,
}

impl Data {
    fn read(dir: &Path, x_file: &str, y_file: &str) -> Result<Data, String> {
        let x = csv::read(&dir.join(x_file))?;
        let y = csv::read(&dir.join(y_file))?;
        Ok(Data {
            columns: x.header.clone(),
            x: csv::numbers(&x, &dir.join(x_file))?,
            target: y.header[0].clone(),
            y: y.rows.into_iter().map(|r| r[0].clone()).collect(),
        })
    }

    fn write(&self, dir: &Path, rows: &[usize]) -> Result<(), String> {
        csv::write(
            &dir.join("X_train.csv"),
            &self.columns,
            rows.iter().map(|&i| self.x[i].iter().map(|v| format!("{v}")).collect()),
        )?;
        csv::write(
            &dir.join("y_train.csv"),
            std::slice::from_ref(&self.target),
            rows.iter().map(|&i| vec![self.y[i].clone()]),
        )
    }

    fn request(&self, rows: std::ops::Range<usize>) -> PredictRequest {
        PredictRequest {
            columns: self.columns.clone(),
            rows: self.x[rows].to_vec(),
        }
    }
}

/// A generator in the shape of scikit-learn's `make_classification(n_samples, n_features=20)`
/// with its defaults: 2 informative and 2 redundant features, 2 classes of 2 clusters each at
/// the vertices of a hypercube, `class_sep=1`, 1% of labels flipped, rows and columns shuffled.
fn make_classification(n: usize, d: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = |rng: &mut StdRng| {
        // Box-Muller: two uniforms to one standard normal.
        let (u, v): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    // Cluster c belongs to class c % 2, so each class holds two opposite-side vertices of the
    // first axis (a linear model can separate them, as on scikit-learn's usual draws).
    let vertices = [[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]];
    let mix: Vec<[[f64; 2]; 2]> = (0..4)
        .map(|_| {
            [
                [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)],
                [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)],
            ]
        })
        .collect();
    let redundant = [
        [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)],
        [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)],
    ];
    let mut column_order: Vec<usize> = (0..d).collect();
    column_order.shuffle(&mut rng);
    let mut x: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut y: Vec<usize> = Vec::with_capacity(n);
    for i in 0..n {
        let cluster = i % 4;
        let class = cluster % 2;
        let z = [normal(&mut rng), normal(&mut rng)];
        let m = mix[cluster];
        let inf = [
            z[0] * m[0][0] + z[1] * m[1][0] + vertices[cluster][0],
            z[0] * m[0][1] + z[1] * m[1][1] + vertices[cluster][1],
        ];
        let red = [
            inf[0] * redundant[0][0] + inf[1] * redundant[1][0],
            inf[0] * redundant[0][1] + inf[1] * redundant[1][1],
        ];
        let mut row = vec![inf[0], inf[1], red[0], red[1]];
        row.extend((4..d).map(|_| normal(&mut rng)));
        x.push(column_order.iter().map(|&j| row[j]).collect());
        y.push(if rng.gen::<f64>() < 0.01 {
            rng.gen_range(0..2)
        } else {
            class
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    (
        order.iter().map(|&i| x[i].clone()).collect(),
        order.iter().map(|&i| y[i]).collect(),
    )
}

/// The 160,000 x 20 training set and its 40,000-row test set, generated once and cached.
fn synthetic(root: &Path) -> Result<(Data, Data), String> {
    let dir = root.join("data").join("synthetic");
    if !dir.join("y_test.csv").exists() {
        eprintln!("generating the 200,000 x 20 synthetic classification set (once) ...");
        let (x, y) = make_classification(200_000, 20, 0);
        let columns: Vec<String> = (0..20).map(|i| format!("f_{i:02}")).collect();
        let write = |name: &str, range: std::ops::Range<usize>| -> Result<(), String> {
            csv::write(
                &dir.join(format!("X_{name}.csv")),
                &columns,
                x[range.clone()]
                    .iter()
                    .map(|r| r.iter().map(|v| format!("{v}")).collect()),
            )?;
            csv::write(
                &dir.join(format!("y_{name}.csv")),
                &["label".to_string()],
                y[range].iter().map(|v| vec![v.to_string()]),
            )
        };
        write("train", 0..160_000)?;
        write("test", 160_000..200_000)?;
    }
    Ok((
        Data::read(&dir, "X_train.csv", "y_train.csv")?,
        Data::read(&dir, "X_test.csv", "y_test.csv")?,
    ))
}

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n).filter_map(|_| TcpListener::bind("127.0.0.1:0").ok()).collect();
    ls.iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.port())
        .collect()
}

/// Writes an experiment: `k` workers with the given spec, each with its rows of `data`.
fn experiment(
    dir: &Path,
    subnet: u8,
    master_yaml: &str,
    worker_yaml: &str,
    data: &Data,
    shards: &[Vec<usize>],
) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("chimera_workers")).map_err(|e| e.to_string())?;
    let names: Vec<String> = (1..=shards.len()).map(|i| format!("worker-{i}")).collect();
    let ports = free_ports(shards.len() + 1);
    let env = format!(
        "CHIMERA_WORKERS_NODES_NAMES='{}'\nCHIMERA_WORKERS_MAPPED_PORTS='{:?}'\nCHIMERA_MASTER_PORT={}\nCHIMERA_NETWORK_NAME=chimera-bench-{subnet}\nCHIMERA_NETWORK_PREFIX=172.30.{subnet}\n",
        serde_json::to_string(&names).expect("strings"),
        &ports[..shards.len()],
        ports[shards.len()]
    );
    std::fs::write(dir.join(".env"), env).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("chimera_master.yaml"), master_yaml).map_err(|e| e.to_string())?;
    let mut first: Option<PathBuf> = None;
    for (name, rows) in names.iter().zip(shards) {
        std::fs::write(dir.join("chimera_workers").join(format!("{name}.yaml")), worker_yaml)
            .map_err(|e| e.to_string())?;
        let data_dir = dir.join("chimera_train_data").join(name);
        std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
        // The same rows on every worker (bagging): write once, hard-link the rest.
        match &first {
            Some(src) if rows.len() == shards[0].len() && rows == &shards[0] => {
                for f in ["X_train.csv", "y_train.csv"] {
                    std::fs::hard_link(src.join(f), data_dir.join(f)).map_err(|e| e.to_string())?;
                }
            }
            _ => {
                data.write(&data_dir, rows)?;
                first.get_or_insert(data_dir);
            }
        }
    }
    Ok(())
}

fn contiguous_shards(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0..k).map(|s| (s * n / k..(s + 1) * n / k).collect()).collect()
}

/// A running cluster, local or Docker; stopped on drop.
struct Cluster {
    dir: PathBuf,
    exp: Experiment,
    docker: bool,
    startup_s: f64,
}

impl Cluster {
    fn start(dir: &Path, use_docker: bool) -> Result<Cluster, String> {
        let exp = Experiment::load(dir).map_err(|e| e.to_string())?;
        let started = Instant::now();
        if use_docker {
            docker::up(&exp, true)?;
        } else {
            local::up(&exp)?;
        }
        Ok(Cluster {
            dir: dir.to_path_buf(),
            exp,
            docker: use_docker,
            startup_s: started.elapsed().as_secs_f64(),
        })
    }

    fn client(&self) -> Client {
        Client::new(
            format!("http://127.0.0.1:{}", self.exp.env.master_port),
            Duration::from_secs(600),
        )
    }

    fn worker_urls(&self) -> Vec<String> {
        self.exp
            .env
            .mapped_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect()
    }

    /// `(node, pid)` of every process, from the pid files or Docker.
    fn pids(&self) -> Vec<(String, i32)> {
        let names: Vec<String> = self
            .exp
            .workers
            .iter()
            .map(|(n, _)| n.clone())
            .chain(["master".to_string()])
            .collect();
        names
            .into_iter()
            .filter_map(|n| {
                let pid = if self.docker {
                    let id = Command::new("docker")
                        .current_dir(&self.dir)
                        .args(["inspect", "--format", "{{.State.Pid}}"])
                        .arg(self.container(&n)?)
                        .output()
                        .ok()?;
                    String::from_utf8_lossy(&id.stdout).trim().parse().ok()?
                } else {
                    std::fs::read_to_string(local::state_dir(&self.dir).join(format!("{n}.pid")))
                        .ok()?
                        .trim()
                        .parse()
                        .ok()?
                };
                Some((n, pid))
            })
            .collect()
    }

    fn container(&self, service: &str) -> Option<String> {
        let parts = docker::compose_command().ok()?;
        let out = Command::new(&parts[0])
            .args(&parts[1..])
            .current_dir(&self.dir)
            .args(["-f", "docker-compose.yml", "ps", "-q", service])
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
    }

    /// Peak resident memory (VmHWM) of each process, in MB.
    fn peak_rss_mb(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (name, pid) in self.pids() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let kb: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(f64::NAN);
            out.insert(name, json!((kb / 1024.0 * 10.0).round() / 10.0));
        }
        Value::Object(out)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        local::down(&self.dir);
        if self.docker {
            let _ = docker::down(&self.dir, true);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<(f64, T), String> {
    let started = Instant::now();
    let out = f()?;
    Ok((started.elapsed().as_secs_f64(), out))
}

fn r2(truth: &[f64], pred: &[f64]) -> f64 {
    crate::demo::r2(truth, pred)
}

fn accuracy(truth: &[String], answer: &chimera_shared::api::PredictResponse) -> f64 {
    let labels = answer.y_pred_labels.as_deref().unwrap_or_default();
    labels.iter().zip(truth).filter(|(p, t)| p.to_string() == **t).count() as f64 / truth.len().max(1) as f64
}

/// The gradient alone over a shard, as a worker computes it: median seconds over `reps`.
fn gradient_floor(data: &Data, rows: &[usize], loss: Loss, reps: usize) -> f64 {
    let x = Array2::from_shape_fn((rows.len(), data.columns.len()), |(i, j)| data.x[rows[i]][j]);
    let stats = ColumnStats::of(x.view());
    let z = sgd::standardize(x.view(), &stats.mean, &stats.scale());
    let values: Vec<f64> = rows.iter().map(|&i| data.y[i].parse().unwrap_or(0.0)).collect();
    let classes: Vec<usize> = values.iter().map(|v| usize::from(*v > 0.5)).collect();
    let targets = match loss {
        Loss::SquaredError | Loss::Huber => Targets::Values(&values),
        _ => Targets::Classes {
            y: &classes,
            n_classes: 2,
        },
    };
    let w = Array2::from_elem((data.columns.len(), 1), 0.01);
    let b = Array1::zeros(1);
    let spec = LossSpec { loss, huber_delta: 0.1 };
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(sgd::data_gradient(z.view(), targets, None, &w, &b, spec));
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// A bare k-way fan-out round trip with the master's client to the workers' server.
fn http_floor(urls: &[String], rounds: usize) -> Result<f64, String> {
    let out = Command::new(workspace::bin("chimera-master"))
        .arg("floor")
        .arg(rounds.to_string())
        .args(urls)
        .output()
        .map_err(|e| format!("chimera-master floor: {e}"))?;
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("chimera-master floor: {e}: {}", String::from_utf8_lossy(&out.stderr)))?;
    v["median_s"]
        .as_f64()
        .ok_or_else(|| "chimera-master floor printed no median".into())
}

/// `clients` single-row predicts kept in flight for `seconds`, by `chimera-master load` (an
/// event-driven client on the master's own HTTP stack, so the load generator takes little of
/// the 2 cores the cluster runs on).
fn load(client_base: &str, body: &[u8], path: &str, clients: usize, seconds: f64) -> Value {
    let body_file = std::env::temp_dir().join(format!("chimera-bench-body-{}.json", std::process::id()));
    let result = std::fs::write(&body_file, body)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            Command::new(workspace::bin("chimera-master"))
                .args(["load", &format!("{client_base}{path}")])
                .arg(&body_file)
                .args([clients.to_string(), seconds.to_string()])
                .output()
                .map_err(|e| e.to_string())
        });
    let _ = std::fs::remove_file(&body_file);
    let mut v: Value = match result {
        Ok(out) => serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| json!({"error": format!("{e}: {}", String::from_utf8_lossy(&out.stderr))})),
        Err(e) => json!({"error": e}),
    };
    v["clients"] = json!(clients);
    v
}

fn git_revision() -> String {
    let rev = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace::root())
        .output();
    let rev = rev
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(workspace::root())
        .output();
    let dirty = dirty.is_ok_and(|o| !o.stdout.is_empty());
    format!("{rev}{}", if dirty { "-dirty" } else { "" })
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": model,
        "memory_gb": (mem_kb / 1048576.0).round(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}

/// One parameter-server scenario: its data, model and how often to repeat.
struct PsCase<'a> {
    scenario: &'static str,
    data: &'static str,
    dir: &'static str,
    subnet: u8,
    train: &'a Data,
    test: &'a Data,
    model_type: &'static str,
    loss: Loss,
    repeats: usize,
    floor_rounds: usize,
    gradient_reps: usize,
    warm_up: bool,
}

/// 200 full-batch rounds on k shards: the fit's time, the floor measured beside each fit (a
/// slow spell of this shared machine then weighs on both sides of the ratio alike), quality
/// on the test split, and peak memory.
fn parameter_server_scenario(
    case: &PsCase<'_>,
    k: usize,
    root: &Path,
    opts: &Options,
    report: &mut Report,
) -> Result<(), String> {
    eprintln!("[k={k}] parameter-server fit, {}, 200 rounds ...", case.data);
    let dir = root.join(format!("{}-{k}", case.dir));
    let shards = contiguous_shards(case.train.x.len(), k);
    let master = format!(
        "kind: parameter-server\nmodel_type: {}\nmax_iter: 200\n",
        case.model_type
    );
    let worker = format!("kind: sgd\nmodel_type: {}\n", case.model_type);
    experiment(&dir, case.subnet + k as u8, &master, &worker, case.train, &shards)?;
    let cluster = Cluster::start(&dir, opts.docker)?;
    if case.warm_up {
        report.emit(json!({"scenario": "startup", "k": k, "seconds": cluster.startup_s, "data": case.data}));
    }
    let client = cluster.client();
    if case.warm_up {
        // Let the machine settle after the previous cluster's exit, and warm the connections.
        std::thread::sleep(Duration::from_secs(1));
        client.fit("parameter-server")?;
    }
    let largest = shards.iter().max_by_key(|s| s.len()).cloned().unwrap_or_default();
    let grad = gradient_floor(case.train, &largest, case.loss, case.gradient_reps);
    let (mut times, mut floors, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..case.repeats {
        let http = http_floor(&cluster.worker_urls(), case.floor_rounds)?;
        let (t, fit) = timed(|| client.fit("parameter-server"))?;
        if fit.training.as_ref().map(|t| t.rounds) != Some(200) {
            return Err(format!(
                "the {} fit ran {:?} rounds, not 200",
                case.data,
                fit.training.map(|t| t.rounds)
            ));
        }
        times.push(t);
        floors.push(http);
        ratios.push(t / 200.0 / (http + grad));
    }
    let answer = client.predict("parameter-server", &case.test.request(0..case.test.x.len()))?;
    let quality = match &answer.y_pred_rows {
        PredRows::Values(pred) if answer.y_pred_labels.is_none() => {
            let truth: Vec<f64> = case.test.y.iter().map(|v| v.parse().unwrap_or(f64::NAN)).collect();
            json!({"r2": r2(&truth, pred)})
        }
        _ => json!({"accuracy": accuracy(&case.test.y, &answer)}),
    };
    let (fit_s, http) = (median(times), median(floors));
    report.emit(json!({
        "scenario": case.scenario, "k": k, "median_s": fit_s, "repeats": case.repeats, "quality": quality,
        "per_round_s": fit_s / 200.0, "floor_http_fanout_s": http, "floor_gradient_s": grad,
        "floor_s": 200.0 * (http + grad), "overhead_over_floor": median(ratios),
        "peak_rss_mb": cluster.peak_rss_mb(),
    }));
    Ok(())
}

/// Prints one result line and keeps it for the markdown.
struct Report {
    lines: Vec<Value>,
    common: Value,
}

impl Report {
    fn emit(&mut self, mut line: Value) {
        if let (Some(obj), Some(common)) = (line.as_object_mut(), self.common.as_object()) {
            for (k, v) in common {
                obj.insert(k.clone(), v.clone());
            }
        }
        println!("{line}");
        self.lines.push(line);
    }
}

pub fn run(opts: &Options) -> Result<(), String> {
    workspace::build_binaries()?;
    if opts.docker {
        docker::build_images(false)?;
    }
    let root = workspace::target_dir().join("chimera-bench");
    let wine_dir = workspace::root().join("tests/data/winequality_red");
    let wine = Data::read(&wine_dir, "X_train.csv", "y_train.csv")?;
    let wine_test = Data::read(&wine_dir, "X_test.csv", "y_test.csv")?;
    let (synth, synth_test) = synthetic(&root)?;
    let quick = opts.quick;
    let ks: Vec<usize> = if quick { vec![2] } else { vec![1, 2, 4] };
    let repeats = if quick { 5 } else { 11 };
    let big_repeats = if quick { 1 } else { 3 };
    let load_seconds = if quick { 2.0 } else { 5.0 };
    let mode = if opts.docker { "docker" } else { "local" };
    let mut report = Report {
        lines: Vec::new(),
        common: json!({"mode": mode, "git": git_revision(), "machine": machine()}),
    };
    let synth_truth = synth_test.y.clone();

    let cases = [
        PsCase {
            scenario: "ps_fit_wine_200_rounds",
            data: "red wine",
            dir: "ps-wine",
            subnet: 10,
            train: &wine,
            test: &wine_test,
            model_type: "regressor",
            loss: Loss::SquaredError,
            repeats,
            floor_rounds: if quick { 300 } else { 600 },
            gradient_reps: 2000,
            warm_up: true,
        },
        PsCase {
            scenario: "ps_fit_synthetic_200_rounds",
            data: "160,000 x 20",
            dir: "ps-synth",
            subnet: 20,
            train: &synth,
            test: &synth_test,
            model_type: "classifier",
            loss: Loss::LogLoss,
            repeats: big_repeats,
            floor_rounds: 300,
            gradient_reps: if quick { 20 } else { 50 },
            warm_up: false,
        },
    ];
    for &k in &ks {
        for case in &cases {
            parameter_server_scenario(case, k, &root, opts, &mut report)?;
        }
    }

    // Bagging on 160k x 20, the same data on every worker; then predict and single-row load.
    let bag_ks: Vec<usize> = if quick { vec![2, 3] } else { vec![1, 2, 3, 4] };
    for &k in &bag_ks {
        eprintln!("[k={k}] bagging fit (decision trees), 160,000 x 20 on every worker ...");
        let dir = root.join(format!("bagging-synth-{k}"));
        let all: Vec<usize> = (0..synth.x.len()).collect();
        experiment(
            &dir,
            30 + k as u8,
            "kind: aggregation\n",
            "kind: classification\nmodel: decision_tree\nparams: {max_depth: 5, max_leaf_nodes: 15}\nbootstrap: true\n",
            &synth,
            &vec![all; k],
        )?;
        let cluster = Cluster::start(&dir, opts.docker)?;
        let client = cluster.client();
        let mut times = Vec::new();
        for _ in 0..(if quick { 2 } else { 5 }) {
            times.push(timed(|| client.fit("aggregation"))?.0);
        }
        if ks.contains(&k) {
            report.emit(json!({"scenario": "bagging_fit_synthetic", "k": k, "median_s": median(times.clone()), "repeats": times.len(), "peak_rss_mb": cluster.peak_rss_mb()}));
            let request = synth_test.request(0..synth_test.x.len());
            let body = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..repeats {
                let (t, a) = timed(|| client.post_bytes("/v1/chimera/aggregation/predict", &body))?;
                times.push(t);
                last = Some(a);
            }
            let answer: chimera_shared::api::PredictResponse = last.ok_or("no predict ran")?.ok()?;
            report.emit(json!({
                "scenario": "predict_40000_rows", "k": k, "median_s": median(times), "repeats": repeats,
                "quality": {"accuracy": accuracy(&synth_truth, &answer)},
            }));
        }
        let one_row = serde_json::to_vec(&synth_test.request(0..1)).map_err(|e| e.to_string())?;
        let base = format!("http://127.0.0.1:{}", cluster.exp.env.master_port);
        for clients in [1, 4, 32] {
            eprintln!("[k={k}] single-row predict, {clients} client(s), {load_seconds} s ...");
            let mut line = load(
                &base,
                &one_row,
                "/v1/chimera/aggregation/predict",
                clients,
                load_seconds,
            );
            line["scenario"] = json!("predict_single_row");
            line["k"] = json!(k);
            report.emit(line);
        }
        drop(cluster);
    }
    // On local processes only: with four clusters of containers at once the comparison measures
    // Docker's scheduling more than the telemetry.
    if !opts.docker {
        telemetry_overhead(&root, &wine, opts, &mut report)?;
    }
    if let Some(path) = &opts.markdown {
        std::fs::write(path, markdown(&report.lines, opts)).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// What metrics and the two logs cost: the same clusters with `CHIMERA_TELEMETRY` on and off,
/// runs interleaved (10 of each), medians compared, for a 200-round fit and single-row load.
fn telemetry_overhead(root: &Path, wine: &Data, opts: &Options, report: &mut Report) -> Result<(), String> {
    let runs = 10;
    let load_seconds = if opts.quick { 0.5 } else { 1.0 };
    let mut clusters = Vec::new();
    for (i, telemetry) in ["on", "off"].iter().enumerate() {
        let shards = contiguous_shards(wine.x.len(), 2);
        let ps = root.join(format!("telemetry-ps-{telemetry}"));
        experiment(
            &ps,
            50 + i as u8,
            "kind: parameter-server\nmodel_type: regressor\nmax_iter: 200\n",
            "kind: sgd\nmodel_type: regressor\n",
            wine,
            &shards,
        )?;
        let bag = root.join(format!("telemetry-bag-{telemetry}"));
        experiment(
            &bag,
            52 + i as u8,
            "kind: aggregation\n",
            "kind: regression\nmodel: decision_tree\nparams: {max_depth: 5}\n",
            wine,
            &shards,
        )?;
        for dir in [&ps, &bag] {
            let env = std::fs::read_to_string(dir.join(".env")).map_err(|e| e.to_string())?;
            std::fs::write(dir.join(".env"), format!("{env}CHIMERA_TELEMETRY={telemetry}\n"))
                .map_err(|e| e.to_string())?;
        }
        let ps = Cluster::start(&ps, opts.docker)?;
        let bag = Cluster::start(&bag, opts.docker)?;
        bag.client().fit("aggregation")?;
        clusters.push((ps, bag));
    }
    let one_row = serde_json::to_vec(&wine.request(0..1)).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(1));
    let (mut fit_on, mut fit_off, mut rps_on, mut rps_off) = (vec![], vec![], vec![], vec![]);
    eprintln!(
        "telemetry on vs off: {runs} interleaved runs of a 200-round fit and {load_seconds} s of 32-client load ..."
    );
    for run in 0..runs {
        // Alternate which goes first, so drift favours neither.
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for &i in &order {
            let (ps, bag) = &clusters[i];
            let t = timed(|| ps.client().fit("parameter-server"))?.0;
            let base = format!("http://127.0.0.1:{}", bag.exp.env.master_port);
            let rps = load(&base, &one_row, "/v1/chimera/aggregation/predict", 32, load_seconds)["requests_per_s"]
                .as_f64()
                .unwrap_or(f64::NAN);
            if i == 0 {
                fit_on.push(t);
                rps_on.push(rps);
            } else {
                fit_off.push(t);
                rps_off.push(rps);
            }
        }
    }
    let (fon, foff, ron, roff) = (median(fit_on), median(fit_off), median(rps_on), median(rps_off));
    report.emit(json!({
        "scenario": "telemetry_overhead", "k": 2, "runs": runs,
        "fit_on_median_s": fon, "fit_off_median_s": foff, "fit_overhead_pct": (fon / foff - 1.0) * 100.0,
        "rps_on_median": ron, "rps_off_median": roff, "throughput_overhead_pct": (1.0 - ron / roff) * 100.0,
    }));
    Ok(())
}

/// The issues' targets, each checked against this run's figures.
fn targets(lines: &[Value]) -> String {
    let find = |scenario: &str, k: u64, clients: Option<u64>| {
        lines
            .iter()
            .find(|l| l["scenario"] == scenario && l["k"] == k && clients.is_none_or(|c| l["clients"] == c))
            .cloned()
            .unwrap_or_default()
    };
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut rows: Vec<(String, String, bool)> = Vec::new();
    let mut check = |what: &str, shown: String, ok: bool| rows.push((what.to_string(), shown, ok));
    let l = find("ps_fit_wine_200_rounds", 2, None);
    check(
        "parameter-server fit, red wine, 2 workers, 200 rounds <= 50 ms",
        format!("{:.1} ms", num(&l["median_s"]) * 1e3),
        num(&l["median_s"]) <= 0.05,
    );
    let l = find("ps_fit_synthetic_200_rounds", 2, None);
    check(
        "parameter-server fit, 160k x 20, 2 workers, 200 rounds <= 2 s",
        format!("{:.2} s", num(&l["median_s"])),
        num(&l["median_s"]) <= 2.0,
    );
    for scenario in ["ps_fit_wine_200_rounds", "ps_fit_synthetic_200_rounds"] {
        let l = find(scenario, 2, None);
        check(
            &format!("SGD per-round overhead over the floor <= 2x ({scenario}, k = 2)"),
            format!("{:.2}x", num(&l["overhead_over_floor"])),
            num(&l["overhead_over_floor"]) <= 2.0,
        );
    }
    let l = find("bagging_fit_synthetic", 2, None);
    check(
        "bagging fit, 160k x 20, 2 workers <= 1 s",
        format!("{:.3} s", num(&l["median_s"])),
        num(&l["median_s"]) <= 1.0,
    );
    let l = find("predict_40000_rows", 2, None);
    check(
        "predict 40,000 rows, bagging, 2 workers <= 0.2 s",
        format!("{:.3} s", num(&l["median_s"])),
        num(&l["median_s"]) <= 0.2,
    );
    for k in [2, 3] {
        let l = find("predict_single_row", k, Some(32));
        check(
            &format!("single-row predict, 32 clients, {k} workers >= 3,000 requests/s and p99 <= 10 ms"),
            format!(
                "{:.0} requests/s, p99 {:.2} ms",
                num(&l["requests_per_s"]),
                num(&l["p99_ms"])
            ),
            num(&l["requests_per_s"]) >= 3000.0 && num(&l["p99_ms"]) <= 10.0,
        );
    }
    let l = find("predict_single_row", 3, Some(1));
    check(
        "single-row predict, one client in sequence, 3 workers: p50 <= 1 ms",
        format!("{:.3} ms", num(&l["p50_ms"])),
        num(&l["p50_ms"]) <= 1.0,
    );
    let l = find("ps_fit_wine_200_rounds", 2, None);
    let worst = l["peak_rss_mb"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(n, _)| *n != "master")
        .map(|(_, v)| num(v))
        .fold(0.0, f64::max);
    check(
        "peak memory per worker, red wine <= 30 MB",
        format!("{worst:.1} MB"),
        worst <= 30.0,
    );
    let l = find("startup", 4, None);
    check(
        "4 workers and the master healthy after `up --local` <= 1 s",
        format!("{:.3} s", num(&l["seconds"])),
        num(&l["seconds"]) <= 1.0,
    );
    let l = find("telemetry_overhead", 2, None);
    let worst = num(&l["fit_overhead_pct"]).max(num(&l["throughput_overhead_pct"]));
    check(
        "metrics and logs add <= 5% (fit and single-row throughput)",
        format!(
            "{:.1}% / {:.1}%",
            num(&l["fit_overhead_pct"]),
            num(&l["throughput_overhead_pct"])
        ),
        worst <= 5.0,
    );
    let mut md = String::from(
        "## Targets (from the issues), checked against this run\n\n| target | this run | met |\n|---|---|---|\n",
    );
    for (what, shown, ok) in rows {
        md += &format!("| {what} | {shown} | {} |\n", if ok { "yes" } else { "**no**" });
    }
    md + "\n"
}

/// docs/benchmarks.md from this run's lines: every number is a result, none typed by hand.
fn markdown(lines: &[Value], opts: &Options) -> String {
    let first = lines.first().cloned().unwrap_or_default();
    let f = |v: &Value, digits: usize| {
        v.as_f64()
            .map(|x| format!("{x:.digits$}"))
            .unwrap_or_else(|| "-".into())
    };
    let by = |scenario: &'static str| lines.iter().filter(move |l| l["scenario"] == scenario);
    let mut md = String::new();
    md += "# Benchmarks\n\n";
    md += "Generated by `cargo xtask bench";
    if opts.quick {
        md += " --quick";
    }
    if opts.docker {
        md += " --docker";
    }
    md += " --markdown docs/benchmarks.md`: every figure below is from that run's JSON lines\n";
    md += "(one per scenario and worker count; medians over the repeats shown). All requests go through\n";
    md += "HTTP and JSON to the master and from it to the workers, as a user's would. `--quick` gives a\n";
    md += "short run, `--docker` runs on containers, `--micro` runs the criterion benchmarks; see\n";
    md += "[profiling.md](profiling.md) for where the time goes. Figures on this shared 2-core machine\n";
    md += "move between runs (tens of percent for the millisecond-scale ones).\n\n";
    md += &format!(
        "- machine: {} CPUs ({}), {} GB, kernel {}\n- revision: {}\n- mode: {}\n\n",
        first["machine"]["cpus"],
        first["machine"]["cpu"].as_str().unwrap_or("?"),
        first["machine"]["memory_gb"],
        first["machine"]["kernel"].as_str().unwrap_or("?"),
        first["git"].as_str().unwrap_or("?"),
        first["mode"].as_str().unwrap_or("?")
    );
    md += &targets(lines);
    md += "## Parameter server (200 rounds, full batch)\n\n";
    md += "| data | k | fit (s) | per round (ms) | floor per round (ms): fan-out + gradient | overhead over floor | quality | peak RSS per worker (MB) |\n|---|---|---|---|---|---|---|---|\n";
    for (scenario, data) in [
        ("ps_fit_wine_200_rounds", "red wine"),
        ("ps_fit_synthetic_200_rounds", "160k x 20"),
    ] {
        for l in by(scenario) {
            let q = l["quality"]
                .as_object()
                .and_then(|q| q.iter().next())
                .map(|(k, v)| format!("{k} {}", f(v, 3)))
                .unwrap_or_default();
            let rss: Vec<String> = l["peak_rss_mb"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(n, _)| *n != "master")
                .map(|(_, v)| f(v, 1))
                .collect();
            md += &format!(
                "| {data} | {} | {} | {} | {} + {} | {}x | {q} | {} |\n",
                l["k"],
                f(&l["median_s"], 3),
                f(&json!(l["per_round_s"].as_f64().unwrap_or(f64::NAN) * 1e3), 3),
                f(&json!(l["floor_http_fanout_s"].as_f64().unwrap_or(f64::NAN) * 1e3), 3),
                f(&json!(l["floor_gradient_s"].as_f64().unwrap_or(f64::NAN) * 1e3), 3),
                f(&l["overhead_over_floor"], 2),
                rss.join(", ")
            );
        }
    }
    md += "\n## Bagging (decision trees, max_depth 5, max_leaf_nodes 15, bootstrap; 160k x 20 on every worker)\n\n";
    md += "| k | fit (s) | predict 40,000 rows in one request (s) | accuracy |\n|---|---|---|---|\n";
    for l in by("bagging_fit_synthetic") {
        let p = by("predict_40000_rows")
            .find(|p| p["k"] == l["k"])
            .cloned()
            .unwrap_or_default();
        md += &format!(
            "| {} | {} | {} | {} |\n",
            l["k"],
            f(&l["median_s"], 3),
            f(&p["median_s"], 3),
            f(&p["quality"]["accuracy"], 3)
        );
    }
    md += "\n## Single-row predict through the master\n\n";
    md += "| k | clients | requests/s | p50 (ms) | p99 (ms) | errors |\n|---|---|---|---|---|---|\n";
    for l in by("predict_single_row") {
        md += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            l["k"],
            l["clients"],
            l["requests_per_s"],
            f(&l["p50_ms"], 3),
            f(&l["p99_ms"], 3),
            l["errors"]
        );
    }
    md += "\n## Start-up until every node answers healthy (red wine)\n\n| k | seconds |\n|---|---|\n";
    for l in by("startup") {
        md += &format!("| {} | {} |\n", l["k"], f(&l["seconds"], 3));
    }
    md += "\n## Peak memory (VmHWM) of every process, red wine parameter server\n\n| k | MB by node |\n|---|---|\n";
    for l in by("ps_fit_wine_200_rounds") {
        md += &format!("| {} | {} |\n", l["k"], l["peak_rss_mb"]);
    }
    md +=
        "\n## What metrics and logs cost (k = 2, red wine; CHIMERA_TELEMETRY on vs off, 10 interleaved runs each)\n\n";
    md += "| | telemetry on | telemetry off | overhead |\n|---|---|---|---|\n";
    for l in by("telemetry_overhead") {
        md += &format!(
            "| 200-round fit (s, median) | {} | {} | {}% |\n",
            f(&l["fit_on_median_s"], 4),
            f(&l["fit_off_median_s"], 4),
            f(&l["fit_overhead_pct"], 1)
        );
        md += &format!(
            "| single-row predict, 32 clients (requests/s, median) | {} | {} | {}% |\n",
            f(&l["rps_on_median"], 0),
            f(&l["rps_off_median"], 0),
            f(&l["throughput_overhead_pct"], 1)
        );
    }
    md += "\n## Raw results\n\n```json\n";
    for l in lines {
        let mut l = l.clone();
        if let Some(o) = l.as_object_mut() {
            o.remove("machine");
            o.remove("git");
            o.remove("mode");
        }
        md += &format!("{l}\n");
    }
    md += "```\n";
    md
}
