//! The parameter server's fit: gather every worker's data sample (columns, classes, count,
//! mean, variance), merge the statistics exactly so every worker trains on globally
//! standardized features, then run rounds until the [`Trainer`] says stop. The math of a round
//! lives in [`chimera_shared::sgd::trainer`]; this module only calls workers and checks their
//! answers.

use crate::pool::{self, CallResult, Media, WorkerPool, WorkerRef};
use crate::state::{MasterState, Progress};
use actix_web::web::Bytes;
use chimera_shared::api::{
    paths, DataSample, FitResponse, FitStepRequest, FitStepResponse, Label, Outcome, SgdSettings, TrainingSummary,
    WorkerReport,
};
use chimera_shared::compact;
use chimera_shared::config::{ModelType, ParameterServerSpec, PsMode};
use chimera_shared::logs::NodeLogs;
use chimera_shared::sgd::pace::Pacing;
use chimera_shared::sgd::{self, ColumnStats, Contribution, LinearModel, RoundOutcome, StopReason, Trainer};
use chimera_shared::{ApiError, Code};
use futures_util::future::join_all;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod free;

/// Runs a whole fit. On success the model is returned with the answer to send.
pub async fn fit(
    state: &MasterState,
    pool: &WorkerPool,
    spec: &ParameterServerSpec,
) -> Result<(LinearModel, FitResponse), ApiError> {
    let started = Instant::now();
    let mut people = Participants::new(pool.list(), state.logs.clone());

    // 1. Data samples: the shards' columns, classes and statistics.
    let calls = pool.call_all(paths::SGD_DATA_SAMPLE, None).await;
    let all: Vec<usize> = (0..pool.len()).collect();
    let samples = people.read_answers(&all, calls, Stage::Sample, |r| {
        let s: DataSample = json(r)?;
        check_sample(&s).map(|()| s)
    })?;
    let shards = Shards::merge(&samples, &people, spec)?;

    // 2. Updates, until the trainer says stop.
    let (d, o) = (shards.columns.len(), shards.n_outputs(spec));
    let mut trainer = Trainer::new(spec, d, o);
    let run = Run {
        state,
        pool,
        spec,
        settings: shards.settings(spec),
        fit_id: new_fit_id(),
        rows: by_worker(&samples, pool.len(), |s| s.n_samples),
        compact: by_worker(&samples, pool.len(), |s| s.compact_steps),
        d,
        o,
        metrics: PsMetrics::new(),
    };
    state.set_progress(Progress {
        max_iter: spec.max_iter,
        mode: Some(spec.mode.as_str()),
        ..Progress::default()
    });
    let mut gaps = Vec::new();
    let (stop, staleness) = match spec.mode {
        PsMode::Gradient | PsMode::ModelAveraging => (run.rounds(&mut people, &mut trainer, &mut gaps).await?, None),
        PsMode::Async => free::run(&run, &mut people, &mut trainer, Pacing::Async).await?,
        PsMode::Ssp => free::run(&run, &mut people, &mut trainer, Pacing::Ssp(spec.staleness_bound())).await?,
    };

    // 3. The model and the answer.
    state.update_progress(|p| p.stop_reason = Some(stop.as_str().to_string()));
    let mut answer = FitResponse::ok();
    answer.workers = people.reports();
    answer.seconds = Some(started.elapsed().as_secs_f64());
    answer.training = Some(TrainingSummary {
        rounds: trainer.history.len() as u64,
        stop_reason: stop.as_str().to_string(),
        mode: spec.mode.as_str().to_string(),
        staleness_histogram: staleness,
        straggler_gaps: (!gaps.is_empty()).then_some(gaps),
        final_loss: trainer.history.last().copied().unwrap_or(f64::NAN),
        loss_history: trainer.history.clone(),
        weights: sgd::weights_to_rows(&trainer.w),
        bias: trainer.b.to_vec(),
    });
    Ok((shards.into_model(spec, trainer), answer))
}

/// One value per worker from its data sample, by worker index (the default for a worker
/// without one).
fn by_worker<T: Default + Clone>(samples: &[(usize, DataSample)], k: usize, of: impl Fn(&DataSample) -> T) -> Vec<T> {
    let mut out = vec![T::default(); k];
    for (i, sample) in samples {
        out[*i] = of(sample);
    }
    out
}

