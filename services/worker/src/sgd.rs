//! The SGD worker's side of data parallelism, free of HTTP: a data sample that shows every
//! class, and one fit step (a gradient, or local epochs for model averaging) over the shard.

use crate::data::{Dataset, Target};
use chimera_shared::api::{DataSample, FitStepRequest, FitStepResponse, Label, SgdSettings, YCell};
use chimera_shared::config::{Loss, SgdMode};
use chimera_shared::sgd::{self, ColumnStats, LossSpec, PenaltySpec, Targets};
use chimera_shared::{ApiError, Code};
use ndarray::{Array1, Array2};
use rand08::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use std::sync::Arc;

/// Rows in a data sample.
pub const SAMPLE_ROWS: usize = 10;

/// A few rows in which every class of the shard appears, whatever the row order (the original
/// took the first rows, so a shard sorted by class gave a one-class sample).
pub fn data_sample(data: &Dataset) -> DataSample {
    let n = data.n_rows();
    let mut picked: Vec<usize> = Vec::new();
    if let Target::Classification { classes, y } = &data.target {
        for c in 0..classes.len() {
            if let Some(i) = y.iter().position(|&v| v == c) {
                picked.push(i);
            }
        }
    }
    // One row per class first (all of them, even past SAMPLE_ROWS), then the first rows.
    let wanted = SAMPLE_ROWS.max(picked.len());
    for i in 0..n {
        if picked.len() >= wanted {
            break;
        }
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked.sort_unstable();
    let stats = ColumnStats::of(data.x.view());
    let y_cell = |i: usize| match &data.target {
        Target::Regression(y) => YCell::Number(y[i]),
        Target::Classification { classes, y } => YCell::Label(classes[y[i]].clone()),
    };
    DataSample {
        x_columns: data.columns.clone(),
        x_rows: picked.iter().map(|&i| data.x.row(i).to_vec()).collect(),
        y_train_sample_columns: vec![data.target_name.clone()],
        y_train_sample_rows: picked.iter().map(|&i| vec![y_cell(i)]).collect(),
        n_samples: n,
        mean: stats.mean,
        var: stats.var,
        classes: match &data.target {
            Target::Classification { classes, .. } => Some(classes.clone()),
            Target::Regression(_) => None,
        },
        compact_steps: true,
    }
}

/// The shard as the parameter server asked for it: columns in its order, standardized, labels
/// as indices into the global class list. Built once per fit and reused every round.
#[derive(Debug)]
pub struct Prepared {
    pub key: PrepKey,
    pub x: Array2<f64>,
    pub values: Vec<f64>,
    pub classes: Vec<usize>,
    pub n_classes: usize,
}

/// What a [`Prepared`] shard depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepKey {
    columns: Vec<String>,
    classes: Option<Vec<Label>>,
    mean: Option<Vec<f64>>,
    scale: Option<Vec<f64>>,
}

impl PrepKey {
    /// Whether a shard prepared for this key serves these settings (compared in place: this
    /// runs every round).
    pub fn serves(&self, s: &SgdSettings) -> bool {
        self.columns == s.columns && self.classes == s.classes && self.mean == s.mean && self.scale == s.scale
    }

    pub fn of(s: &SgdSettings) -> PrepKey {
        PrepKey {
            columns: s.columns.clone(),
            classes: s.classes.clone(),
            mean: s.mean.clone(),
            scale: s.scale.clone(),
        }
    }
}

