//! `cargo xtask up --local` and `down` with the real binaries: processes on 127.0.0.1,
//! idempotent restarts of what is missing, dead or changed, and nothing left behind.

use chimera_shared::api::PredictRequest;
use chimera_shared::client::Client;
use chimera_tests::{xtask, Csv, Down, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn pids(dir: &Path) -> Vec<i32> {
    let state = dir.join(".chimera/local");
    let mut out = Vec::new();
    for e in std::fs::read_dir(state).into_iter().flatten().flatten() {
        if e.path().extension().is_some_and(|x| x == "pid") {
            out.push(std::fs::read_to_string(e.path()).unwrap().trim().parse().unwrap());
        }
    }
    out
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with(['Z', 'X']))
    })
}

#[test]
fn up_is_idempotent_restarts_what_changed_and_down_leaves_nothing() {
    let dir = TempDir::copy_of("bagging-classification");
    let p = chimera_tests::local_env(&dir, 3, "");
    let _down = Down(dir.path());

    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");
    assert!(out.contains("4 node(s) started"), "{out}");

    let client = Client::new(format!("http://127.0.0.1:{}", p[3]), Duration::from_secs(60));
    client.fit("aggregation").expect("fit");
    let x = Csv::read(&dir.path().join("test/X_test.csv"));
    let answer = client
        .predict(
            "aggregation",
            &PredictRequest {
                columns: x.header.clone(),
                rows: x.numbers(),
            },
        )
        .expect("predict");
    assert_eq!(answer.y_pred_rows.len(), x.rows.len());

    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok && out.contains("0 node(s) started, 4 already running"), "{out}");

    // A dead worker is started again, and only it.
    let w2: i32 = std::fs::read_to_string(dir.path().join(".chimera/local/worker-2.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe_kill(w2);
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok && out.contains("1 node(s) started"), "{out}");

    // A changed spec restarts its worker and the master (which reads every spec).
    dir.write(
        "chimera_workers/worker-3.yaml",
        "kind: classification\nmodel: logistic_regression\nparams: {max_iter: 200}\n",
    );
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok && out.contains("2 node(s) started"), "{out}");
    client.fit("aggregation").expect("fit again");

    let before = pids(dir.path());
    assert_eq!(before.len(), 4);
    let (ok, out) = xtask(&["down"], dir.path());
    assert!(ok && out.contains("stopped 4 node(s)"), "{out}");
    assert!(before.iter().all(|&pid| !alive(pid)), "every process is gone");
    assert!(!client.healthy());
}

#[test]
fn a_worker_that_cannot_start_is_reported_with_its_error() {
    let dir = TempDir::copy_of("hybrid-regression");
    chimera_tests::local_env(&dir, 3, "");
    dir.write("chimera_train_data/worker-2/X_train.csv", "a,b\n1,2\n");
    let _down = Down(dir.path());
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(!ok, "{out}");
    assert!(
        out.contains("worker-2 exited at start-up") && out.contains("X_train.csv"),
        "{out}"
    );
}

fn unsafe_kill(pid: i32) {
    let status = Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    for _ in 0..200 {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{pid} did not die");
}

#[test]
fn xtask_fit_predict_and_status_speak_to_a_running_experiment() {
    let dir = TempDir::copy_of("sgd-classification");
    chimera_tests::local_env(&dir, 2, "");
    let _down = Down(dir.path());
    let (ok, out) = xtask(&["status"], dir.path());
    assert!(
        !ok && out.contains("cargo xtask up"),
        "a stopped experiment says how to start it: {out}"
    );
    let (ok, out) = xtask(&["up", "--local", "--no-build"], dir.path());
    assert!(ok, "{out}");

    let (ok, out) = xtask(&["fit"], dir.path());
    assert!(ok, "{out}");
    assert!(
        out.contains("200 rounds, stopped by max_iter") && out.contains("worker-1") && out.contains("worker-2"),
        "{out}"
    );

    let csv_out = dir.path().join("predictions.csv");
    let test_x = dir.path().join("test/X_test.csv");
    let out = Command::new(chimera_tests::bin("xtask"))
        .args(["predict", "--dir"])
        .arg(dir.path())
        .arg("--csv")
        .arg(&test_x)
        .arg("--out")
        .arg(&csv_out)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let predictions = Csv::read(&csv_out);
    assert_eq!(predictions.header, ["y_pred", "proba_bad", "proba_good"]);
    assert_eq!(predictions.rows.len(), 320);
    assert!(predictions.rows.iter().all(|r| r[0] == "good" || r[0] == "bad"));

    let (ok, out) = xtask(&["status"], dir.path());
    assert!(ok, "{out}");
    assert!(out.contains("state fitted") && out.contains("round 200/200"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("worker-") && l.contains(" yes "))
            .count(),
        2,
        "{out}"
    );
}
