//! The parameter server: it holds a linear model and trains it with distributed SGD.
//!
//! A fit gathers each worker's data sample (columns, classes, count, mean, variance), merges the
//! statistics exactly so every worker trains on globally standardized features, then runs
//! rounds: send the weights to every worker at once, combine their gradients weighted by sample
//! count (or, in model-averaging mode, their new weights), step, and check the stop rules.
//! The math lives in [`chimera_shared::sgd`]; this module only orchestrates.

use crate::client::{self, WorkerRef};
use crate::startup::MasterState;
use actix_web::web::Bytes;
use chimera_shared::api::{
    paths, DataSample, FitResponse, FitStepResponse, Label, Outcome, PredRows, PredictBody, PredictResponse,
    SgdSettings, TrainingSummary, WorkerReport,
};
use chimera_shared::config::{LearningRate, Loss, ModelType, ParameterServerSpec, SgdMode};
use chimera_shared::sgd::{self, ColumnStats, PenaltySpec, Schedule};
use chimera_shared::{predict, ApiError};
use futures_util::future::join_all;
use ndarray::{Array1, Array2};
use std::time::Instant;

/// A trained linear model, ready to predict from raw features.
#[derive(Debug, Clone)]
pub struct LinearModel {
    pub model_type: ModelType,
    pub loss: Loss,
    pub columns: Vec<String>,
    pub mean: Option<Vec<f64>>,
    pub scale: Option<Vec<f64>>,
    /// `d × o`.
    pub w: Array2<f64>,
    pub b: Array1<f64>,
    pub classes: Option<Vec<Label>>,
}

/// Live training progress, for `/v1/chimera/status` and a watching client.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Progress {
    pub round: u64,
    pub max_iter: u64,
    pub last_loss: Option<f64>,
    pub loss_history: Vec<f64>,
    pub stop_reason: Option<String>,
}

/// One worker's part in a fit: time spent in its calls and how it ended.
struct Participant {
    worker: WorkerRef,
    seconds: f64,
    error: Option<(Outcome, String)>,
}

impl Participant {
    fn active(&self) -> bool {
        self.error.is_none()
    }
}

fn settings(
    spec: &ParameterServerSpec,
    eta: f64,
    columns: &[String],
    classes: &Option<Vec<Label>>,
    stats: &Option<(Vec<f64>, Vec<f64>)>,
) -> SgdSettings {
    SgdSettings {
        loss: spec.loss(),
        penalty: spec.penalty,
        alpha: spec.alpha,
        l1_ratio: spec.l1_ratio,
        huber_delta: spec.huber_delta,
        batch_size: spec.batch_size,
        random_state: spec.random_state,
        mode: spec.mode,
        local_epochs: spec.local_epochs,
        learning_rate: eta,
        columns: columns.to_vec(),
        classes: classes.clone(),
        mean: stats.as_ref().map(|s| s.0.clone()),
        scale: stats.as_ref().map(|s| s.1.clone()),
    }
}

/// A fit-step body (`FitStepRequest` on the wire) that borrows the per-fit settings.
#[derive(serde::Serialize)]
struct StepBody<'a> {
    weights: Vec<Vec<f64>>,
    bias: &'a [f64],
    round: u64,
    settings: &'a SgdSettings,
}

