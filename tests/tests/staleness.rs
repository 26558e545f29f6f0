//! Asynchronous and bounded-staleness SGD (`mode: async`, `mode: ssp`) on real sockets,
//! against synchronous SGD on the same red-wine shards.

use chimera_shared::api::{FitResponse, PredRows, TrainingSummary};
use chimera_tests::{r2, Cluster, TempDir};

const PS: &str = "parameter-server";

fn experiment(master_yaml: &str) -> TempDir {
    let dir = TempDir::copy_of("sgd-regression");
    dir.write(
        "chimera_master.yaml",
        &format!("kind: parameter-server\nmodel_type: regressor\n{master_yaml}"),
    );
    dir
}

fn fit(cluster: &Cluster) -> (FitResponse, TrainingSummary) {
    let answer = cluster.client().fit(PS).expect("parameter-server fit");
    let training = answer.training.clone().expect("a training summary");
    (answer, training)
}

/// The trained model's R² on the held-out red-wine rows.
fn test_r2(cluster: &Cluster, dir: &TempDir) -> f64 {
    let (request, truth) = chimera_tests::test_split(dir);
    let truth: Vec<f64> = truth.iter().map(|v| v.parse().unwrap()).collect();
    let PredRows::Values(pred) = cluster.client().predict(PS, &request).unwrap().y_pred_rows else {
        panic!("values")
    };
    r2(&truth, &pred)
}

#[test]
fn ssp_with_staleness_zero_is_synchronous_sgd_bit_for_bit() {
    // Mini-batches too, so the workers' seeded draws must line up round by round.
    let common = "max_iter: 40\nbatch_size: 64\nrandom_state: 5\n";
    let sync_dir = experiment(common);
    let (_, sync) = fit(&Cluster::start(sync_dir.path()));
    let ssp_dir = experiment(&format!("{common}mode: ssp\nstaleness: 0\n"));
    let cluster = Cluster::start(ssp_dir.path());
    let (_, ssp) = fit(&cluster);
    assert_eq!(ssp.mode, "ssp");
    assert_eq!(ssp.weights, sync.weights, "the same weights, bit for bit");
    assert_eq!(ssp.bias, sync.bias);
    assert_eq!(ssp.loss_history, sync.loss_history);
    assert_eq!(ssp.rounds, 40);
    assert_eq!(
        ssp.staleness_histogram,
        Some(vec![80]),
        "every one of 2 x 40 gradients was fresh"
    );
    assert_eq!(sync.staleness_histogram, None);
    // The live status says the same.
    let status: serde_json::Value = cluster.client().get("/v1/chimera/status").unwrap().json().unwrap();
    assert_eq!(status["mode"], "ssp");
    assert_eq!(status["staleness_histogram"], serde_json::json!([80]));
}

#[test]
fn async_reaches_synchronous_quality_on_red_wine() {
    let sync_dir = experiment("max_iter: 200\n");
    let cluster = Cluster::start(sync_dir.path());
    fit(&cluster);
    let sync_r2 = test_r2(&cluster, &sync_dir);

    // Two workers, each update one worker's gradient at its share: 400 updates are about as
    // much work as 200 synchronous rounds.
    let async_dir = experiment("max_iter: 400\nmode: async\n");
    let cluster = Cluster::start(async_dir.path());
    let (_, training) = fit(&cluster);
    assert_eq!((training.mode.as_str(), training.rounds), ("async", 400));
    let histogram = training.staleness_histogram.expect("async records staleness");
    assert_eq!(histogram.iter().sum::<u64>(), 400, "one entry per applied gradient");
    let async_r2 = test_r2(&cluster, &async_dir);
    eprintln!("synchronous R² {sync_r2:.4}, async R² {async_r2:.4}, staleness {histogram:?}");
    assert!((async_r2 - sync_r2).abs() <= 0.01, "async {async_r2} vs sync {sync_r2}");
}

#[test]
fn async_outruns_a_straggler_and_ssp_bounds_how_far_it_runs_ahead() {
    let straggle = |dir: &TempDir| {
        dir.write(
            "chimera_workers/worker-2.yaml",
            "kind: sgd\nmodel_type: regressor\ndelay_ms: 20\n",
        );
    };
    let seconds = |yaml: &str| -> (f64, TrainingSummary) {
        let dir = experiment(yaml);
        straggle(&dir);
        let (answer, training) = fit(&Cluster::start(dir.path()));
        (answer.seconds.unwrap(), training)
    };
    let (sync, _) = seconds("max_iter: 30\n");
    let (free, training) = seconds("max_iter: 30\nmode: async\n");
    eprintln!("30 updates with a 20 ms straggler: gradient {sync:.3} s, async {free:.3} s");
    assert!(sync >= 1.5 * free, "gradient {sync} s, async {free} s");
    assert_eq!(training.rounds, 30);

    let (_, ssp) = seconds("max_iter: 30\nmode: ssp\nstaleness: 2\n");
    let histogram = ssp.staleness_histogram.unwrap();
    assert!(
        histogram.len() <= 3,
        "no gradient more than 2 updates stale: {histogram:?}"
    );
    assert!(histogram.len() == 3, "the fast worker did run ahead: {histogram:?}");
}
