//! Data parallelism end to end: the parameter server and SGD workers on real sockets, checked
//! against single-node solvers (linfa-linear's least squares, linfa-logistic) on the same data
//! and against one worker holding the union of the shards.

use chimera_shared::api::{DataSample, FitResponse, Outcome, PredRows, YCell};
use chimera_tests::{accuracy, r2, Cluster, Csv, TempDir};
use linfa::prelude::*;
use ndarray::{Array1, Array2};

const PS: &str = "parameter-server";

fn split() -> (Csv, Csv, Csv, Csv) {
    let d = chimera_tests::workspace_root().join("tests/data/winequality_red");
    (
        Csv::read(&d.join("X_train.csv")),
        Csv::read(&d.join("y_train.csv")),
        Csv::read(&d.join("X_test.csv")),
        Csv::read(&d.join("y_test.csv")),
    )
}

fn matrix(rows: &[Vec<f64>]) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

fn fit(cluster: &Cluster) -> FitResponse {
    cluster.client().fit(PS).expect("parameter-server fit")
}

fn with_master(example: &str, master_yaml: &str) -> TempDir {
    let dir = TempDir::copy_of(example);
    dir.write("chimera_master.yaml", master_yaml);
    dir
}

#[test]
fn default_settings_reach_least_squares_quality_on_red_wine() {
    let dir = TempDir::copy_of("sgd-regression");
    let cluster = Cluster::start(dir.path());
    let answer = fit(&cluster);
    let t = answer.training.expect("a training summary");
    assert_eq!(t.rounds, 200);
    assert_eq!(t.stop_reason, "max_iter");
    assert!(
        t.loss_history.windows(2).all(|w| w[1] <= w[0] + 1e-12),
        "full-batch loss never rises at the default rate"
    );
    let (request, truth) = chimera_tests::test_split(&dir);
    let truth: Vec<f64> = truth.iter().map(|v| v.parse().unwrap()).collect();
    let PredRows::Values(pred) = cluster.client().predict(PS, &request).unwrap().y_pred_rows else {
        panic!("values")
    };
    let distributed = r2(&truth, &pred);

    // Ordinary least squares on the same training rows (the union of the shards).
    let (x_train, y_train, x_test, _) = split();
    let ols = linfa_linear::LinearRegression::new()
        .fit(&Dataset::new(
            matrix(&x_train.numbers()),
            Array1::from(y_train.numbers().concat()),
        ))
        .unwrap();
    let ols_r2 = r2(&truth, &ols.predict(&matrix(&x_test.numbers())).to_vec());
    eprintln!("distributed SGD R² {distributed:.4}, least squares {ols_r2:.4}");
    assert!((ols_r2 - 0.403).abs() < 0.005, "the published figure: {ols_r2}");
    assert!(
        (distributed - ols_r2).abs() <= 0.01,
        "SGD {distributed} vs OLS {ols_r2}"
    );
}

#[test]
fn binary_classification_is_as_accurate_as_logistic_regression() {
    let dir = TempDir::copy_of("sgd-classification");
    let cluster = Cluster::start(dir.path());
    fit(&cluster);
    let (request, truth) = chimera_tests::test_split(&dir);
    let answer = cluster.client().predict(PS, &request).unwrap();
    let labels: Vec<String> = answer
        .y_pred_labels
        .clone()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let distributed = accuracy(&truth, &labels);
    let proba = answer.y_pred_proba.expect("log_loss gives probabilities");
    assert!(proba.iter().all(|r| r.len() == 2 && (r[0] + r[1] - 1.0).abs() < 1e-12));
    let PredRows::Labels(rows) = &answer.y_pred_rows else {
        panic!("the parameter server answers labels")
    };
    assert_eq!(rows, answer.y_pred_labels.as_ref().unwrap());

    // linfa-logistic on the same rows, standardized as the parameter server does.
    let (x_train, y_train, x_test, _) = split();
    let x = matrix(&x_train.numbers());
    let mean = x.mean_axis(ndarray::Axis(0)).unwrap();
    let std = x.std_axis(ndarray::Axis(0), 0.0);
    let z = (&x - &mean) / &std;
    let y: Array1<usize> = y_train.numbers().iter().map(|r| usize::from(r[0] >= 6.0)).collect();
    let model = linfa_logistic::LogisticRegression::default()
        .max_iterations(1000)
        .fit(&Dataset::new(z, y))
        .unwrap();
    let zt = (&matrix(&x_test.numbers()) - &mean) / &std;
    let reference: Vec<String> = model
        .predict(&zt)
        .iter()
        .map(|&c| if c == 1 { "good" } else { "bad" }.to_string())
        .collect();
    let single = accuracy(&truth, &reference);
    eprintln!("distributed SGD accuracy {distributed:.4}, linfa-logistic {single:.4}");
    assert!(
        (distributed - single).abs() <= 0.01,
        "SGD {distributed} vs logistic {single}"
    );
}