/// Runs a whole fit. On success the model is returned with the answer to send.
pub async fn fit(
    state: &MasterState,
    client: &awc::Client,
    spec: &ParameterServerSpec,
) -> Result<(LinearModel, FitResponse), ApiError> {
    let started = Instant::now();
    let mut people: Vec<Participant> = state
        .workers
        .iter()
        .map(|w| Participant {
            worker: w.clone(),
            seconds: 0.0,
            error: None,
        })
        .collect();

    // 1. Data samples: columns, classes and statistics of every shard.
    let calls = join_all(people.iter().map(|p| {
        client::call(
            client,
            &state.calls,
            &state.logs,
            &state.last_calls,
            &p.worker,
            paths::SGD_DATA_SAMPLE,
            None,
        )
    }))
    .await;
    let mut samples: Vec<(usize, DataSample)> = Vec::new();
    for (i, r) in calls.into_iter().enumerate() {
        people[i].seconds += r.seconds;
        if r.outcome != Outcome::Ok {
            people[i].error = Some((r.outcome, r.error.unwrap_or_default()));
            continue;
        }
        match serde_json::from_slice::<DataSample>(&r.body) {
            Ok(s) => samples.push((i, s)),
            Err(e) => people[i].error = Some((Outcome::Error, format!("unreadable data sample: {e}"))),
        }
    }
    if samples.is_empty() {
        return Err(no_workers(&people, "send a data sample"));
    }
    let columns = samples[0].1.x_columns.clone();
    let mut sorted_first = columns.clone();
    sorted_first.sort();
    for (i, s) in &samples[1..] {
        let mut theirs = s.x_columns.clone();
        theirs.sort();
        if theirs != sorted_first {
            return Err(ApiError::new(
                422,
                "columns_mismatch",
                format!(
                    "the workers' columns differ: {} has {:?} but {} has {:?}; every shard needs the same feature columns",
                    people[samples[0].0].worker.name, columns, people[*i].worker.name, s.x_columns
                ),
            ));
        }
    }
    let classes = match spec.model_type {
        ModelType::Regressor => None,
        ModelType::Classifier => {
            let mut all: Vec<Label> = samples
                .iter()
                .flat_map(|(_, s)| s.classes.clone().unwrap_or_default())
                .collect();
            all.sort();
            all.dedup();
            if all.len() < 2 {
                return Err(ApiError::new(
                    422,
                    "fit_failed",
                    format!(
                        "the training labels hold {} class(es) {all:?}; a classifier needs at least two",
                        all.len()
                    ),
                ));
            }
            Some(all)
        }
    };
    // 2. Exact global standardization from the shards' statistics. Each worker's statistics
    // are in its own column order: put them in ours.
    let stats = spec.standardize.then(|| {
        let parts: Vec<ColumnStats> = samples
            .iter()
            .map(|(_, s)| {
                let at = |c: &String| s.x_columns.iter().position(|x| x == c).expect("same column set");
                ColumnStats {
                    n: s.n_samples,
                    mean: columns.iter().map(|c| s.mean[at(c)]).collect(),
                    var: columns.iter().map(|c| s.var[at(c)]).collect(),
                }
            })
            .collect();
        let merged = ColumnStats::merge(&parts);
        let scale = merged.scale();
        (merged.mean, scale)
    });

    // 3. Rounds.
    let loss = spec.loss();
    let n_classes = classes.as_ref().map_or(0, Vec::len);
    let o = sgd::n_outputs(loss, n_classes);
    let d = columns.len();
    let mut w = Array2::<f64>::zeros((d, o));
    let mut b = Array1::<f64>::zeros(o);
    let penalty = PenaltySpec {
        penalty: spec.penalty,
        alpha: spec.alpha,
        l1_ratio: spec.l1_ratio,
    };
    let mut schedule = Schedule::new(spec.learning_rate, spec.eta0, spec.power_t, spec.alpha);
    let early_tol = spec
        .tol
        .or((spec.learning_rate == LearningRate::Adaptive).then_some(1e-3));
    let mut best_loss = f64::INFINITY;
    let mut no_improvement = 0u64;
    let mut history = Vec::new();
    let mut stop_reason = "max_iter".to_string();
    state.set_progress(Progress {
        max_iter: spec.max_iter,
        ..Default::default()
    });
    // Built once: only the learning rate changes between rounds.
    let mut round_settings = settings(spec, spec.eta0, &columns, &classes, &stats);

    for round in 1..=spec.max_iter {
        let round_started = Instant::now();
        let eta = schedule.eta(round);
        round_settings.learning_rate = eta;
        let body = StepBody {
            weights: sgd::weights_to_rows(&w),
            bias: b.as_slice().unwrap_or_default(),
            round,
            settings: &round_settings,
        };
        let body = Bytes::from(serde_json::to_vec(&body).map_err(|e| ApiError::internal(e.to_string()))?);
        let active: Vec<usize> = (0..people.len()).filter(|&i| people[i].active()).collect();
        let calls = join_all(active.iter().map(|&i| {
            client::call(
                client,
                &state.calls,
                &state.logs,
                &state.last_calls,
                &people[i].worker,
                paths::SGD_FIT_STEP,
                Some(body.clone()),
            )
        }))
        .await;
        let mut answers: Vec<FitStepResponse> = Vec::new();
        let (mut fastest, mut slowest) = (f64::INFINITY, 0.0f64);
        for (&i, r) in active.iter().zip(calls) {
            people[i].seconds += r.seconds;
            fastest = fastest.min(r.seconds);
            slowest = slowest.max(r.seconds);
            if r.outcome != Outcome::Ok {
                // A worker's 4xx is a problem of the data or request, the same every round.
                if let Some(e) = r.api_error().filter(|e| e.status < 500) {
                    return Err(ApiError::new(
                        e.status,
                        e.code,
                        format!("worker {}: {}", people[i].worker.name, e.message),
                    ));
                }
                state.logs.status(
                    "ERROR",
                    &format!(
                        "round {round}: worker {} dropped from this fit: {}",
                        people[i].worker.name,
                        r.error.clone().unwrap_or_default()
                    ),
                );
                people[i].error = Some((
                    r.outcome,
                    format!("failed at round {round}: {}", r.error.unwrap_or_default()),
                ));
                continue;
            }
            match serde_json::from_slice::<FitStepResponse>(&r.body) {
                Ok(a) => answers.push(a),
                Err(e) => {
                    people[i].error = Some((
                        Outcome::Error,
                        format!("unreadable fit-step answer at round {round}: {e}"),
                    ))
                }
            }
        }
        if answers.is_empty() {
            return Err(no_workers(&people, &format!("compute round {round}")));
        }
        let n_total: usize = answers.iter().map(|a| a.n_samples).sum();
        let weight = |a: &FitStepResponse| a.n_samples as f64 / n_total.max(1) as f64;
        let data_loss: f64 = answers.iter().map(|a| weight(a) * a.loss).sum();
        let round_loss = data_loss + sgd::penalty_value(&w, penalty);
        let rows_of = |rows: &[Vec<f64>]| sgd::weights_from_rows(rows, d).filter(|m| m.ncols() == o);
        let mut g = Array2::<f64>::zeros((d, o));
        let mut gb = Array1::<f64>::zeros(o);
        let mut new_w = Array2::<f64>::zeros((d, o));
        let mut new_b = Array1::<f64>::zeros(o);
        for a in &answers {
            let bad = || ApiError::internal("a worker answered gradients of the wrong shape");
            g.scaled_add(weight(a), &rows_of(&a.weights_gradients).ok_or_else(bad)?);
            gb.scaled_add(weight(a), &Array1::from(a.bias_gradient.clone()));
            if spec.mode == SgdMode::ModelAveraging {
                new_w.scaled_add(
                    weight(a),
                    &rows_of(a.weights.as_deref().unwrap_or(&[])).ok_or_else(bad)?,
                );
                new_b.scaled_add(weight(a), &Array1::from(a.bias.clone().unwrap_or_default()));
            }
        }
        if !round_loss.is_finite() || g.iter().chain(gb.iter()).any(|v| !v.is_finite()) {
            return Err(ApiError::new(
                422,
                "training_diverged",
                format!("training diverged at round {round} (loss {round_loss}); lower eta0, keep standardize: true, or use learning_rate: invscaling"),
            ));
        }
        history.push(round_loss);
        metrics::gauge!("chimera_ps_round").set(round as f64);
        metrics::gauge!("chimera_ps_loss").set(round_loss);
        metrics::histogram!("chimera_ps_straggler_gap_seconds").record((slowest - fastest).max(0.0));
        state.update_progress(|p| {
            p.round = round;
            p.last_loss = Some(round_loss);
            p.loss_history.push(round_loss);
        });

        // The seed's stop rule: every gradient component at most epsilon.
        let gradient_scale = if spec.mode == SgdMode::ModelAveraging {
            1.0 / eta
        } else {
            1.0
        };
        if g.iter()
            .chain(gb.iter())
            .all(|v| (v * gradient_scale).abs() <= spec.epsilon)
        {
            stop_reason = "epsilon".into();
            metrics::histogram!("chimera_ps_round_duration_seconds").record(round_started.elapsed().as_secs_f64());
            break;
        }
        match spec.mode {
            SgdMode::Gradient => {
                w.scaled_add(-eta, &g);
                b.scaled_add(-eta, &gb);
            }
            SgdMode::ModelAveraging => {
                w = new_w;
                b = new_b;
            }
        }
        metrics::histogram!("chimera_ps_round_duration_seconds").record(round_started.elapsed().as_secs_f64());

        // scikit-learn's early stopping (tol) and adaptive rate: n_iter_no_change rounds
        // without an improvement of tol.
        if let Some(tol) = early_tol {
            if round_loss > best_loss - tol {
                no_improvement += 1;
            } else {
                no_improvement = 0;
            }
            best_loss = best_loss.min(round_loss);
            if no_improvement >= spec.n_iter_no_change {
                if spec.learning_rate == LearningRate::Adaptive && schedule.current > 1e-6 {
                    schedule.current /= 5.0;
                    no_improvement = 0;
                } else if spec.tol.is_some() || spec.learning_rate == LearningRate::Adaptive {
                    stop_reason = "tol".into();
                    break;
                }
            }
        }
    }
    let rounds = history.len() as u64;
    let final_loss = history.last().copied().unwrap_or(f64::NAN);
    state.update_progress(|p| p.stop_reason = Some(stop_reason.clone()));
    let model = LinearModel {
        model_type: spec.model_type,
        loss,
        columns,
        mean: stats.as_ref().map(|s| s.0.clone()),
        scale: stats.map(|s| s.1),
        w,
        b,
        classes,
    };
    let mut answer = FitResponse::ok();
    answer.workers = people
        .iter()
        .map(|p| WorkerReport {
            name: p.worker.name.clone(),
            outcome: p.error.as_ref().map_or(Outcome::Ok, |e| e.0),
            seconds: p.seconds,
            error: p.error.as_ref().map(|e| e.1.clone()),
        })
        .collect();
    answer.seconds = Some(started.elapsed().as_secs_f64());
    answer.training = Some(TrainingSummary {
        rounds,
        stop_reason,
        final_loss,
        loss_history: history,
        weights: sgd::weights_to_rows(&model.w),
        bias: model.b.to_vec(),
    });
    Ok((model, answer))
}