/// What every update of one fit needs: where to send steps and what they carry.
struct Run<'a> {
    state: &'a MasterState,
    pool: &'a WorkerPool,
    spec: &'a ParameterServerSpec,
    /// The settings travel once per worker and fit (see `SgdSettings`).
    settings: SgdSettings,
    fit_id: u64,
    /// Each worker's training rows (from its data sample): its share of an `async` step.
    rows: Vec<usize>,
    /// Each worker speaks compact fit-steps (from its data sample).
    compact: Vec<bool>,
    d: usize,
    o: usize,
    metrics: PsMetrics,
}

/// The parameter server's metrics, looked up once per fit rather than on every update.
pub(crate) struct PsMetrics {
    round: metrics::Gauge,
    loss: metrics::Gauge,
    round_duration: metrics::Histogram,
    straggler_gap: metrics::Histogram,
    pub(crate) staleness: metrics::Histogram,
}

impl PsMetrics {
    fn new() -> Self {
        PsMetrics {
            round: metrics::gauge!("chimera_ps_round"),
            loss: metrics::gauge!("chimera_ps_loss"),
            round_duration: metrics::histogram!("chimera_ps_round_duration_seconds"),
            straggler_gap: metrics::histogram!("chimera_ps_straggler_gap_seconds"),
            staleness: metrics::histogram!("chimera_ps_staleness"),
        }
    }
}

impl Run<'_> {
    /// `gradient` and `model-averaging`: synchronous rounds until the trainer says stop.
    /// `gaps` gets each counted round's straggler gap.
    async fn rounds(
        &self,
        people: &mut Participants,
        trainer: &mut Trainer,
        gaps: &mut Vec<f64>,
    ) -> Result<StopReason, ApiError> {
        let (pool, spec) = (self.pool, self.spec);
        // `primed[i]`: worker `i` holds the settings. A worker that failed a round may have
        // restarted, so it is sent them again.
        let mut primed = vec![false; pool.len()];
        loop {
            let (round, round_started) = (trainer.next_round(), Instant::now());
            people.take_back(pool.list(), round);
            let active = people.active();
            if (active.len() as u64) < spec.min_workers {
                return Err(people.too_few(spec.min_workers, round));
            }
            let step = Step {
                trainer,
                round,
                fit_id: self.fit_id,
                settings: &self.settings,
            };
            let calls = step.call(pool, &active, &mut primed, &self.compact).await?;
            let gap = straggler_gap(&calls);
            let answers = people.read_answers(&active, calls, Stage::Round(round), |r| self.check(r))?;
            let answers: Vec<Contribution> = answers.into_iter().map(|(_, a)| a).collect();
            let outcome = trainer.round(&answers);
            if trainer.history.len() as u64 == round {
                self.record_update(trainer, Some(gap), None);
                gaps.push(gap);
            }
            self.metrics
                .round_duration
                .record(round_started.elapsed().as_secs_f64());
            match outcome {
                RoundOutcome::Continue => {}
                RoundOutcome::Stop(reason) => return Ok(reason),
                RoundOutcome::Diverged { loss } => return Err(diverged(round, loss)),
                RoundOutcome::NoAnswers => return Err(people.no_workers(&format!("compute round {round}"))),
            }
        }
    }

    /// A fit-step answer (compact when the worker answered so, else JSON), checked against the
    /// model's shape.
    fn check(&self, r: &CallResult) -> Result<Contribution, String> {
        let a = if r.answered_as == Some(compact::STEP_MEDIA_TYPE) {
            compact::decode_step_answer(&r.body)?
        } else {
            json::<FitStepResponse>(r)?
        };
        Contribution::from_answer(&a, self.d, self.o, self.spec.mode.worker_mode())
    }

    /// The metrics and progress of the update just applied (the trainer's latest loss).
    fn record_update(&self, trainer: &Trainer, gap: Option<f64>, staleness: Option<&[u64]>) {
        let Some(&loss) = trainer.history.last() else {
            return;
        };
        let update = trainer.history.len() as u64;
        self.metrics.round.set(update as f64);
        self.metrics.loss.set(loss);
        if let Some(gap) = gap {
            self.metrics.straggler_gap.record(gap);
        }
        self.state.update_progress(|p| {
            p.round = update;
            p.last_loss = Some(loss);
            p.loss_history.push(loss);
            if let Some(h) = staleness {
                h.clone_into(&mut p.staleness_histogram);
            }
        });
    }
}

