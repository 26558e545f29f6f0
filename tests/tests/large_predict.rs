//! Large aggregation predicts: the master parses the client's JSON once and sends its workers
//! compact rows (`application/x-chimera-rows`) when the numbers take less room as f64 than as
//! text. The answer must be the one the small JSON path gives, row for row; a bad row must be
//! named by the master; and a worker must check a compact body as carefully as JSON.

use chimera_shared::api::{paths, PredictRequest, PredictResponse};
use chimera_shared::compact;
use chimera_tests::{Cluster, TempDir};

/// The held-out rows with long decimals (as numbers computed elsewhere arrive), repeated to
/// `n` rows: about 450 bytes of JSON a row, far above the master's 256 KiB inline limit.
fn long_rows(dir: &TempDir, n: usize) -> PredictRequest {
    let (test, _) = chimera_tests::test_split(dir);
    let rows = (0..n)
        .map(|i| {
            let row = &test.rows[i % test.rows.len()];
            row.iter().map(|v| v + (i as f64) * 1e-9 + 1.0 / 3.0 * 1e-7).collect()
        })
        .collect();
    PredictRequest {
        columns: test.columns,
        rows,
    }
}

#[test]
fn a_large_predict_through_compact_rows_answers_what_small_predicts_do() {
    let dir = TempDir::copy_of("bagging-classification");
    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").unwrap();
    let request = long_rows(&dir, 3000);
    let body = serde_json::to_vec(&request).unwrap();
    assert!(
        body.len() > 256 * 1024 && 3000 * request.columns.len() * 8 < body.len(),
        "a body the master sends as compact rows"
    );
    let large = client.predict("aggregation", &request).unwrap();
    assert!(large.failed_workers.is_empty(), "{:?}", large.failed_workers);
    // The same rows, 250 at a time: small bodies, forwarded as JSON.
    let mut small: Vec<Vec<f64>> = Vec::new();
    for chunk in request.rows.chunks(250) {
        let part = PredictRequest {
            columns: request.columns.clone(),
            rows: chunk.to_vec(),
        };
        small.extend(client.predict("aggregation", &part).unwrap().y_pred_proba.unwrap());
    }
    // The large answer is combined from sums in class order, the small one per answer: the
    // same numbers up to rounding (the rows themselves arrive bit for bit: see the worker test).
    let large = large.y_pred_proba.unwrap();
    assert_eq!(large.len(), small.len());
    for (i, (a, b)) in large.iter().zip(&small).enumerate() {
        assert!(
            a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12),
            "row {i}: {a:?} vs {b:?}"
        );
    }
}

#[test]
fn a_bad_row_in_a_large_predict_is_named_by_the_master() {
    let dir = TempDir::copy_of("bagging-classification");
    let cluster = Cluster::start(dir.path());
    let client = cluster.client();
    client.fit("aggregation").unwrap();
    let mut request = long_rows(&dir, 3000);
    request.rows[1700].pop();
    let answer = client
        .post_bytes(paths::AGGREGATION_PREDICT, &serde_json::to_vec(&request).unwrap())
        .unwrap();
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("X_pred_rows[1700] has 10 values"),
        "{}",
        answer.text()
    );
}

#[test]
fn a_worker_checks_compact_rows_as_carefully_as_json() {
    let dir = TempDir::copy_of("bagging-classification");
    let cluster = Cluster::start(dir.path());
    cluster.client().fit("aggregation").unwrap();
    let worker = cluster.worker("worker-1").client();
    let request = long_rows(&dir, 5);
    let body: chimera_shared::api::PredictBody =
        serde_json::from_slice(&serde_json::to_vec(&request).unwrap()).unwrap();
    let bytes = compact::encode_rows(&body);
    let post = |b: &[u8]| {
        worker
            .post_bytes_as(paths::MODEL_PREDICT, b, compact::ROWS_MEDIA_TYPE)
            .unwrap()
    };

    // Well formed: the JSON answer for the same rows.
    let answer: PredictResponse = post(&bytes).json().unwrap();
    let json: PredictResponse = worker
        .post_json(paths::MODEL_PREDICT, &request)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer.y_pred_proba, json.y_pred_proba);

    // Cut short, a lying header, a number that is not finite, an unknown column.
    let short = post(&bytes[..bytes.len() - 8]);
    assert_eq!(short.status, 400);
    assert!(short.text().contains("bytes of numbers"), "{}", short.text());
    let lying = post(
        &[
            b"{\"X_pred_columns\": [], \"n_rows\": 99999999999, \"width\": 99999999999}\n".as_slice(),
            &[0; 16],
        ]
        .concat(),
    );
    assert_eq!(lying.status, 400, "{}", lying.text());
    let mut nan = body.clone();
    nan.rows.values[3] = f64::NAN;
    let not_finite = post(&compact::encode_rows(&nan));
    assert_eq!(not_finite.status, 400);
    assert!(not_finite.text().contains("X_pred_rows[0][3]"), "{}", not_finite.text());
    let mut unknown = body;
    unknown.columns[0] = "no such column".into();
    assert_eq!(post(&compact::encode_rows(&unknown)).status, 400);
}