/// The union of an example's shards as a one-worker experiment.
fn one_worker_union(example: &str, master_yaml: &str) -> TempDir {
    let dir = with_master(example, master_yaml);
    let mut x = String::new();
    let mut y = String::new();
    for (k, w) in ["worker-1", "worker-2"].iter().enumerate() {
        let xs = std::fs::read_to_string(dir.path().join("chimera_train_data").join(w).join("X_train.csv")).unwrap();
        let ys = std::fs::read_to_string(dir.path().join("chimera_train_data").join(w).join("y_train.csv")).unwrap();
        x += if k == 0 { &xs } else { xs.split_once('\n').unwrap().1 };
        y += if k == 0 { &ys } else { ys.split_once('\n').unwrap().1 };
    }
    std::fs::remove_dir_all(dir.path().join("chimera_train_data/worker-2")).unwrap();
    std::fs::remove_file(dir.path().join("chimera_workers/worker-2.yaml")).unwrap();
    dir.write("chimera_train_data/worker-1/X_train.csv", &x)
        .write("chimera_train_data/worker-1/y_train.csv", &y);
    dir.write(".env", "CHIMERA_WORKERS_NODES_NAMES='[\"worker-1\"]'\n");
    dir
}

#[test]
fn k_workers_over_shards_equal_one_worker_over_their_union() {
    // (Not L1 where the data gradient is zero: there the subgradient's sign at ±1e-7 weights is
    // decided by rounding, on one node as on several.)
    let cases = [
        ("sgd-regression", "squared_error", "elasticnet"),
        ("sgd-regression", "huber\nhuber_delta: 1.5", "l2"),
        ("sgd-classification", "log_loss", "elasticnet"),
    ];
    for (example, loss, penalty) in cases {
        for rounds in [1, 7, 30] {
            let yaml = format!(
                "kind: parameter-server\nmodel_type: {}\nloss: {loss}\nmax_iter: {rounds}\nepsilon: 0\npenalty: {penalty}\nalpha: 0.01\n",
                if example == "sgd-regression" { "regressor" } else { "classifier" }
            );
            let sharded = with_master(example, &yaml);
            let union = one_worker_union(example, &yaml);
            let a = fit(&Cluster::start(sharded.path())).training.unwrap();
            let b = fit(&Cluster::start(union.path())).training.unwrap();
            assert_eq!(a.rounds, rounds);
            for (la, lb) in a.loss_history.iter().zip(&b.loss_history) {
                assert!((la - lb).abs() <= 1e-9, "{example} round loss {la} vs {lb}");
            }
            let diff = a
                .weights
                .iter()
                .flatten()
                .chain(&a.bias)
                .zip(b.weights.iter().flatten().chain(&b.bias))
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(
                diff <= 1e-9,
                "{example} after {rounds} rounds: largest weight difference {diff}"
            );
        }
    }
}

#[test]
fn the_same_random_state_gives_the_same_weights_bit_for_bit() {
    let yaml = |seed: u64| {
        format!("kind: parameter-server\nmodel_type: regressor\nmax_iter: 40\nbatch_size: 32\nrandom_state: {seed}\n")
    };
    let dir = with_master("sgd-regression", &yaml(3));
    let cluster = Cluster::start(dir.path());
    let first = fit(&cluster).training.unwrap();
    let second = fit(&cluster).training.unwrap();
    assert_eq!(
        first.weights, second.weights,
        "a refit starts from scratch with the same batches"
    );
    assert_eq!(first.bias, second.bias);
    let other = with_master("sgd-regression", &yaml(4));
    let third = fit(&Cluster::start(other.path())).training.unwrap();
    assert_ne!(first.weights, third.weights, "another seed draws other mini-batches");
}

