//! State survives `kill -9`: after the master or a worker is killed and `cargo xtask up` starts
//! it again, predictions are identical, and a fit cut short by the master's death is reported
//! as failed.

use chimera_shared::api::PredictResponse;
use chimera_shared::client::Client;
use chimera_tests::{xtask, Down, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn kill9(dir: &Path, node: &str) {
    let pid = std::fs::read_to_string(dir.join(format!(".chimera/local/{node}.pid"))).unwrap();
    let ok = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -9 {node}");
    // Wait until it is gone, so `up` sees it dead.
    for _ in 0..200 {
        if !Path::new(&format!("/proc/{}", pid.trim())).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|s| s.contains(") Z"))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn up(dir: &Path) -> String {
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir);
    assert!(ok, "{out}");
    out
}

/// The bagging example as local processes, fitted; stopped when the guard drops.
fn fitted_bagging(dir: &TempDir) -> (Down<'_>, Client) {
    let p = chimera_tests::local_env(dir, 3, "");
    let down = Down(dir.path());
    up(dir.path());
    let client = Client::new(format!("http://127.0.0.1:{}", p[3]), Duration::from_secs(60));
    client.fit("aggregation").unwrap();
    (down, client)
}

fn predict(client: &Client, kind: &str, dir: &TempDir) -> PredictResponse {
    let (request, _) = chimera_tests::test_split(dir);
    client.predict(kind, &request).unwrap()
}

#[test]
fn after_kill_9_of_the_master_and_a_worker_bagging_predictions_are_identical() {
    let dir = TempDir::copy_of("bagging-classification");
    let (_down, client) = fitted_bagging(&dir);
    let before = predict(&client, "aggregation", &dir);

    kill9(dir.path(), "master");
    kill9(dir.path(), "worker-2");
    let out = up(dir.path());
    assert!(out.contains("2 node(s) started"), "{out}");
    let after = predict(&client, "aggregation", &dir);
    assert!(after.failed_workers.is_empty(), "{after:?}");
    assert_eq!(after, before, "the same predictions, bit for bit");
    let status: Value = client.get("/v1/chimera/status").unwrap().ok().unwrap();
    assert_eq!(status["state"], "fitted");
    let log = std::fs::read_to_string(dir.path().join("logs/worker-2/chimera_status.log")).unwrap();
    assert!(log.contains("loaded the fitted model saved by an earlier run"), "{log}");
}

#[test]
fn after_kill_9_the_parameter_server_serves_its_model_and_reports_an_interrupted_fit() {
    let dir = TempDir::copy_of("sgd-regression");
    let p = chimera_tests::local_env(&dir, 2, "");
    // Long enough to be killed in the middle: 1,500 rounds of at least 2 ms.
    chimera_tests::slow_sgd_fit(&dir, 1500);
    let _down = Down(dir.path());
    up(dir.path());
    let client = Client::new(format!("http://127.0.0.1:{}", p[2]), Duration::from_secs(300));
    client.fit("parameter-server").unwrap();
    let before = predict(&client, "parameter-server", &dir);

    kill9(dir.path(), "master");
    up(dir.path());
    assert_eq!(predict(&client, "parameter-server", &dir), before, "the model survived");

    // A fit in progress when the master dies is reported failed; the earlier model stays.
    let fit = {
        let client = client.clone();
        std::thread::spawn(move || client.fit("parameter-server"))
    };
    std::thread::sleep(Duration::from_millis(800));
    kill9(dir.path(), "master");
    assert!(fit.join().unwrap().is_err(), "the client saw the fit fail");
    up(dir.path());
    let status: Value = client.get("/v1/chimera/status").unwrap().ok().unwrap();
    assert_eq!(status["state"], "failed", "{status}");
    assert!(
        status["stop_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("interrupted"),
        "{status}"
    );
    assert_eq!(
        predict(&client, "parameter-server", &dir),
        before,
        "the last good model is served"
    );
    // A new fit clears it.
    client.fit("parameter-server").unwrap();
    let status: Value = client.get("/v1/chimera/status").unwrap().ok().unwrap();
    assert_eq!(status["state"], "fitted");
}

#[test]
fn a_saved_model_of_other_data_is_not_served() {
    let dir = TempDir::copy_of("bagging-classification");
    let (_down, client) = fitted_bagging(&dir);
    // worker-3 gets other data: its saved model no longer fits it, so it starts unfitted.
    let y = dir.path().join("chimera_train_data/worker-3/y_train.csv");
    let text = std::fs::read_to_string(&y).unwrap();
    std::fs::write(&y, text.replacen("good", "bad", 5)).unwrap();
    up(dir.path());
    let answer = predict(&client, "aggregation", &dir);
    assert_eq!(answer.failed_workers.len(), 1, "{answer:?}");
    assert_eq!(answer.failed_workers[0].name, "worker-3");
    assert!(answer.failed_workers[0].error.contains("not_fitted"), "{answer:?}");
}
