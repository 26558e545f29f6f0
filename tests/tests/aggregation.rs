//! Model and hybrid parallelism end to end: real servers on ephemeral ports, the examples'
//! real data, and every distributed result checked against one model trained on all the data.

use chimera_shared::api::{Label, Outcome, PredRows, PredictRequest, PredictResponse};
use chimera_shared::config::{EstimatorSpec, TaskKind, WorkerKind};
use chimera_tests::{accuracy, r2, Cluster, Csv, TempDir};
use chimera_worker::data::{self, Dataset, Target};
use chimera_worker::ml;
use ndarray::{concatenate, Array1, Array2, Axis};

fn estimator(cluster: &Cluster, worker: &str) -> EstimatorSpec {
    match &cluster.exp.worker(worker).expect("worker").kind {
        WorkerKind::Model { estimator, .. } => estimator.clone(),
        WorkerKind::Sgd { .. } => panic!("a model worker"),
    }
}

/// One model of `spec` trained on `data` without bootstrap: the single-node reference.
fn reference(spec: &EstimatorSpec, data: &Dataset, request: &PredictRequest) -> PredictResponse {
    let model = ml::fit(spec, data, &vec![1.0; data.n_rows()], 0).expect("fit");
    let x = Array2::from_shape_fn((request.rows.len(), request.columns.len()), |(i, j)| request.rows[i][j]);
    let n_classes = match &data.target {
        Target::Classification { classes, .. } => classes.len(),
        Target::Regression(_) => 0,
    };
    ml::answer(model.predict(x.view(), n_classes), &data.target)
}

fn labels(answer: &PredictResponse) -> Vec<String> {
    answer
        .y_pred_labels
        .as_ref()
        .expect("labels")
        .iter()
        .map(Label::to_string)
        .collect()
}

#[test]
fn bagged_trees_classify_as_well_as_one_tree_on_all_the_data() {
    let dir = TempDir::copy_of("bagging-classification");
    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    let fit = client.fit("aggregation").expect("fit");
    assert_eq!(fit.fit, "ok");
    assert_eq!(fit.workers.len(), 3);
    assert!(
        fit.workers
            .iter()
            .all(|w| w.outcome == Outcome::Ok && w.error.is_none()),
        "{:?}",
        fit.workers
    );

    let (request, truth) = chimera_tests::test_split(&dir);
    let answer = client.predict("aggregation", &request).expect("predict");
    assert!(answer.failed_workers.is_empty());
    assert_eq!(
        answer.classes,
        Some(vec![Label::Str("bad".into()), Label::Str("good".into())])
    );
    let proba = answer.y_pred_proba.clone().expect("probabilities");
    assert!(proba.iter().all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-9));
    // The seed's y_pred_rows on two classes: the probability of classes[1].
    let PredRows::Values(p_good) = &answer.y_pred_rows else {
        panic!("binary answers carry probabilities")
    };
    assert!(p_good.iter().zip(&proba).all(|(p, r)| (p - r[1]).abs() < 1e-12));

    let bagged = accuracy(&truth, &labels(&answer));
    let all = data::load(
        &dir.path().join("chimera_train_data/worker-1"),
        TaskKind::Classification,
    )
    .expect("data");
    let single = accuracy(
        &truth,
        &labels(&reference(&estimator(&cluster, "worker-1"), &all, &request)),
    );
    eprintln!("bagged accuracy {bagged:.4}, one tree {single:.4}");
    assert!(bagged >= single - 0.02, "bagged {bagged} vs one tree {single}");
    assert!(bagged > 0.65, "{bagged}");
}

#[test]
fn hybrid_regression_over_shards_is_close_to_one_tree_on_their_union() {
    let dir = TempDir::copy_of("hybrid-regression");
    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").expect("fit");
    let (request, truth) = chimera_tests::test_split(&dir);
    let truth: Vec<f64> = truth.iter().map(|v| v.parse().expect("number")).collect();
    let answer = client.predict("aggregation", &request).expect("predict");
    let PredRows::Values(pred) = &answer.y_pred_rows else {
        panic!("regression answers values")
    };
    let hybrid = r2(&truth, pred);

    // The union of the three shards, and one tree with worker-1's settings on it.
    let shards: Vec<Dataset> = ["worker-1", "worker-2", "worker-3"]
        .iter()
        .map(|w| data::load(&dir.path().join("chimera_train_data").join(w), TaskKind::Regression).expect("data"))
        .collect();
    let x = concatenate(Axis(0), &shards.iter().map(|d| d.x.view()).collect::<Vec<_>>()).expect("same columns");
    let y: Array1<f64> = shards
        .iter()
        .flat_map(|d| match &d.target {
            Target::Regression(y) => y.to_vec(),
            Target::Classification { .. } => unreachable!(),
        })
        .collect();
    let union = Dataset {
        columns: shards[0].columns.clone(),
        x,
        target: Target::Regression(y),
        target_name: "quality".into(),
        bins: data::BinCache::default(),
    };
    let single = match reference(&estimator(&cluster, "worker-1"), &union, &request).y_pred_rows {
        PredRows::Values(v) => r2(&truth, &v),
        PredRows::Labels(_) => unreachable!(),
    };
    eprintln!("hybrid R² {hybrid:.4}, one tree on all the data {single:.4}");
    assert!(hybrid >= single - 0.05, "hybrid {hybrid} vs one tree {single}");
}