/// A fit-step body (`FitStepRequest` on the wire) that borrows the round and the per-fit
/// settings.
#[derive(serde::Serialize)]
struct StepBody<'a> {
    weights: &'a [Vec<f64>],
    bias: &'a [f64],
    round: u64,
    fit_id: u64,
    learning_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<&'a SgdSettings>,
}

/// A round's request (without settings) as the body of `kind`, the settings added for
/// [`Body::Full`].
fn step_body(req: &FitStepRequest, kind: Body, settings: &SgdSettings) -> Result<Bytes, ApiError> {
    if kind == Body::Compact {
        return compact::encode_step(req)
            .map(Bytes::from)
            .ok_or_else(|| ApiError::internal("the model's weights have no compact form"));
    }
    let body = StepBody {
        weights: &req.weights,
        bias: &req.bias,
        round: req.round,
        fit_id: req.fit_id.unwrap_or_default(),
        learning_rate: req.learning_rate.unwrap_or(settings.learning_rate),
        settings: (kind == Body::Full).then_some(settings),
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Which body a worker is sent in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// JSON with the fit's settings: the worker does not hold them (yet).
    Full,
    /// JSON, weights only.
    Lean,
    /// Weights only, in the compact format.
    Compact,
}

impl Body {
    fn of(primed: bool, compact: bool) -> Body {
        match (primed, compact) {
            (false, _) => Body::Full,
            (true, false) => Body::Lean,
            (true, true) => Body::Compact,
        }
    }

    /// What the body is sent as, asking a worker that speaks it for a compact answer.
    fn media(self, compact: bool) -> Media {
        Media {
            content_type: match self {
                Body::Compact => compact::STEP_MEDIA_TYPE,
                Body::Full | Body::Lean => "application/json",
            },
            accept: compact.then_some(compact::STEP_MEDIA_TYPE),
        }
    }
}

/// One round's fan-out: the weights to every active worker, with the fit's settings only to
/// those that do not hold them yet.
struct Step<'a> {
    trainer: &'a Trainer,
    round: u64,
    fit_id: u64,
    settings: &'a SgdSettings,
}

impl Step<'_> {
    /// This round's request, without the settings.
    fn request(&self) -> FitStepRequest {
        FitStepRequest {
            weights: sgd::weights_to_rows(&self.trainer.w),
            bias: self.trainer.b.to_vec(),
            round: self.round,
            fit_id: Some(self.fit_id),
            learning_rate: Some(self.trainer.eta()),
            settings: None,
        }
    }

    /// Calls `active` (in that order, answers likewise). A worker that answers
    /// `sgd_settings_unknown` (it restarted since it was sent them) is called again at once
    /// with the settings.
    async fn call(
        &self,
        pool: &WorkerPool,
        active: &[usize],
        primed: &mut [bool],
        compact: &[bool],
    ) -> Result<Vec<CallResult>, ApiError> {
        let kinds: Vec<Body> = active.iter().map(|&i| Body::of(primed[i], compact[i])).collect();
        let request = self.request();
        // Each kind of body is built once, however many workers get it.
        let mut built: Vec<(Body, Bytes)> = Vec::with_capacity(3);
        for &kind in &kinds {
            if !built.iter().any(|(k, _)| *k == kind) {
                built.push((kind, step_body(&request, kind, self.settings)?));
            }
        }
        let body_of = |kind: Body| built.iter().find(|(k, _)| *k == kind).map(|(_, b)| b.clone());
        let mut answers = join_all(
            active
                .iter()
                .zip(&kinds)
                .map(|(&i, &kind)| pool.call_one_as(i, paths::SGD_FIT_STEP, body_of(kind), kind.media(compact[i]))),
        )
        .await;
        // The full body, built at most once, and only when a worker lost its settings.
        let mut full: Option<Bytes> = None;
        for (call, &i) in answers.iter_mut().zip(active) {
            if call.api_error().is_some_and(|e| e.code == Code::SgdSettingsUnknown) {
                if full.is_none() {
                    full = Some(match body_of(Body::Full) {
                        Some(body) => body,
                        None => step_body(&request, Body::Full, self.settings)?,
                    });
                }
                *call = pool
                    .call_one_as(i, paths::SGD_FIT_STEP, full.clone(), Body::Full.media(compact[i]))
                    .await;
            }
        }
        for (call, &i) in answers.iter().zip(active) {
            primed[i] = call.status == Some(200);
        }
        Ok(answers)
    }
}

