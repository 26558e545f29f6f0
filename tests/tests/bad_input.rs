//! Client mistakes answer a 4xx in the seed's error shape naming what was wrong; bad
//! experiments stop start-up with exit status 2 and one line naming the file, row or column.

use chimera_shared::api::PredictResponse;
use chimera_shared::client::{Answer, Client};
use chimera_shared::error::ErrorBody;
use chimera_tests::{bin, Cluster, Csv, TempDir};
use serde_json::json;
use std::process::Command;

const PREDICT: &str = "/v1/chimera/aggregation/predict";
const WORKER_PREDICT: &str = "/v1/chimera/model/predict";

/// Asserts the seed's error shape, the status and the stable code; returns the message.
fn expect_error(answer: &Answer, status: u16, code: &str) -> String {
    assert_eq!(answer.status, status, "{}", answer.text());
    let body: ErrorBody = answer.json().expect("the seed's error shape");
    assert_eq!(body.details.error_code, status);
    assert_eq!(body.details.error_message, code, "{}", body.message);
    body.message
}

fn wine_request() -> (Vec<String>, Vec<Vec<f64>>) {
    let x = Csv::read(&chimera_tests::example("hybrid-regression").join("test/X_test.csv"));
    (x.header.clone(), x.numbers()[..3].to_vec())
}

fn fitted() -> (TempDir, Cluster) {
    let dir = TempDir::copy_of("hybrid-regression");
    let cluster = Cluster::start(dir.path());
    cluster.client().fit("aggregation").expect("fit");
    (dir, cluster)
}

/// Every check runs against the master and against a worker directly.
fn both(cluster: &Cluster) -> [(Client, &'static str); 2] {
    [
        (cluster.client(), PREDICT),
        (cluster.worker("worker-1").client(), WORKER_PREDICT),
    ]
}

#[test]
fn predict_before_fit_is_409_on_master_and_worker() {
    let dir = TempDir::copy_of("hybrid-regression");
    let cluster = Cluster::start(dir.path());
    let (columns, rows) = wine_request();
    for (client, path) in both(&cluster) {
        let a = client
            .post_json(path, &json!({"X_pred_columns": columns, "X_pred_rows": rows}))
            .unwrap();
        let msg = expect_error(&a, 409, "not_fitted");
        assert!(msg.contains("fit"), "{msg}");
    }
}

#[test]
fn malformed_json_and_wrong_shapes_are_400() {
    let (_dir, cluster) = fitted();
    for (client, path) in both(&cluster) {
        expect_error(
            &client.post_bytes(path, b"{\"X_pred_columns\": [").unwrap(),
            400,
            "invalid_json",
        );
        expect_error(&client.post_bytes(path, b"").unwrap(), 400, "invalid_json");
        let msg = expect_error(
            &client.post_json(path, &json!({"X_pred_rows": [[1.0]]})).unwrap(),
            400,
            "invalid_request",
        );
        assert!(msg.contains("X_pred_columns"), "{msg}");
        let msg = expect_error(
            &client
                .post_json(path, &json!({"X_pred_columns": "a", "X_pred_rows": [[1.0]]}))
                .unwrap(),
            400,
            "invalid_request",
        );
        assert!(msg.contains("X_pred_columns"), "{msg}");
    }
}

#[test]
fn bad_values_are_named_by_row_and_column() {
    let (_dir, cluster) = fitted();
    let (columns, rows) = wine_request();
    for (client, path) in both(&cluster) {
        let mut with_null = json!({"X_pred_columns": columns, "X_pred_rows": rows});
        with_null["X_pred_rows"][1][2] = serde_json::Value::Null;
        let msg = expect_error(&client.post_json(path, &with_null).unwrap(), 400, "invalid_request");
        assert!(msg.contains("X_pred_rows[1][2]") && msg.contains("null"), "{msg}");

        let mut with_text = json!({"X_pred_columns": columns, "X_pred_rows": rows});
        with_text["X_pred_rows"][0][0] = json!("seven");
        let msg = expect_error(&client.post_json(path, &with_text).unwrap(), 400, "invalid_request");
        assert!(msg.contains("X_pred_rows[0][0]"), "{msg}");

        // JSON has no NaN or infinity; a number too large for f64 is refused too.
        let huge = format!(
            "{{\"X_pred_columns\": [\"{}\"], \"X_pred_rows\": [[1e999]]}}",
            columns[0]
        );
        expect_error(&client.post_bytes(path, huge.as_bytes()).unwrap(), 400, "invalid_json");
    }
}

#[test]
fn zero_rows_and_ragged_rows_are_400() {
    let (_dir, cluster) = fitted();
    let (columns, rows) = wine_request();
    for (client, path) in both(&cluster) {
        let a = client
            .post_json(path, &json!({"X_pred_columns": columns, "X_pred_rows": []}))
            .unwrap();
        expect_error(&a, 400, "empty_rows");
        let mut ragged = rows.clone();
        ragged[2].pop();
        let a = client
            .post_json(path, &json!({"X_pred_columns": columns, "X_pred_rows": ragged}))
            .unwrap();
        let msg = expect_error(&a, 400, "row_length");
        assert!(
            msg.contains("X_pred_rows[2] has 10 values") && msg.contains("names 11"),
            "{msg}"
        );
    }
}

#[test]
fn missing_and_unknown_columns_are_named_and_order_does_not_matter() {
    let (_dir, cluster) = fitted();
    let (columns, rows) = wine_request();
    for (client, path) in both(&cluster) {
        // Drop "alcohol".
        let at = columns.iter().position(|c| c == "alcohol").expect("wine has alcohol");
        let cols: Vec<&String> = columns.iter().filter(|c| *c != "alcohol").collect();
        let r: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|(j, _)| *j != at)
                    .map(|(_, v)| *v)
                    .collect()
            })
            .collect();
        let msg = expect_error(
            &client
                .post_json(path, &json!({"X_pred_columns": cols, "X_pred_rows": r}))
                .unwrap(),
            400,
            "missing_column",
        );
        assert!(msg.contains("\"alcohol\""), "{msg}");

        let mut renamed = columns.clone();
        renamed[0] = "colour".into();
        let msg = expect_error(
            &client
                .post_json(path, &json!({"X_pred_columns": renamed, "X_pred_rows": rows}))
                .unwrap(),
            400,
            "unknown_column",
        );
        assert!(msg.contains("\"colour\""), "{msg}");

        // The same request with columns reversed, upper-cased and padded: the same answer.
        let straight = client
            .post_json(path, &json!({"X_pred_columns": columns, "X_pred_rows": rows}))
            .unwrap();
        let rev_cols: Vec<String> = columns
            .iter()
            .rev()
            .map(|c| format!(" {} ", c.to_uppercase()))
            .collect();
        let rev_rows: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().rev().copied().collect()).collect();
        let reversed = client
            .post_json(path, &json!({"X_pred_columns": rev_cols, "X_pred_rows": rev_rows}))
            .unwrap();
        assert_eq!(straight.status, 200, "{}", straight.text());
        assert_eq!(
            straight.json::<serde_json::Value>().unwrap(),
            reversed.json::<serde_json::Value>().unwrap()
        );
    }
}

