//! Every worker model against scikit-learn on the same red-wine split: the reference figures
//! come from `scripts/sklearn_reference.py` (run by hand; its output is committed as
//! `tests/data/sklearn_reference.json`, with the library versions), and each model here must
//! reach its reference within 0.03 R² (regression) or 2 accuracy points (classification).

use chimera_shared::api::{Label, PredRows};
use chimera_shared::config::spec::parse_worker;
use chimera_shared::config::{TaskKind, WorkerKind};
use chimera_tests::{workspace_root, Csv, TempDir};
use chimera_worker::data::{self, Target};
use chimera_worker::ml;
use ndarray::Array2;
use std::path::Path;

/// The split as a worker reads it: quality for regression, `good` (>= 6) or `bad` labels.
fn split(task: TaskKind, dir: &TempDir) -> (data::Dataset, Array2<f64>, Vec<String>) {
    let src = workspace_root().join("tests/data/winequality_red");
    let relabel = |path: &Path| -> String {
        let csv = Csv::read(path);
        let mut out = String::from("y\n");
        for row in &csv.rows {
            let q: f64 = row[0].parse().unwrap();
            out.push_str(match task {
                TaskKind::Regression => &row[0],
                TaskKind::Classification => {
                    if q >= 6.0 {
                        "good"
                    } else {
                        "bad"
                    }
                }
            });
            out.push('\n');
        }
        out
    };
    dir.write(
        "train/X_train.csv",
        &std::fs::read_to_string(src.join("X_train.csv")).unwrap(),
    );
    dir.write("train/y_train.csv", &relabel(&src.join("y_train.csv")));
    let train = data::load(&dir.path().join("train"), task).expect("the split loads");
    let x = Csv::read(&src.join("X_test.csv"));
    let rows = x.numbers();
    let x_test = Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j]);
    let truth: Vec<String> = relabel(&src.join("y_test.csv"))
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    (train, x_test, truth)
}

#[test]
fn every_model_is_within_reach_of_scikit_learn() {
    let text = std::fs::read_to_string(workspace_root().join("tests/data/sklearn_reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 11, "the fixture covers every model");
    let dir = TempDir::new("sklearn-parity");
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for case in cases {
        let task = case["task"].as_str().unwrap();
        let model = case["model"].as_str().unwrap();
        let params = serde_json::to_string(&case["params"]).unwrap();
        let spec = parse_worker(&format!("kind: {task}\nmodel: {model}\nparams: {params}\n"), "parity").unwrap();
        let WorkerKind::Model { task, estimator, .. } = spec.kind else {
            panic!("a model worker")
        };
        let (train, x_test, truth) = split(task, &dir);
        let fitted = ml::fit(&estimator, &train, &vec![1.0; train.n_rows()], 0).expect("fit");
        let n_classes = match &train.target {
            Target::Classification { classes, .. } => classes.len(),
            Target::Regression(_) => 0,
        };
        let answer = ml::answer(fitted.predict(x_test.view(), n_classes), &train.target);
        let (score, tolerance) = match (&answer.y_pred_rows, task) {
            (PredRows::Values(v), TaskKind::Regression) => {
                let t: Vec<f64> = truth.iter().map(|s| s.parse().unwrap()).collect();
                (chimera_shared::scores::r2(&t, v), 0.03)
            }
            (PredRows::Labels(l), TaskKind::Classification) => {
                let l: Vec<String> = l.iter().map(Label::to_string).collect();
                (chimera_shared::scores::accuracy(&truth, &l), 0.02)
            }
            other => panic!("{model}: an answer of the wrong kind: {other:?}"),
        };
        let expected = case["score"].as_f64().unwrap();
        report.push(format!("{task:?} {model}: {score:.4} (scikit-learn {expected:.4})"));
        if (score - expected).abs() > tolerance {
            failures.push(format!(
                "{task:?} {model} {params}: {score:.4}, scikit-learn {expected:.4} (tolerance {tolerance})"
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\n\nall:\n{}",
        failures.join("\n"),
        report.join("\n")
    );
}