#[test]
fn the_same_seeds_give_the_same_predictions_and_bootstrap_workers_differ() {
    let dir = TempDir::copy_of("bagging-classification");
    let (request, _) = chimera_tests::test_split(&dir);
    let run = || {
        let cluster = Cluster::start(dir.path());
        cluster.client().fit("aggregation").expect("fit");
        let master = cluster.client().predict("aggregation", &request).expect("predict");
        let per_worker: Vec<PredictResponse> = cluster
            .workers
            .iter()
            .map(|w| w.client().predict("model", &request).expect("worker predict"))
            .collect();
        (master, per_worker)
    };
    let (first, workers) = run();
    let (second, _) = run();
    assert_eq!(first, second, "a rerun with the same seeds must predict the same");
    assert_ne!(
        workers[0].y_pred_proba, workers[1].y_pred_proba,
        "bootstrap workers must draw different samples"
    );
    assert_ne!(workers[1].y_pred_proba, workers[2].y_pred_proba);
}

#[test]
fn a_dead_worker_is_named_and_the_others_still_answer() {
    let dir = TempDir::copy_of("hybrid-regression");
    let mut cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").expect("fit");
    let (request, _) = chimera_tests::test_split(&dir);
    cluster.worker_mut("worker-2").kill();

    let answer = client.predict("aggregation", &request).expect("predict still answers");
    assert_eq!(answer.failed_workers.len(), 1);
    assert_eq!(answer.failed_workers[0].name, "worker-2");
    assert!(!answer.failed_workers[0].error.is_empty());
    assert_eq!(answer.y_pred_rows.len(), request.rows.len());

    let fit = client.fit("aggregation").expect("fit with two of three workers");
    let lost = fit.workers.iter().find(|w| w.name == "worker-2").expect("reported");
    assert_eq!(lost.outcome, Outcome::Error);
    assert!(lost.error.is_some());

    cluster.worker_mut("worker-1").kill();
    cluster.worker_mut("worker-3").kill();
    let answer = client
        .post_json("/v1/chimera/aggregation/predict", &request)
        .expect("an answer");
    assert_eq!(answer.status, 503);
    let text = answer.text();
    for w in ["worker-1", "worker-2", "worker-3"] {
        assert!(text.contains(w), "the 503 names every worker: {text}");
    }
}

#[test]
fn integer_labels_and_workers_with_different_class_sets() {
    // Red wine quality as classes (3..8); the shards do not all hold every class.
    let dir = TempDir::copy_of("hybrid-regression");
    for w in ["worker-1", "worker-2", "worker-3"] {
        dir.write(
            &format!("chimera_workers/{w}.yaml"),
            "kind: classification\nmodel: decision_tree\nparams: {max_depth: 4}\n",
        );
    }
    // Worker 3 sees no wine of quality 8 or 3.
    let y3 = dir.path().join("chimera_train_data/worker-3");
    let x = Csv::read(&y3.join("X_train.csv"));
    let y = Csv::read(&y3.join("y_train.csv"));
    let keep: Vec<usize> = (0..y.rows.len())
        .filter(|&i| y.rows[i][0] != "8" && y.rows[i][0] != "3")
        .collect();
    let mut xs = x.header.join(",") + "\n";
    let mut ys = "quality\n".to_string();
    for &i in &keep {
        xs += &(x.rows[i].join(",") + "\n");
        ys += &(y.rows[i][0].clone() + "\n");
    }
    dir.write("chimera_train_data/worker-3/X_train.csv", &xs)
        .write("chimera_train_data/worker-3/y_train.csv", &ys);

    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").expect("fit");
    let (request, _) = chimera_tests::test_split(&dir);
    let raw = client
        .post_json("/v1/chimera/aggregation/predict", &request)
        .expect("answer");
    assert_eq!(raw.status, 200, "{}", raw.text());
    let json: serde_json::Value = raw.json().expect("json");
    assert_eq!(
        json["classes"],
        serde_json::json!([3, 4, 5, 6, 7, 8]),
        "labels keep their integer type"
    );
    assert!(
        json["y_pred_rows"][0].is_i64(),
        "more than two classes: y_pred_rows holds the labels"
    );
    let w3: PredictResponse = cluster
        .worker("worker-3")
        .client()
        .predict("model", &request)
        .expect("worker 3");
    assert_eq!(w3.classes.as_ref().map(Vec::len), Some(4));
    let answer: PredictResponse = raw.json().expect("typed");
    assert!(answer
        .y_pred_proba
        .expect("proba")
        .iter()
        .all(|r| r.len() == 6 && (r.iter().sum::<f64>() - 1.0).abs() < 1e-9));
}