/// The settings a fit-step carries, checked as carefully as a spec file: a worker's port can
/// be reached by anyone on the host, not only by its master.
pub fn check_settings(data: &Dataset, s: &SgdSettings) -> Result<(), ApiError> {
    let bad = |what: String| Err(ApiError::new(Code::InvalidRequest, format!("settings.{what}")));
    if s.batch_size == Some(0) {
        return bad("batch_size must be >= 1 (omit it for the whole shard)".into());
    }
    if !(1..=sgd::MAX_LOCAL_EPOCHS).contains(&s.local_epochs) {
        return bad(format!("local_epochs must be from 1 to {}", sgd::MAX_LOCAL_EPOCHS));
    }
    if !(s.learning_rate.is_finite() && s.learning_rate > 0.0) {
        return bad("learning_rate must be a finite number > 0".into());
    }
    if !(s.alpha.is_finite() && s.alpha >= 0.0) {
        return bad("alpha must be a finite number >= 0".into());
    }
    if !(0.0..=1.0).contains(&s.l1_ratio) {
        return bad("l1_ratio must be from 0 to 1".into());
    }
    if !(s.huber_delta.is_finite() && s.huber_delta > 0.0) {
        return bad("huber_delta must be a finite number > 0".into());
    }
    let fits = matches!(
        (&data.target, s.loss),
        (Target::Regression(_), Loss::SquaredError | Loss::Huber)
            | (Target::Classification { .. }, Loss::LogLoss | Loss::Hinge)
    );
    if !fits {
        return bad(format!(
            "loss {:?} does not fit this worker's task ({}): regression takes squared_error or huber, classification log_loss or hinge",
            s.loss,
            match data.target {
                Target::Regression(_) => "regression",
                Target::Classification { .. } => "classification",
            }
        ));
    }
    Ok(())
}

/// Worker-side work's limits: it stops at the deadline (the master has given up by then) or
/// as soon as the caller has gone (the handler was dropped).
#[derive(Debug, Clone)]
pub struct Work {
    pub deadline: std::time::Instant,
    pub cancelled: Arc<std::sync::atomic::AtomicBool>,
}

impl Work {
    fn check(&self, worker: &str) -> Result<(), ApiError> {
        if self.cancelled.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ApiError::new(
                Code::DeadlineExceeded,
                format!("worker {worker}: the caller went away; the step was stopped"),
            ));
        }
        if std::time::Instant::now() > self.deadline {
            return Err(ApiError::new(
                Code::DeadlineExceeded,
                format!("worker {worker}: the step passed its deadline (CHIMERA_WORKERS_ENDPOINTS_TIMEOUT) and was stopped; ask for fewer local_epochs or larger batches"),
            ));
        }
        Ok(())
    }
}

pub fn prepare(data: &Dataset, settings: &SgdSettings, worker: &str) -> Result<Prepared, ApiError> {
    check_settings(data, settings)?;
    let mismatch = || {
        ApiError::new(
            Code::ColumnsMismatch,
            format!(
                "worker {worker} has columns {:?}, but the parameter server trains on {:?}",
                data.columns, settings.columns
            ),
        )
    };
    if settings.columns.len() != data.columns.len() {
        return Err(mismatch());
    }
    let order: Vec<usize> = settings
        .columns
        .iter()
        .map(|c| data.columns.iter().position(|d| d == c))
        .collect::<Option<_>>()
        .ok_or_else(mismatch)?;
    let d = order.len();
    for (name, v) in [("mean", &settings.mean), ("scale", &settings.scale)] {
        if v.as_ref()
            .is_some_and(|v| v.len() != d || v.iter().any(|x| !x.is_finite()))
        {
            return Err(ApiError::new(
                Code::InvalidRequest,
                format!("settings.{name} must hold {d} finite numbers"),
            ));
        }
    }
    if settings.scale.as_ref().is_some_and(|s| s.iter().any(|v| *v <= 0.0)) {
        return Err(ApiError::new(Code::InvalidRequest, "settings.scale must be positive"));
    }
    let raw = data.x.select(ndarray::Axis(1), &order);
    let zeros = vec![0.0; d];
    let ones = vec![1.0; d];
    let x = sgd::standardize(
        raw.view(),
        settings.mean.as_deref().unwrap_or(&zeros),
        settings.scale.as_deref().unwrap_or(&ones),
    );
    let (values, classes, n_classes) = match &data.target {
        Target::Regression(y) => (y.to_vec(), Vec::new(), 0),
        Target::Classification { classes: local, y } => {
            let global = settings
                .classes
                .as_ref()
                .ok_or_else(|| ApiError::new(Code::InvalidRequest, "settings.classes is required for a classifier"))?;
            let map: Vec<usize> = local
                .iter()
                .map(|l| global.binary_search(l).ok())
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ApiError::new(
                        Code::InvalidRequest,
                        format!("settings.classes {global:?} lacks some of worker {worker}'s classes {local:?}"),
                    )
                })?;
            (Vec::new(), y.iter().map(|&c| map[c]).collect(), global.len())
        }
    };
    Ok(Prepared {
        key: PrepKey::of(settings),
        x,
        values,
        classes,
        n_classes,
    })
}