/// One worker's fit-step in a free-running fit: the lean body (compact when the worker speaks
/// it) when it holds the settings, else (or when it answers that it lost them) the full one,
/// written only then. `primed` is updated from the answer.
async fn call_one(
    pool: &WorkerPool,
    worker: usize,
    request: FitStepRequest,
    settings: &SgdSettings,
    compact: bool,
    primed: &AtomicBool,
) -> CallResult {
    let send = |kind: Body| {
        let body = step_body(&request, kind, settings);
        async move {
            match body {
                Ok(body) => {
                    pool.call_one_as(worker, paths::SGD_FIT_STEP, Some(body), kind.media(compact))
                        .await
                }
                Err(e) => CallResult {
                    outcome: Outcome::Error,
                    seconds: 0.0,
                    status: None,
                    body: Bytes::new(),
                    answered_as: None,
                    error: Some(e.message),
                },
            }
        }
    };
    let mut call = send(Body::of(primed.load(Ordering::Relaxed), compact)).await;
    if call.api_error().is_some_and(|e| e.code == Code::SgdSettingsUnknown) {
        call = send(Body::Full).await;
    }
    primed.store(call.status == Some(200), Ordering::Relaxed);
    call
}

/// An answer's JSON body.
fn json<A: serde::de::DeserializeOwned>(r: &CallResult) -> Result<A, String> {
    serde_json::from_slice(&r.body).map_err(|e| e.to_string())
}