#[test]
fn fit_bodies_unknown_paths_and_wrong_kinds() {
    let (_dir, cluster) = fitted();
    let client = cluster.client();
    assert_eq!(
        client.post_bytes("/v1/chimera/aggregation/fit", b"{}").unwrap().status,
        200
    );
    expect_error(
        &client.post_bytes("/v1/chimera/aggregation/fit", b"[1, 2]").unwrap(),
        400,
        "invalid_request",
    );
    expect_error(
        &client.post_bytes("/v1/chimera/aggregation/fit", b"{oops").unwrap(),
        400,
        "invalid_json",
    );
    let msg = expect_error(&client.get("/v1/chimera/nothing").unwrap(), 404, "not_found");
    assert!(msg.contains("/v1/chimera/nothing"), "{msg}");
    let msg = expect_error(
        &client.post_bytes("/v1/chimera/parameter-server/fit", b"").unwrap(),
        409,
        "wrong_kind",
    );
    assert!(msg.contains("kind: aggregation"), "{msg}");
}

/// A fitted `hybrid-regression` cluster whose nodes take bodies of at most 2048 bytes, and
/// the example's test features.
fn fitted_with_2048_byte_bodies() -> (TempDir, Cluster, Csv) {
    let dir = TempDir::copy_of("hybrid-regression");
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    dir.write(".env", &format!("{env}CHIMERA_MAX_BODY_BYTES=2048\n"));
    let cluster = Cluster::start(dir.path());
    cluster.client().fit("aggregation").unwrap();
    let x = Csv::read(&dir.path().join("test/X_test.csv"));
    (dir, cluster, x)
}

#[test]
fn a_body_over_the_limit_is_413() {
    let (_dir, cluster, x) = fitted_with_2048_byte_bodies();
    let a = cluster
        .client()
        .post_json(
            PREDICT,
            &json!({"X_pred_columns": x.header, "X_pred_rows": x.numbers()}),
        )
        .unwrap();
    let msg = expect_error(&a, 413, "payload_too_large");
    assert!(msg.contains("CHIMERA_MAX_BODY_BYTES"), "{msg}");
}

#[test]
fn a_body_under_the_limit_is_answered_even_when_its_numbers_take_more_room_as_f64() {
    // 2048 bytes: short numbers that fit as text, while their f64s (8 bytes each) would not
    // fit in a worker's body. The master sends such a predict on as the JSON it came as.
    let (_dir, cluster, x) = fitted_with_2048_byte_bodies();
    let rows: Vec<Vec<u8>> = (0..30).map(|i| vec![i % 10; x.header.len()]).collect();
    let body = json!({"X_pred_columns": x.header, "X_pred_rows": rows});
    let text = body.to_string();
    assert!(
        text.len() < 2048 && 30 * x.header.len() * 8 > 2048,
        "{} bytes",
        text.len()
    );
    let a = cluster.client().post_json(PREDICT, &body).unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    let answer: PredictResponse = a.json().unwrap();
    assert_eq!(answer.y_pred_rows.len(), 30);
    assert!(answer.failed_workers.is_empty(), "{:?}", answer.failed_workers);
}