impl Prepared {
    fn targets(&self) -> Targets<'_> {
        if self.n_classes == 0 {
            Targets::Values(&self.values)
        } else {
            Targets::Classes {
                y: &self.classes,
                n_classes: self.n_classes,
            }
        }
    }
}

/// A seed for this worker, round and epoch: reruns repeat, workers and rounds differ.
fn rng(random_state: u64, worker: &str, round: u64, epoch: u64) -> StdRng {
    let base = crate::ml::bootstrap_seed(random_state, worker);
    StdRng::seed_from_u64(base ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ epoch.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
}

/// What a worker keeps between the rounds of one fit: the fit's settings (sent once) and its
/// shard prepared for them.
#[derive(Debug)]
pub struct Session {
    pub fit_id: Option<u64>,
    pub settings: SgdSettings,
    pub prepared: Arc<Prepared>,
}

/// The session a fit-step runs in. A round with settings starts one (after checking them; the
/// prepared shard is reused when the settings' data part is unchanged). A round without names
/// the kept session by `fit_id`; any other `fit_id`, or none, is `sgd_settings_unknown`, and
/// the master answers it by sending the settings again. Returns whether the session is new.
pub fn session_for(
    data: &Dataset,
    kept: Option<&Arc<Session>>,
    req: &FitStepRequest,
    worker: &str,
) -> Result<(Arc<Session>, bool), ApiError> {
    if let Some(lr) = req.learning_rate {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(ApiError::new(
                Code::InvalidRequest,
                "learning_rate must be a finite number > 0 (or absent: the settings' own)",
            ));
        }
    }
    let Some(settings) = &req.settings else {
        return match (kept, req.fit_id) {
            (_, None) => Err(ApiError::new(
                Code::InvalidRequest,
                "settings is missing: a round carries settings, or names with fit_id a fit whose settings it sent before",
            )),
            (Some(k), Some(id)) if k.fit_id == Some(id) => Ok((k.clone(), false)),
            (_, Some(id)) => Err(ApiError::new(
                Code::SgdSettingsUnknown,
                format!(
                    "this worker holds no settings for fit_id {id}: send settings with this round (a worker forgets them when it restarts or another fit begins)"
                ),
            )),
        };
    };
    check_settings(data, settings)?;
    let prepared = match kept {
        Some(k) if k.prepared.key.serves(settings) => k.prepared.clone(),
        _ => Arc::new(prepare(data, settings, worker)?),
    };
    let session = Session {
        fit_id: req.fit_id,
        settings: settings.clone(),
        prepared,
    };
    Ok((Arc::new(session), true))
}