#[test]
fn every_option_trains_to_a_lower_loss() {
    let reg = "kind: parameter-server\nmodel_type: regressor\nmax_iter: 60\n";
    let clf = "kind: parameter-server\nmodel_type: classifier\nmax_iter: 60\n";
    let cases = [
        ("sgd-regression", format!("{reg}loss: huber\nhuber_delta: 1.0\n")),
        ("sgd-regression", format!("{reg}penalty: l1\nalpha: 0.001\n")),
        ("sgd-regression", format!("{reg}penalty: elasticnet\nl1_ratio: 0.5\n")),
        (
            "sgd-regression",
            format!("{reg}penalty: none\nlearning_rate: invscaling\neta0: 0.1\npower_t: 0.25\n"),
        ),
        ("sgd-regression", format!("{reg}learning_rate: adaptive\n")),
        (
            "sgd-classification",
            format!("{clf}loss: hinge\nlearning_rate: optimal\nalpha: 0.01\n"),
        ),
        ("sgd-regression", format!("{reg}batch_size: 50\n")),
        (
            "sgd-regression",
            format!("{reg}mode: model-averaging\nlocal_epochs: 3\nbatch_size: 100\neta0: 0.01\n"),
        ),
        ("sgd-classification", format!("{clf}loss: hinge\n")),
        ("sgd-classification", format!("{clf}mode: model-averaging\n")),
        // Quality 3..8 as classes: multinomial softmax.
        ("sgd-regression", format!("{clf}loss: log_loss\n")),
        ("sgd-regression", format!("{clf}loss: hinge\n")),
    ];
    for (example, yaml) in cases {
        let dir = with_master(example, &yaml);
        if yaml.contains("classifier") && example == "sgd-regression" {
            for w in ["worker-1", "worker-2"] {
                dir.write(
                    &format!("chimera_workers/{w}.yaml"),
                    "kind: sgd\nmodel_type: classifier\n",
                );
            }
        }
        let cluster = Cluster::start(dir.path());
        let t = fit(&cluster).training.unwrap();
        let (first, last) = (t.loss_history[0], t.final_loss);
        assert!(last.is_finite() && last < first, "{yaml}: loss {first} -> {last}");
        let (request, _) = chimera_tests::test_split(&dir);
        let answer = cluster.client().predict(PS, &request).expect("predict");
        assert_eq!(answer.y_pred_rows.len(), request.rows.len());
        if yaml.contains("classifier") && example == "sgd-regression" {
            assert_eq!(answer.classes.as_ref().map(Vec::len), Some(6), "{yaml}");
            if yaml.contains("log_loss") {
                assert!(answer.y_pred_proba.unwrap().iter().all(|r| r.len() == 6));
            }
        }
    }
}

#[test]
fn model_averaging_also_reaches_least_squares_quality() {
    let dir = with_master(
        "sgd-regression",
        "kind: parameter-server\nmodel_type: regressor\nmax_iter: 200\nmode: model-averaging\nlocal_epochs: 2\n",
    );
    let cluster = Cluster::start(dir.path());
    fit(&cluster);
    let (request, truth) = chimera_tests::test_split(&dir);
    let truth: Vec<f64> = truth.iter().map(|v| v.parse().unwrap()).collect();
    let PredRows::Values(pred) = cluster.client().predict(PS, &request).unwrap().y_pred_rows else {
        panic!()
    };
    let score = r2(&truth, &pred);
    assert!((score - 0.403).abs() <= 0.02, "FedAvg R² {score}");
}

#[test]
fn tol_stops_early_and_epsilon_stops_at_a_flat_gradient() {
    let dir = with_master(
        "sgd-regression",
        "kind: parameter-server\nmodel_type: regressor\nmax_iter: 1000\ntol: 0.001\n",
    );
    let t = fit(&Cluster::start(dir.path())).training.unwrap();
    assert_eq!(t.stop_reason, "tol");
    assert!(t.rounds < 1000);
    let dir = with_master(
        "sgd-regression",
        "kind: parameter-server\nmodel_type: regressor\nmax_iter: 5000\nepsilon: 0.0001\npenalty: none\n",
    );
    let t = fit(&Cluster::start(dir.path())).training.unwrap();
    assert_eq!(t.stop_reason, "epsilon");
    assert!(t.rounds < 5000);
}