fn no_workers(people: &[Participant], what: &str) -> ApiError {
    client::no_worker_available(
        what,
        people
            .iter()
            .map(|p| (&p.worker.name, p.error.as_ref().map_or("no answer", |e| e.1.as_str()))),
    )
}

impl LinearModel {
    /// Predicts from raw features: columns matched by name, standardized with the training
    /// statistics, labels in their own type.
    pub fn predict(&self, request: &PredictBody) -> Result<PredictResponse, ApiError> {
        let columns = predict::check_columns(&request.columns)?;
        predict::check_rows(&request.rows, &columns)?;
        let order = predict::align(&columns, &self.columns)?;
        let d = self.columns.len();
        let zeros = vec![0.0; d];
        let ones = vec![1.0; d];
        let mean = self.mean.as_deref().unwrap_or(&zeros);
        let scale = self.scale.as_deref().unwrap_or(&ones);
        let x = Array2::from_shape_fn((request.rows.n_rows, d), |(i, j)| {
            (request.rows.row(i)[order[j]] - mean[j]) / scale[j]
        });
        let f = sgd::decision(x.view(), &self.w, &self.b);
        let Some(classes) = &self.classes else {
            return Ok(PredictResponse {
                y_pred_rows: PredRows::Values(f.column(0).to_vec()),
                classes: None,
                y_pred_labels: None,
                y_pred_proba: None,
                failed_workers: Vec::new(),
            });
        };
        let labels: Vec<Label> = sgd::predicted_classes(f.view())
            .into_iter()
            .map(|c| classes[c].clone())
            .collect();
        let proba = (self.loss == Loss::LogLoss).then(|| {
            sgd::probabilities(f.view())
                .rows()
                .into_iter()
                .map(|r| r.to_vec())
                .collect()
        });
        Ok(PredictResponse {
            // The parameter server's y_pred_rows are the labels (the original answered floats).
            y_pred_rows: PredRows::Labels(labels.clone()),
            classes: Some(classes.clone()),
            y_pred_labels: Some(labels),
            y_pred_proba: proba,
            failed_workers: Vec::new(),
        })
    }
}