/// One round of work for the parameter server, in the fit's session.
pub fn fit_step(
    session: &Session,
    req: &FitStepRequest,
    worker: &str,
    work: &Work,
) -> Result<FitStepResponse, ApiError> {
    let s = &session.settings;
    let p = &*session.prepared;
    let learning_rate = req.learning_rate.unwrap_or(s.learning_rate);
    if s.batch_size == Some(0) || !(1..=sgd::MAX_LOCAL_EPOCHS).contains(&s.local_epochs) {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!(
                "settings.batch_size must be >= 1 and settings.local_epochs from 1 to {}",
                sgd::MAX_LOCAL_EPOCHS
            ),
        ));
    }
    let d = p.x.ncols();
    let o = sgd::n_outputs(s.loss, p.n_classes);
    let mut w = sgd::weights_from_rows(&req.weights, d)
        .filter(|w| w.ncols() == o)
        .ok_or_else(|| {
            ApiError::new(
                Code::InvalidRequest,
                format!("weights must be {o} row(s) of {d} numbers for this model"),
            )
        })?;
    if req.bias.len() != o {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("bias must hold {o} number(s)"),
        ));
    }
    if req.weights.iter().flatten().chain(&req.bias).any(|v| !v.is_finite()) {
        return Err(ApiError::new(
            Code::InvalidValue,
            "weights and bias must be finite numbers",
        ));
    }
    let mut b = Array1::from(req.bias.clone());
    let loss = LossSpec {
        loss: s.loss,
        huber_delta: s.huber_delta,
    };
    let penalty = PenaltySpec {
        penalty: s.penalty,
        alpha: s.alpha,
        l1_ratio: s.l1_ratio,
    };
    let n = p.x.nrows();
    let batch = s.batch_size.map(|bs| bs as usize).filter(|&bs| bs < n);
    match s.mode {
        SgdMode::Gradient => {
            // A seeded mini-batch, or (None) the whole shard, used in place.
            let rows = batch.map(|bs| {
                let mut r =
                    rand08::seq::index::sample(&mut rng(s.random_state, worker, req.round, 0), n, bs).into_vec();
                r.sort_unstable();
                r
            });
            let (l, mut gw, gb) = sgd::data_gradient(p.x.view(), p.targets(), rows.as_deref(), &w, &b, loss);
            sgd::add_penalty_gradient(&mut gw, &w, penalty);
            check_finite(l, &gw, &gb, worker, req.round)?;
            Ok(FitStepResponse {
                weights_gradients: sgd::weights_to_rows(&gw),
                bias_gradient: gb.to_vec(),
                n_samples: rows.as_ref().map_or(n, Vec::len),
                loss: l,
                weights: None,
                bias: None,
            })
        }
        SgdMode::ModelAveraging => {
            let (start_loss, _, _) = sgd::data_gradient(p.x.view(), p.targets(), None, &w, &b, loss);
            let (w0, b0) = (w.clone(), b.clone());
            let step = |rows: Option<&[usize]>, w: &mut Array2<f64>, b: &mut Array1<f64>| {
                let (_, mut gw, gb) = sgd::data_gradient(p.x.view(), p.targets(), rows, w, b, loss);
                sgd::add_penalty_gradient(&mut gw, w, penalty);
                w.scaled_add(-learning_rate, &gw);
                b.scaled_add(-learning_rate, &gb);
            };
            match batch {
                // Full batch: one step per local epoch.
                None => {
                    for _ in 0..s.local_epochs {
                        work.check(worker)?;
                        step(None, &mut w, &mut b);
                    }
                }
                // Mini-batches: each epoch a seeded shuffle, then a step per batch.
                Some(bs) => {
                    let mut order: Vec<usize> = (0..n).collect();
                    for epoch in 0..s.local_epochs {
                        order.shuffle(&mut rng(s.random_state, worker, req.round, epoch + 1));
                        for chunk in order.chunks(bs.max(1)) {
                            work.check(worker)?;
                            let mut rows = chunk.to_vec();
                            rows.sort_unstable();
                            step(Some(&rows), &mut w, &mut b);
                        }
                    }
                }
            }
            check_finite(start_loss, &w, &b, worker, req.round)?;
            Ok(FitStepResponse {
                weights_gradients: sgd::weights_to_rows(&(&w0 - &w)),
                bias_gradient: (&b0 - &b).to_vec(),
                n_samples: n,
                loss: start_loss,
                weights: Some(sgd::weights_to_rows(&w)),
                bias: Some(b.to_vec()),
            })
        }
    }
}

