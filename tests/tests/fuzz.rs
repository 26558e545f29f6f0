//! Property tests of the decoders both services run on what reaches them from the network:
//! random bytes, random JSON, and well-formed bodies with hostile values. Whatever comes in,
//! every function answers `Ok` or a clear `ApiError` in the 4xx/5xx range, and never panics.

use chimera_master::aggregate;
use chimera_shared::api::{
    DataSample, FitStepRequest, FitStepResponse, Label, PredRows, PredictBody, PredictResponse, PredictShape,
};
use chimera_shared::config::{ParameterServerSpec, SgdMode, TaskKind};
use chimera_shared::service::{check_empty_fit_body, parse_json};
use chimera_shared::sgd::{Contribution, Trainer};
use chimera_shared::{predict, ApiError};
use chimera_worker::data::{Dataset, Target};
use ndarray::Array2;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn clear(result: Result<impl Sized, ApiError>) {
    if let Err(e) = result {
        assert!((400..600).contains(&e.status), "{e}");
        assert!(!e.message.is_empty());
    }
}

/// Numbers where code breaks: zero, negatives, huge, tiny, fractions.
fn edgy_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-1.0),
        Just(1e308),
        Just(-1e308),
        Just(1e-308),
        Just(0.5),
        -10.0..10.0f64
    ]
}

fn edgy_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(u64::MAX),
        Just(1_000_000_000),
        0..5u64
    ]
}

