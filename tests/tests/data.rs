//! `cargo xtask data`: shards written where an experiment reads them, seeded, with the topology
//! and specs following a new worker count, and the experiment then fits on them.

use chimera_tests::{Cluster, Csv, TempDir};
use std::path::Path;

fn data(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut all = vec!["data"];
    all.extend_from_slice(args);
    chimera_tests::xtask(&all, dir)
}

/// Four workers' red-wine shards with Dirichlet label skew (alpha 0.3) for a seed.
fn dirichlet_shards(dir: &Path, seed: &str) -> (bool, String) {
    data(
        dir,
        &[
            "--from",
            "red-wine",
            "--workers",
            "4",
            "--split",
            "dirichlet",
            "--alpha",
            "0.3",
            "--seed",
            seed,
        ],
    )
}

fn shard_bytes(dir: &Path, workers: usize) -> Vec<Vec<u8>> {
    (1..=workers)
        .flat_map(|i| {
            let d = dir.join(format!("chimera_train_data/worker-{i}"));
            ["X_train.csv", "y_train.csv"].map(|f| std::fs::read(d.join(f)).unwrap())
        })
        .chain([std::fs::read(dir.join("test/y_test.csv")).unwrap()])
        .collect()
}

#[test]
fn dirichlet_shards_are_seeded_and_the_experiment_follows_the_worker_count() {
    let dir = TempDir::copy_of("bagging-classification");
    let (ok, out) = dirichlet_shards(dir.path(), "7");
    assert!(ok, "{out}");
    // One line per worker with its rows and labels, and the test split.
    for name in ["worker-1", "worker-2", "worker-3", "worker-4", "test"] {
        assert!(out.contains(&format!("{name}: ")), "{out}");
    }
    assert!(
        out.contains("CHIMERA_WORKERS_NODES_NAMES now names 4 worker(s) (it named 3)"),
        "{out}"
    );
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert!(
        env.contains(r#"CHIMERA_WORKERS_NODES_NAMES='["worker-1", "worker-2", "worker-3", "worker-4"]'"#),
        "{env}"
    );
    assert!(
        env.contains("CHIMERA_WORKERS_MAPPED_PORTS='[8101, 8102, 8103, 8104]'"),
        "{env}"
    );
    assert!(dir.path().join("chimera_workers/worker-4.yaml").exists());

    // Every row of the 1,599 once: the shards plus the held-out 20%.
    let rows: usize = (1..=4)
        .map(|i| {
            Csv::read(&dir.path().join(format!("chimera_train_data/worker-{i}/y_train.csv")))
                .rows
                .len()
        })
        .sum();
    let test = Csv::read(&dir.path().join("test/y_test.csv")).rows.len();
    assert_eq!((rows, test), (1279, 320));

    // The same seed writes the same bytes; another seed other shards.
    let first = shard_bytes(dir.path(), 4);
    let (ok, out) = dirichlet_shards(dir.path(), "7");
    assert!(ok, "{out}");
    assert_eq!(first, shard_bytes(dir.path(), 4));
    let (ok, out) = dirichlet_shards(dir.path(), "8");
    assert!(ok, "{out}");
    assert_ne!(first, shard_bytes(dir.path(), 4));

    // Back to two workers: the others' specs and data go, and the experiment fits.
    let (ok, out) = data(
        dir.path(),
        &["--from", "red-wine", "--workers", "2", "--split", "by-label"],
    );
    assert!(ok, "{out}");
    assert!(!dir.path().join("chimera_workers/worker-3.yaml").exists());
    assert!(!dir.path().join("chimera_train_data/worker-4").exists());
    let cluster = Cluster::start(dir.path());
    let fit = cluster.client().fit("aggregation").expect("fit on the new shards");
    assert_eq!(fit.workers.len(), 2);
}

#[test]
fn a_folder_of_csv_files_is_split_too() {
    let dir = TempDir::copy_of("sgd-regression");
    let from = chimera_tests::workspace_root().join("tests/data/winequality_red");
    let (ok, out) = data(
        dir.path(),
        &[
            "--from",
            from.to_str().unwrap(),
            "--workers",
            "2",
            "--split",
            "contiguous",
            "--test-fraction",
            "0",
        ],
    );
    assert!(ok, "{out}");
    assert!(!dir.path().join("test").exists(), "no test split asked for");
    // Contiguous: worker-1 holds the file's first rows, in order.
    let source = Csv::read(&from.join("X_train.csv"));
    let w1 = Csv::read(&dir.path().join("chimera_train_data/worker-1/X_train.csv"));
    assert_eq!(w1.header, source.header);
    assert_eq!(w1.rows[..5], source.rows[..5]);
    let cluster = Cluster::start(dir.path());
    cluster
        .client()
        .fit("parameter-server")
        .expect("fit on the contiguous shards");
}

#[test]
fn bad_arguments_say_what_to_do() {
    let dir = TempDir::copy_of("hybrid-regression");
    for (args, needle) in [
        (
            vec!["--from", "mnist", "--workers", "2", "--split", "iid"],
            "neither a folder nor a bundled dataset (red-wine, iris, diabetes)",
        ),
        (
            vec!["--from", "red-wine", "--workers", "2", "--split", "iid", "--alpha", "1"],
            "--alpha applies to --split dirichlet only",
        ),
        (
            vec![
                "--from",
                "red-wine",
                "--workers",
                "2",
                "--split",
                "dirichlet",
                "--alpha",
                "0",
            ],
            "--alpha 0 is invalid",
        ),
        (
            vec!["--from", "red-wine", "--workers", "0", "--split", "iid"],
            "--workers 0 is invalid",
        ),
        (
            vec!["--from", "iris", "--workers", "200", "--split", "iid"],
            "use fewer --workers",
        ),
        (
            vec![
                "--from",
                "red-wine",
                "--workers",
                "2",
                "--split",
                "iid",
                "--test-fraction",
                "1",
            ],
            "--test-fraction 1 is invalid",
        ),
    ] {
        let (ok, out) = data(dir.path(), &args);
        assert!(!ok && out.contains(needle), "{args:?}: {out}");
    }
    // Nothing was changed by the refused commands.
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert!(env.contains(r#"'["worker-1", "worker-2", "worker-3"]'"#), "{env}");
}