/// JSON has no NaN or infinity: a diverging step is a clear error, never a null in an answer.
fn check_finite(loss: f64, w: &Array2<f64>, b: &Array1<f64>, worker: &str, round: u64) -> Result<(), ApiError> {
    if loss.is_finite() && w.iter().chain(b.iter()).all(|v| v.is_finite()) {
        return Ok(());
    }
    Err(ApiError::new(Code::TrainingDiverged,
        format!(
            "training diverged at round {round} on worker {worker} (loss {loss}); lower eta0, keep standardize: true, or use learning_rate: invscaling"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chimera_shared::api::Label;

    #[test]
    fn a_shard_sorted_by_class_still_shows_every_class() {
        // 300 rows: 250 of class "a" first, then 50 of "b".
        let n = 300;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| (i * (j + 1)) as f64);
        let y: Vec<usize> = (0..n).map(|i| usize::from(i >= 250)).collect();
        let data = Dataset {
            columns: vec!["u".into(), "v".into()],
            x,
            target: Target::Classification {
                classes: vec![Label::Str("a".into()), Label::Str("b".into())],
                y,
            },
            target_name: "label".into(),
            bins: crate::data::BinCache::default(),
        };
        let s = data_sample(&data);
        assert_eq!(s.x_rows.len(), SAMPLE_ROWS);
        let labels: Vec<&YCell> = s.y_train_sample_rows.iter().map(|r| &r[0]).collect();
        assert!(labels.contains(&&YCell::Label(Label::Str("a".into()))));
        assert!(labels.contains(&&YCell::Label(Label::Str("b".into()))));
        assert_eq!(s.x_rows.len(), s.y_train_sample_rows.len());
        assert_eq!(s.n_samples, 300);
        assert_eq!(s.classes.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn a_session_is_kept_for_its_fit_and_only_for_it() {
        let data = Dataset {
            columns: vec!["u".into()],
            x: Array2::from_shape_fn((20, 1), |(i, _)| i as f64),
            target: Target::Regression((0..20).map(f64::from).collect()),
            target_name: "y".into(),
            bins: crate::data::BinCache::default(),
        };
        let settings = SgdSettings {
            loss: Loss::SquaredError,
            penalty: chimera_shared::config::Penalty::L2,
            alpha: 0.0,
            l1_ratio: 0.15,
            huber_delta: 1.35,
            batch_size: None,
            random_state: 0,
            mode: SgdMode::Gradient,
            local_epochs: 1,
            learning_rate: 0.01,
            columns: vec!["u".into()],
            classes: None,
            mean: None,
            scale: None,
        };
        let round = |fit_id: Option<u64>, settings: Option<SgdSettings>| FitStepRequest {
            weights: vec![vec![0.5]],
            bias: vec![0.0],
            round: 1,
            fit_id,
            learning_rate: Some(0.02),
            settings,
        };
        let (first, new) = session_for(&data, None, &round(Some(9), Some(settings.clone())), "w").unwrap();
        assert!(new && first.fit_id == Some(9));
        let (again, new) = session_for(&data, Some(&first), &round(Some(9), None), "w").unwrap();
        assert!(!new && Arc::ptr_eq(&again, &first), "the kept session serves its fit");
        for (kept, fit_id) in [(Some(&first), Some(8)), (None, Some(9))] {
            let e = session_for(&data, kept, &round(fit_id, None), "w").unwrap_err();
            assert_eq!(e.code, Code::SgdSettingsUnknown, "{fit_id:?}");
        }
        let e = session_for(&data, Some(&first), &round(None, None), "w").unwrap_err();
        assert_eq!(e.code, Code::InvalidRequest, "neither settings nor a fit to use");
        // A new fit with the same data settings reuses the prepared shard.
        let (next, _) = session_for(&data, Some(&first), &round(Some(10), Some(settings)), "w").unwrap();
        assert!(Arc::ptr_eq(&next.prepared, &first.prepared));
        // A round without settings computes with the kept ones.
        let work = Work {
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(5),
            cancelled: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        let a = fit_step(&first, &round(Some(9), None), "w", &work).unwrap();
        assert_eq!(a.n_samples, 20);
    }
}