#[test]
fn an_env_written_as_the_original_wrote_it_starts_the_experiment() {
    // The original's master.py set os.environ["CHIMERA_WORKERS_NODES_NAMES"] = "['w1', 'w2']".
    let dir = TempDir::copy_of("bagging-classification");
    dir.write(
        ".env",
        "CHIMERA_WORKERS_NODES_NAMES=\"['worker-1', 'worker-2', 'worker-3']\"\n\
         CHIMERA_WORKERS_CPU_SHARES=\"[2, 2, '4']\"\nCHIMERA_WORKERS_MAPPED_PORTS=\"[18301, 18302, 18303]\"\n",
    );
    let cluster = Cluster::start(dir.path());
    let fit = cluster.client().fit("aggregation").expect("fit");
    assert_eq!(fit.workers.len(), 3);
    assert_eq!(cluster.exp.env.cpu_shares, vec![2, 2, 4]);
}

/// Lines of the master's time log (`URL side endpoint latency = X s`) that start with `prefix`.
fn time_log_lines(dir: &TempDir, prefix: &str) -> usize {
    std::fs::read_to_string(dir.path().join("logs/master/chimera_time.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

#[test]
fn concurrent_small_predicts_share_worker_calls_and_each_gets_its_own_answer() {
    let dir = TempDir::copy_of("bagging-classification");
    // A slow worker keeps each batch out for 100 ms, so predicts sent together must wait and
    // go out together: a master HTTP thread sends at most two batches at once, then one per
    // column order as they come back, so 24 predicts need at most 8 calls here.
    let spec = dir.path().join("chimera_workers/worker-2.yaml");
    let yaml = std::fs::read_to_string(&spec).expect("worker-2's spec");
    dir.write("chimera_workers/worker-2.yaml", &format!("{yaml}\ndelay_ms: 100\n"));
    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").expect("fit");
    let (request, _) = chimera_tests::test_split(&dir);
    let n = 24;
    let rows = &request.rows[..n];
    // Every row's answer from one request holding them all: what each must get back alone.
    let all = client
        .predict(
            "aggregation",
            &PredictRequest {
                columns: request.columns.clone(),
                rows: rows.to_vec(),
            },
        )
        .expect("predict");
    // The same rows at once, one per client; every other one with its columns reversed, which
    // batches apart from the rest.
    let answers: Vec<PredictResponse> = std::thread::scope(|scope| {
        let calls: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let client = cluster.client();
                let (mut columns, mut row) = (request.columns.clone(), row.clone());
                if i % 2 == 1 {
                    columns.reverse();
                    row.reverse();
                }
                scope.spawn(move || {
                    client
                        .predict(
                            "aggregation",
                            &PredictRequest {
                                columns,
                                rows: vec![row],
                            },
                        )
                        .expect("predict")
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().expect("a client thread")).collect()
    });
    // The time log has a line per worker call and per client predict; it is written every
    // half second, so wait for the last predict's line.
    let master = format!("{}/v1/chimera/aggregation/predict master ", cluster.master.url());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while time_log_lines(&dir, &master) < n + 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(time_log_lines(&dir, &master), n + 1);
    let worker = format!("{}/v1/chimera/model/predict worker ", cluster.worker("worker-2").url());
    let calls = time_log_lines(&dir, &worker) - 1; // Less the all-rows predict.
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.y_pred_labels.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            answer.y_pred_labels.as_ref().unwrap()[0],
            all.y_pred_labels.as_ref().unwrap()[i],
            "row {i}"
        );
        assert_eq!(
            answer.y_pred_proba.as_ref().unwrap()[0],
            all.y_pred_proba.as_ref().unwrap()[i],
            "row {i}"
        );
        let PredRows::Values(p) = &answer.y_pred_rows else {
            panic!("binary answers carry probabilities")
        };
        let PredRows::Values(all_p) = &all.y_pred_rows else {
            panic!("binary answers carry probabilities")
        };
        assert_eq!(p, &vec![all_p[i]], "row {i}");
        assert_eq!(answer.classes, all.classes);
    }
    eprintln!("{n} concurrent predicts reached worker-2 as {calls} calls");
    assert!(calls >= 1 && calls <= n / 2, "{calls} calls for {n} predicts");
}