#[test]
fn a_diverging_fit_stops_with_a_clear_error_and_no_model() {
    let dir = with_master(
        "sgd-regression",
        "kind: parameter-server\nmodel_type: regressor\nmax_iter: 500\neta0: 5\nstandardize: false\n",
    );
    let cluster = Cluster::start(dir.path());
    let a = cluster
        .client()
        .post_bytes("/v1/chimera/parameter-server/fit", b"")
        .unwrap();
    assert_eq!(a.status, 422, "{}", a.text());
    assert!(
        a.text().contains("training_diverged") && a.text().contains("eta0"),
        "{}",
        a.text()
    );
    let (request, _) = chimera_tests::test_split(&dir);
    let p = cluster
        .client()
        .post_json("/v1/chimera/parameter-server/predict", &request)
        .unwrap();
    assert_eq!(p.status, 409, "no NaN model is kept: {}", p.text());
}

#[test]
fn workers_whose_columns_differ_fail_the_fit_naming_them() {
    let dir = TempDir::copy_of("sgd-regression");
    let path = dir.path().join("chimera_train_data/worker-2/X_train.csv");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("alcohol", "alcohol_pct", 1);
    std::fs::write(&path, text).unwrap();
    let cluster = Cluster::start(dir.path());
    let a = cluster
        .client()
        .post_bytes("/v1/chimera/parameter-server/fit", b"")
        .unwrap();
    assert_eq!(a.status, 422, "{}", a.text());
    let t = a.text();
    assert!(
        t.contains("columns_mismatch") && t.contains("worker-1") && t.contains("worker-2") && t.contains("alcohol_pct"),
        "{t}"
    );
}

#[test]
fn a_dead_first_worker_does_not_stop_the_fit() {
    let dir = TempDir::copy_of("sgd-regression");
    let mut cluster = Cluster::start(dir.path());
    cluster.worker_mut("worker-1").kill();
    let answer = fit(&cluster);
    let w1 = answer.workers.iter().find(|w| w.name == "worker-1").unwrap();
    assert_eq!(w1.outcome, Outcome::Error);
    assert!(w1.error.is_some());
    assert_eq!(
        answer.workers.iter().find(|w| w.name == "worker-2").unwrap().outcome,
        Outcome::Ok
    );
    assert_eq!(answer.training.unwrap().rounds, 200);
}

#[test]
fn a_shard_sorted_by_class_gives_a_sample_with_every_class() {
    let dir = TempDir::copy_of("sgd-classification");
    let w1 = dir.path().join("chimera_train_data/worker-1");
    let x = Csv::read(&w1.join("X_train.csv"));
    let y = Csv::read(&w1.join("y_train.csv"));
    let mut order: Vec<usize> = (0..y.rows.len()).collect();
    order.sort_by_key(|&i| y.rows[i][0].clone()); // every "bad" first
    let xs = x.header.join(",") + "\n" + &order.iter().map(|&i| x.rows[i].join(",") + "\n").collect::<String>();
    let ys = "label\n".to_string() + &order.iter().map(|&i| y.rows[i][0].clone() + "\n").collect::<String>();
    dir.write("chimera_train_data/worker-1/X_train.csv", &xs)
        .write("chimera_train_data/worker-1/y_train.csv", &ys);
    let cluster = Cluster::start(dir.path());
    let sample: DataSample = cluster
        .worker("worker-1")
        .client()
        .get("/v1/chimera/sgd/request-data-sample")
        .unwrap()
        .ok()
        .unwrap();
    let labels: Vec<String> = sample
        .y_train_sample_rows
        .iter()
        .map(|r| match &r[0] {
            YCell::Label(l) => l.to_string(),
            YCell::Number(n) => n.to_string(),
        })
        .collect();
    assert!(
        labels.contains(&"bad".to_string()) && labels.contains(&"good".to_string()),
        "{labels:?}"
    );
    assert_eq!(sample.x_rows.len(), sample.y_train_sample_rows.len());
    assert!(sample.x_rows.iter().all(|r| r.len() == 11));
}

#[test]
fn sgd_and_model_endpoints_refuse_the_wrong_kind_of_worker() {
    let dir = TempDir::copy_of("sgd-regression");
    let cluster = Cluster::start(dir.path());
    let a = cluster
        .worker("worker-1")
        .client()
        .post_bytes("/v1/chimera/model/fit", b"")
        .unwrap();
    assert_eq!(a.status, 409);
    let a = cluster.client().post_bytes("/v1/chimera/aggregation/fit", b"").unwrap();
    assert_eq!(a.status, 409);
    let bad_step = cluster
        .worker("worker-1")
        .client()
        .post_bytes("/v1/chimera/sgd/fit-step", b"{\"weights\": [[1]], \"bias\": [0]}")
        .unwrap();
    assert_eq!(bad_step.status, 400, "{}", bad_step.text());
}
