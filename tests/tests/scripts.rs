//! The shell scripts in `scripts/` against a live local experiment, run with bash exactly as a
//! curl user runs them: fit, predict from a CSV row, status, metrics and (with wrk) load.

use chimera_tests::{workspace_root, xtask, Down, TempDir};
use std::path::Path;
use std::process::Command;

/// Runs `scripts/NAME EXP ARGS...`; returns success, stdout and stderr.
fn script(name: &str, exp: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("bash")
        .arg(workspace_root().join("scripts").join(name))
        .arg(exp)
        .args(args)
        .env_remove("CHIMERA_URL")
        .output()
        .expect("run bash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A copy of an example with its `workers` on free ports, started as local processes.
fn live(example: &str, workers: usize) -> TempDir {
    let dir = TempDir::copy_of(example);
    chimera_tests::local_env(&dir, workers, "");
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    if !ok {
        drop(Down(dir.path()));
        panic!("{out}");
    }
    dir
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn scripts_drive_a_live_aggregation_experiment() {
    let dir = live("bagging-classification", 3);
    let _down = Down(dir.path());

    let (ok, out, err) = script("fit.sh", dir.path(), &[]);
    assert!(ok, "{out}{err}");
    let fit = json(&out);
    assert_eq!(fit["fit"], "ok");
    assert_eq!(fit["workers"].as_array().map(Vec::len), Some(3));

    let (ok, out, err) = script("predict.sh", dir.path(), &[]);
    assert!(ok, "{out}{err}");
    let answer = json(&out);
    assert_eq!(answer["y_pred_rows"].as_array().map(Vec::len), Some(1), "{out}");
    let label = answer["y_pred_labels"][0].as_str().unwrap_or_default();
    assert!(label == "good" || label == "bad", "{out}");
    let (ok, out, _) = script("predict.sh", dir.path(), &["", "5"]);
    assert!(ok, "an empty CSV argument means the default: {out}");

    let (ok, _, err) = script("predict.sh", dir.path(), &["", "0"]);
    assert!(!ok && err.contains("ROW=0 is invalid"), "{err}");
    let (ok, _, err) = script("predict.sh", dir.path(), &["", "100000"]);
    assert!(!ok && err.contains("no data row 100000"), "{err}");

    let (ok, out, err) = script("status.sh", dir.path(), &[]);
    assert!(ok, "{err}");
    let status = json(&out);
    assert_eq!(status["kind"], "aggregation");
    assert_eq!(status["state"], "fitted");

    let (ok, out, err) = script(
        "metrics.sh",
        dir.path(),
        &["chimera_worker_call_duration_seconds_count"],
    );
    assert!(ok, "{err}");
    assert!(out.lines().count() >= 3, "a count per worker: {out}");
    let (ok, _, err) = script("metrics.sh", dir.path(), &["no_such_metric"]);
    assert!(!ok && err.contains("no metric matches"), "{err}");

    let has_wrk = Command::new("wrk").arg("--version").output().is_ok();
    let (ok, out, err) = script("load.sh", dir.path(), &["4", "1"]);
    if has_wrk {
        assert!(ok, "{out}{err}");
        assert!(out.contains("Requests/sec"), "{out}");
        assert!(out.contains("non-2xx or failed: 0"), "{out}");
    } else {
        eprintln!("NOTICE scripts/load.sh not measured: wrk is not installed (apt-get install wrk)");
        assert!(!ok && err.contains("apt-get install wrk"), "{err}");
    }
}

#[test]
fn scripts_find_the_parameter_server_and_name_a_wrong_folder() {
    let dir = live("sgd-regression", 2);
    let _down = Down(dir.path());

    let (ok, out, err) = script("fit.sh", dir.path(), &[]);
    assert!(ok, "{out}{err}");
    assert_eq!(json(&out)["training"]["stop_reason"], "max_iter");
    let (ok, out, err) = script("predict.sh", dir.path(), &[]);
    assert!(ok, "{err}");
    assert!(json(&out)["y_pred_rows"][0].is_f64(), "{out}");

    let (ok, _, err) = script("status.sh", Path::new("/nonexistent"), &[]);
    assert!(!ok && err.contains("is not an experiment folder"), "{err}");
}
