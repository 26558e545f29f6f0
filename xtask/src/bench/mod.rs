//! `cargo xtask bench`: the Python original's scenarios, through the real path a user takes
//! (HTTP, JSON, the master and the workers), with the physical floor measured in the same run.
//! One JSON line per (scenario, k) on standard output; progress on standard error;
//! `--markdown docs/benchmarks.md` writes the doc's tables from this run's results.

mod cluster;
mod data;
mod report;

use crate::{docker, workspace};
use chimera_shared::config::Loss;
use cluster::{experiment, git_revision, gradient_floor, http_floor, load, machine, Cluster};
use data::{contiguous_shards, synthetic, Data};
use report::markdown;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub docker: bool,
    pub markdown: Option<PathBuf>,
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
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
    let (metric, value) = crate::report::quality(&case.test.y, &answer);
    let quality = json!({ metric: value });
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
                "quality": {"accuracy": crate::report::quality(&synth_truth, &answer).1},
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
    random_forest_scenario(&root, &synth, &synth_test, opts, &mut report)?;
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

/// A random forest of 25 trees on one worker over all 160k x 20 rows: the performance issue's
/// tree target, fitted and scored through the master as a user would.
fn random_forest_scenario(
    root: &Path,
    synth: &Data,
    synth_test: &Data,
    opts: &Options,
    report: &mut Report,
) -> Result<(), String> {
    eprintln!("[k=1] random forest fit (25 trees), 160,000 x 20 on one worker ...");
    let dir = root.join("forest-synth-1");
    experiment(
        &dir,
        40,
        "kind: aggregation\n",
        "kind: classification\nmodel: random_forest\nparams: {n_estimators: 25, random_state: 0}\n",
        synth,
        &[(0..synth.x.len()).collect()],
    )?;
    let cluster = Cluster::start(&dir, opts.docker)?;
    let client = cluster.client();
    let mut times = Vec::new();
    for _ in 0..(if opts.quick { 3 } else { 7 }) {
        times.push(timed(|| client.fit("aggregation"))?.0);
    }
    let answer = client.predict("aggregation", &synth_test.request(0..synth_test.x.len()))?;
    report.emit(json!({
        "scenario": "random_forest_fit_synthetic", "k": 1, "trees": 25, "median_s": median(times.clone()),
        "repeats": times.len(), "quality": {"accuracy": crate::report::quality(&synth_test.y, &answer).1},
        "peak_rss_mb": cluster.peak_rss_mb(),
    }));
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