/// A fit's id for the workers: distinct between fits (and master restarts) without a counter
/// that must survive `kill -9`.
fn new_fit_id() -> u64 {
    static FITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = chimera_shared::hash::Fnv::seeded(FITS.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.eat(&now.to_le_bytes());
    h.eat(&std::process::id().to_le_bytes());
    h.finish()
}

/// The slowest answer's time less the fastest's: what waiting for stragglers costs a round.
fn straggler_gap(calls: &[CallResult]) -> f64 {
    let times = calls.iter().map(|c| c.seconds);
    let fastest = times.clone().fold(f64::INFINITY, f64::min);
    (times.fold(0.0, f64::max) - fastest).max(0.0)
}

fn diverged(round: u64, loss: f64) -> ApiError {
    ApiError::new(
        Code::TrainingDiverged,
        format!("training diverged at round {round} (loss {loss}); lower eta0, keep standardize: true, or use learning_rate: invscaling"),
    )
}

/// A data sample's vectors must agree with its columns before the master indexes them.
fn check_sample(s: &DataSample) -> Result<(), String> {
    let d = s.x_columns.len();
    if s.mean.len() != d || s.var.len() != d {
        return Err(format!(
            "{d} columns but {} means and {} variances",
            s.mean.len(),
            s.var.len()
        ));
    }
    let mut sorted = s.x_columns.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != d {
        return Err(format!("duplicate column names in {:?}", s.x_columns));
    }
    Ok(())
}

/// What the shards have in common: columns (in the first worker's order), the global class
/// list, and the merged standardization statistics.
struct Shards {
    columns: Vec<String>,
    classes: Option<Vec<Label>>,
    /// `(mean, scale)` when `standardize: true`.
    stats: Option<(Vec<f64>, Vec<f64>)>,
}

impl Shards {
    fn merge(
        samples: &[(usize, DataSample)],
        people: &Participants,
        spec: &ParameterServerSpec,
    ) -> Result<Shards, ApiError> {
        let Some((first_at, first)) = samples.first() else {
            return Err(people.no_workers("send a data sample"));
        };
        let columns = first.x_columns.clone();
        let mut sorted_first = columns.clone();
        sorted_first.sort();
        // Each worker's column order, as indices into its own vectors: built once, linear.
        let mut orders = Vec::with_capacity(samples.len());
        for (i, s) in samples {
            let at: std::collections::HashMap<&str, usize> =
                s.x_columns.iter().enumerate().map(|(j, c)| (c.as_str(), j)).collect();
            let order: Option<Vec<usize>> = columns.iter().map(|c| at.get(c.as_str()).copied()).collect();
            match order.filter(|_| s.x_columns.len() == columns.len()) {
                Some(order) => orders.push(order),
                None => {
                    return Err(ApiError::new(
                        Code::ColumnsMismatch,
                        format!(
                            "the workers' columns differ: {} has {:?} but {} has {:?}; every shard needs the same feature columns",
                            people.name(*first_at), columns, people.name(*i), s.x_columns
                        ),
                    ))
                }
            }
        }
        let classes = match spec.model_type {
            ModelType::Regressor => None,
            ModelType::Classifier => Some(global_classes(samples)?),
        };
        // Exact global standardization, each worker's statistics put in our column order.
        let stats = spec.standardize.then(|| {
            let parts: Vec<ColumnStats> = samples
                .iter()
                .zip(&orders)
                .map(|((_, s), order)| ColumnStats {
                    n: s.n_samples,
                    mean: order.iter().map(|&j| s.mean[j]).collect(),
                    var: order.iter().map(|&j| s.var[j]).collect(),
                })
                .collect();
            let merged = ColumnStats::merge(&parts);
            let scale = merged.scale();
            (merged.mean, scale)
        });
        Ok(Shards {
            columns,
            classes,
            stats,
        })
    }

    fn n_outputs(&self, spec: &ParameterServerSpec) -> usize {
        sgd::n_outputs(spec.loss(), self.classes.as_ref().map_or(0, Vec::len))
    }

    /// The per-fit settings every fit-step carries; only the learning rate changes per round.
    fn settings(&self, spec: &ParameterServerSpec) -> SgdSettings {
        SgdSettings {
            loss: spec.loss(),
            penalty: spec.penalty,
            alpha: spec.alpha,
            l1_ratio: spec.l1_ratio,
            huber_delta: spec.huber_delta,
            batch_size: spec.batch_size,
            random_state: spec.random_state,
            mode: spec.mode.worker_mode(),
            local_epochs: spec.local_epochs,
            learning_rate: spec.eta0,
            columns: self.columns.clone(),
            classes: self.classes.clone(),
            mean: self.stats.as_ref().map(|s| s.0.clone()),
            scale: self.stats.as_ref().map(|s| s.1.clone()),
        }
    }

    fn into_model(self, spec: &ParameterServerSpec, trainer: Trainer) -> LinearModel {
        let (mean, scale) = self.stats.map_or((None, None), |(m, s)| (Some(m), Some(s)));
        LinearModel {
            model_type: spec.model_type,
            loss: spec.loss(),
            columns: self.columns,
            mean,
            scale,
            w: trainer.w,
            b: trainer.b,
            classes: self.classes,
        }
    }
}

/// The sorted union of the shards' classes; a classifier needs two.
fn global_classes(samples: &[(usize, DataSample)]) -> Result<Vec<Label>, ApiError> {
    let mut all: Vec<Label> = samples
        .iter()
        .flat_map(|(_, s)| s.classes.clone().unwrap_or_default())
        .collect();
    all.sort();
    all.dedup();
    if all.len() < 2 {
        return Err(ApiError::new(
            Code::FitFailed,
            format!(
                "the training labels hold {} class(es) {all:?}; a classifier needs at least two",
                all.len()
            ),
        ));
    }
    Ok(all)
}

/// Each worker's part in a fit: time spent in its calls, and how it ended. A worker that
/// fails is left out of the rounds that follow.
struct Participants {
    people: Vec<Participant>,
    logs: Arc<NodeLogs>,
}

/// Which call a fit is reading answers of.
#[derive(Clone, Copy)]
enum Stage {
    Sample,
    Round(u64),
}

impl Stage {
    fn answer(self) -> String {
        match self {
            Stage::Sample => "data sample".to_string(),
            Stage::Round(round) => format!("fit-step answer at round {round}"),
        }
    }
}

struct Participant {
    name: String,
    seconds: f64,
    error: Option<(Outcome, String)>,
    /// Its data sample is in the merged statistics: only such a worker may rejoin a fit.
    sampled: bool,
}

impl Participants {
    fn new(workers: &[WorkerRef], logs: Arc<NodeLogs>) -> Participants {
        let people = workers
            .iter()
            .map(|w| Participant {
                name: w.name.clone(),
                seconds: 0.0,
                error: None,
                sampled: false,
            })
            .collect();
        Participants { people, logs }
    }

    fn name(&self, i: usize) -> &str {
        &self.people[i].name
    }

    fn active(&self) -> Vec<usize> {
        (0..self.people.len())
            .filter(|&i| self.people[i].error.is_none())
            .collect()
    }

    /// Reads the answers of the workers at `which`, in that order, each with its worker's
    /// index: decoded as JSON and checked by `check`. A worker whose call failed or whose
    /// answer is unreadable is marked failed and left out from then on. In a round, a worker's
    /// 4xx is the data's or the request's problem, the same every round, so it ends the fit
    /// with the worker's own code.
    fn read_answers<T>(
        &mut self,
        which: &[usize],
        calls: Vec<CallResult>,
        stage: Stage,
        read: impl Fn(&CallResult) -> Result<T, String>,
    ) -> Result<Vec<(usize, T)>, ApiError> {
        let mut out = Vec::with_capacity(calls.len());
        for (&i, r) in which.iter().zip(calls) {
            let p = &mut self.people[i];
            p.seconds += r.seconds;
            if r.outcome != Outcome::Ok {
                if let (Stage::Round(_), Some(e)) = (stage, r.api_error().filter(|e| e.status < 500)) {
                    return Err(ApiError {
                        message: format!("worker {}: {}", p.name, e.message),
                        ..e
                    });
                }
                let error = r.error.unwrap_or_default();
                p.error = Some(match stage {
                    Stage::Sample => (r.outcome, error),
                    Stage::Round(round) => {
                        self.logs.status(
                            "ERROR",
                            &format!("round {round}: worker {} dropped from this fit: {error}", p.name),
                        );
                        (r.outcome, format!("failed at round {round}: {error}"))
                    }
                });
                continue;
            }
            match read(&r) {
                Ok(a) => {
                    p.sampled |= matches!(stage, Stage::Sample);
                    out.push((i, a));
                }
                Err(e) => p.error = Some((Outcome::Error, format!("unreadable {}: {e}", stage.answer()))),
            }
        }
        Ok(out)
    }

    /// A worker that dropped out of this fit (it stopped answering) but whose `/healthz`
    /// answers again rejoins at the current weights: it is sent the fit's settings again
    /// (see `Step::call`), so a restarted worker catches up within one round.
    fn take_back(&mut self, workers: &[WorkerRef], round: u64) {
        for (p, w) in self.people.iter_mut().zip(workers) {
            if p.sampled && p.error.is_some() && !w.is_down() {
                p.error = None;
                self.logs
                    .status("INFO", &format!("round {round}: worker {} rejoined this fit", p.name));
            }
        }
    }

    /// The 503 when fewer than `min_workers` remain.
    fn too_few(&self, min_workers: u64, round: u64) -> ApiError {
        let left: Vec<&str> = self
            .people
            .iter()
            .filter(|p| p.error.is_none())
            .map(|p| p.name.as_str())
            .collect();
        let gone: Vec<String> = self
            .people
            .iter()
            .filter_map(|p| p.error.as_ref().map(|e| format!("{}: {}", p.name, e.1)))
            .collect();
        ApiError::new(
            Code::NoWorkerAvailable,
            format!(
                "at round {round} only {} worker(s) {left:?} are left, fewer than min_workers: {min_workers} in chimera_master.yaml; {}",
                left.len(),
                gone.join("; ")
            ),
        )
    }

    fn no_workers(&self, what: &str) -> ApiError {
        pool::no_worker_available(
            what,
            self.people
                .iter()
                .map(|p| (&p.name, p.error.as_ref().map_or("no answer", |e| e.1.as_str()))),
        )
    }

    fn reports(&self) -> Vec<WorkerReport> {
        self.people
            .iter()
            .map(|p| WorkerReport {
                name: p.name.clone(),
                outcome: p.error.as_ref().map_or(Outcome::Ok, |e| e.0),
                seconds: p.seconds,
                error: p.error.as_ref().map(|e| e.1.clone()),
            })
            .collect()
    }
}