// ------------------------------------------------------------------------------------------
// Start-up: the real binaries, exit status 2 and one line naming what is wrong.
// ------------------------------------------------------------------------------------------

/// Runs a worker that should refuse to start. One that starts after all (it would serve until
/// killed) is stopped after 20 s, and its status then shows it did not exit on its own.
fn start_worker(dir: &TempDir, name: &str) -> (i32, String) {
    let mut child = Command::new(bin("chimera-worker"))
        .env("CHIMERA_EXPERIMENT_DIR", dir.path())
        .env("CHIMERA_NODE_NAME", name)
        .env("CHIMERA_LISTEN_HOST", "127.0.0.1")
        .env(
            "CHIMERA_LISTEN_PORT",
            chimera_tests::fresh_listener().local_addr().unwrap().port().to_string(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the worker");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("the worker's output");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    (out.status.code().unwrap_or(-1), stderr)
}

fn assert_startup_error(dir: &TempDir, name: &str, needles: &[&str]) {
    let (code, stderr) = start_worker(dir, name);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{stderr:?} should name {n:?}");
    }
}

const W1: &str = "chimera_train_data/worker-1";

#[test]
fn bad_training_files_stop_the_worker_naming_file_row_and_column() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("X_train.csv", "a,b\n1,2\n3\n", &["X_train.csv", "line 3 has 1 fields"]),
        (
            "X_train.csv",
            "a,b\n1,2\n3,x\n",
            &["X_train.csv", "line 3", "column \"b\"", "\"x\" is not a number"],
        ),
        (
            "X_train.csv",
            "a,b\n1,\n3,4\n",
            &["X_train.csv", "line 2", "column \"b\"", "empty"],
        ),
        ("X_train.csv", "", &["X_train.csv", "is empty"]),
        (
            "X_train.csv",
            "a,b\n1,2\n",
            &["X_train.csv", "has 1 rows", "y_train.csv"],
        ),
    ];
    for (file, text, needles) in cases {
        let dir = TempDir::copy_of("hybrid-regression");
        dir.write(&format!("{W1}/{file}"), text);
        assert_startup_error(&dir, "worker-1", needles);
    }
    let dir = TempDir::copy_of("hybrid-regression");
    std::fs::remove_file(dir.path().join(W1).join("y_train.csv")).unwrap();
    assert_startup_error(&dir, "worker-1", &["y_train.csv", "does not exist"]);
}

#[test]
fn experiment_mistakes_stop_start_up() {
    let dir = TempDir::copy_of("hybrid-regression");
    std::fs::remove_file(dir.path().join("chimera_workers/worker-2.yaml")).unwrap();
    assert_startup_error(&dir, "worker-1", &["chimera_workers/worker-2.yaml", "does not exist"]);

    let dir = TempDir::copy_of("hybrid-regression");
    dir.write(
        "chimera_workers/worker-9.yaml",
        "kind: regression\nmodel: decision_tree\n",
    );
    assert_startup_error(
        &dir,
        "worker-1",
        &["worker-9.yaml", "not in CHIMERA_WORKERS_NODES_NAMES"],
    );

    // A worker needs its own data; it does not read (and, on a cluster, does not get) the
    // others', so only worker-3 stops on a missing worker-3 folder.
    let dir = TempDir::copy_of("hybrid-regression");
    std::fs::remove_dir_all(dir.path().join("chimera_train_data/worker-3")).unwrap();
    assert_startup_error(&dir, "worker-3", &["chimera_train_data/worker-3", "does not exist"]);

    let dir = TempDir::copy_of("hybrid-regression");
    dir.write(
        "chimera_workers/worker-1.yaml",
        "kind: regression\nmodel: decision_tree\nparams: {max_depth: 0}\n",
    );
    assert_startup_error(
        &dir,
        "worker-1",
        &["chimera_workers/worker-1.yaml", "params.max_depth", "integer >= 1"],
    );

    let dir = TempDir::copy_of("hybrid-regression");
    assert_startup_error(&dir, "worker-7", &["CHIMERA_NODE_NAME", "worker-7"]);

    let dir = TempDir::copy_of("hybrid-regression");
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    dir.write(".env", &format!("{env}CHIMERA_WORKERS_ENDPOINTS_TIMEOUT=soon\n"));
    assert_startup_error(
        &dir,
        "worker-1",
        &["CHIMERA_WORKERS_ENDPOINTS_TIMEOUT=\"soon\"", "seconds"],
    );
}

#[test]
fn the_master_binary_names_a_bad_variable() {
    let dir = TempDir::copy_of("hybrid-regression");
    let out = Command::new(bin("chimera-master"))
        .env("CHIMERA_EXPERIMENT_DIR", dir.path())
        .env("CHIMERA_NETWORK_SUBNET_MASK", "40")
        .output()
        .expect("run the master");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("CHIMERA_NETWORK_SUBNET_MASK=\"40\"") && stderr.contains("from 0 to 32"),
        "{stderr}"
    );
}