/// Any JSON, with keys drawn from the real field names half the time.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        edgy_f64().prop_map(|f| json!(f)),
        (-3i64..100).prop_map(Value::from),
        "[a-z_]{0,8}".prop_map(Value::from),
    ];
    let key = prop_oneof![
        prop::sample::select(vec![
            "X_pred_columns",
            "X_pred_rows",
            "weights",
            "bias",
            "round",
            "settings",
            "columns",
            "mean",
            "scale",
            "classes",
            "loss",
            "batch_size",
            "local_epochs",
            "mode",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,6}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A small regression shard and a small three-class shard, as a worker holds them.
fn shards() -> (Dataset, Dataset) {
    let x = Array2::from_shape_fn((12, 3), |(i, j)| ((i * 7 + j * 3) % 5) as f64 - 2.0);
    let regression = Dataset {
        columns: vec!["a".into(), "b".into(), "c".into()],
        x: x.clone(),
        target: Target::Regression((0..12).map(f64::from).collect()),
        target_name: "y".into(),
        bins: chimera_worker::data::BinCache::default(),
    };
    let classification = Dataset {
        target: Target::Classification {
            classes: vec![Label::Int(0), Label::Int(1), Label::Int(2)],
            y: (0..12).map(|i| i % 3).collect(),
        },
        ..regression.clone()
    };
    (regression, classification)
}

/// What a worker does with a fit-step body, from the bytes on.
fn worker_fit_step(data: &Dataset, body: &[u8]) -> Result<FitStepResponse, ApiError> {
    let request: FitStepRequest = parse_json(body)?;
    let (session, _) = chimera_worker::sgd::session_for(data, None, &request, "fuzz")?;
    let work = chimera_worker::sgd::Work {
        deadline: Instant::now() + Duration::from_secs(2),
        cancelled: Arc::new(AtomicBool::new(false)),
    };
    chimera_worker::sgd::fit_step(&session, &request, "fuzz", &work)
}

/// What a worker does with a predict body, up to the model.
fn worker_predict(data: &Dataset, body: &[u8]) -> Result<(), ApiError> {
    let request: PredictBody = parse_json(body)?;
    predict::check_column_count(request.columns.len(), 1000)?;
    let columns = predict::check_columns(&request.columns)?;
    predict::check_rows(&request.rows, &columns)?;
    predict::align(&columns, &data.columns).map(|_| ())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused_clearly(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let (regression, _) = shards();
        clear(parse_json::<PredictShape>(&bytes));
        clear(parse_json::<DataSample>(&bytes));
        clear(parse_json::<FitStepResponse>(&bytes));
        clear(parse_json::<PredictResponse>(&bytes));
        clear(check_empty_fit_body(&bytes));
        clear(worker_fit_step(&regression, &bytes));
        clear(worker_predict(&regression, &bytes));
    }

    #[test]
    fn random_json_is_refused_clearly(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let (regression, classification) = shards();
        clear(parse_json::<PredictShape>(&bytes));
        clear(check_empty_fit_body(&bytes));
        clear(worker_fit_step(&regression, &bytes));
        clear(worker_fit_step(&classification, &bytes));
        clear(worker_predict(&classification, &bytes));
    }

    /// Well-formed fit-step bodies with hostile shapes and values.
    #[test]
    fn hostile_fit_steps_get_an_answer_or_a_clear_error(
        // Mostly the shapes a model has (1 or 3 outputs of 3 features), so the math runs too.
        weights in prop_oneof![
            prop::collection::vec(edgy_f64(), 3).prop_map(|r| vec![r]),
            prop::collection::vec(prop::collection::vec(edgy_f64(), 3), 3),
            prop::collection::vec(prop::collection::vec(edgy_f64(), 0..5), 0..4),
        ],
        bias in prop_oneof![
            prop::collection::vec(edgy_f64(), 1),
            prop::collection::vec(edgy_f64(), 3),
            prop::collection::vec(edgy_f64(), 0..4),
        ],
        batch_size in prop::option::of(edgy_u64()),
        local_epochs in edgy_u64(),
        learning_rate in edgy_f64(),
        alpha in edgy_f64(),
        l1_ratio in edgy_f64(),
        mean in prop::option::of(prop::collection::vec(edgy_f64(), 0..5)),
        scale in prop::option::of(prop::collection::vec(edgy_f64(), 0..5)),
        loss in prop::sample::select(vec!["squared_error", "huber", "log_loss", "hinge"]),
        penalty in prop::sample::select(vec!["none", "l2", "l1", "elasticnet"]),
        mode in prop::sample::select(vec!["gradient", "model-averaging"]),
        classes in prop::option::of(prop::collection::vec(0i64..4, 0..5)),
        columns in prop::sample::select(vec![vec!["a", "b", "c"], vec!["c", "a", "b"], vec!["a"], vec!["a", "a", "b"]]),
    ) {
        let body = json!({
            "weights": weights, "bias": bias, "round": 3,
            "settings": {
                "loss": loss, "penalty": penalty, "alpha": alpha, "l1_ratio": l1_ratio,
                "huber_delta": 1.0, "batch_size": batch_size, "random_state": 0, "mode": mode,
                "local_epochs": local_epochs, "learning_rate": learning_rate, "columns": columns,
                "classes": classes, "mean": mean, "scale": scale
            }
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let (regression, classification) = shards();
        let answered = [worker_fit_step(&regression, &bytes), worker_fit_step(&classification, &bytes)];
        for result in answered {
            if let Ok(step) = &result {
                // An answer is finite (JSON has no NaN) and of the model's shape.
                prop_assert!(step.loss.is_finite());
                prop_assert!(step.weights_gradients.iter().flatten().all(|v| v.is_finite()));
                prop_assert_eq!(step.bias_gradient.len(), step.weights_gradients.len());
            }
            clear(result);
        }
    }

    /// Worker answers of any shape reach the master's checks, its round and its combine step.
    #[test]
    fn hostile_worker_answers_never_reach_the_math_unchecked(
        grads in prop::collection::vec(prop::collection::vec(edgy_f64(), 0..4), 0..3),
        bias in prop::collection::vec(edgy_f64(), 0..3),
        n_samples in 0usize..5,
        loss in edgy_f64(),
        rows in prop::collection::vec(edgy_f64(), 0..6),
        proba in prop::collection::vec(prop::collection::vec(edgy_f64(), 0..4), 0..6),
        labels in prop::collection::vec(0i64..3, 0..6),
        n_rows in 0usize..6,
    ) {
        let spec: ParameterServerSpec = serde_yaml::from_str("model_type: regressor").unwrap();
        for mode in [SgdMode::Gradient, SgdMode::ModelAveraging] {
            let answer = FitStepResponse {
                weights_gradients: grads.clone(),
                bias_gradient: bias.clone(),
                n_samples,
                loss,
                weights: Some(grads.clone()),
                bias: Some(bias.clone()),
            };
            if let Ok(c) = Contribution::from_answer(&answer, 3, 1, mode) {
                let mut trainer = Trainer::new(&spec, 3, 1);
                let _ = trainer.round(&[c]);
            }
        }
        let values = PredictResponse {
            y_pred_rows: PredRows::Values(rows.clone()),
            classes: None,
            y_pred_labels: None,
            y_pred_proba: None,
            failed_workers: Vec::new(),
        };
        let classified = PredictResponse {
            y_pred_rows: PredRows::Labels(labels.iter().map(|&l| Label::Int(l)).collect()),
            classes: Some(vec![Label::Int(0), Label::Int(1), Label::Int(2)]),
            y_pred_labels: Some(labels.iter().map(|&l| Label::Int(l)).collect()),
            y_pred_proba: Some(proba.clone()),
            failed_workers: Vec::new(),
        };
        for task in [TaskKind::Regression, TaskKind::Classification] {
            let mut failed = Vec::new();
            let answers = vec![("w1".to_string(), values.clone()), ("w2".to_string(), classified.clone())];
            let _ = aggregate::combine(task, n_rows, answers, &mut failed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// Compact answers of any bytes, or well-formed ones of any shape, are checked before the
    /// master sums them.
    #[test]
    fn compact_answers_of_any_shape_are_checked(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        n_rows in 0usize..4,
        width in 0usize..4,
        header_rows in 0usize..4,
        values in prop::collection::vec(edgy_f64(), 0..16),
        with_classes in any::<bool>(),
    ) {
        let header = chimera_shared::compact::Header {
            n_rows: header_rows,
            width,
            classes: with_classes.then(|| (0..width as i64).map(Label::Int).collect()),
        };
        let shaped = chimera_shared::compact::encode(&header, values.into_iter());
        for task in [TaskKind::Regression, TaskKind::Classification] {
            let answers = vec![("w1".to_string(), bytes.clone()), ("w2".to_string(), shaped.clone())];
            if let Ok(combined) = aggregate::combine_compact(task, n_rows, answers, Vec::new()) {
                let json = combined.json_chunks().collect::<Vec<_>>().concat();
                prop_assert!(serde_json::from_slice::<PredictResponse>(&json).is_ok());
            }
        }
    }
}
