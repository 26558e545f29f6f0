//! Wire types: every JSON body the master, the workers and clients exchange, defined once.
//!
//! Field names keep the Python original's (`X_pred_columns`, `y_pred_rows`, ...) so its clients
//! keep working; fields it did not have are additions, never replacements.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// Every REST path, in one place, so a typo cannot split client and server.
pub mod paths {
    pub const AGGREGATION_FIT: &str = "/v1/chimera/aggregation/fit";
    pub const AGGREGATION_PREDICT: &str = "/v1/chimera/aggregation/predict";
    pub const PARAMETER_SERVER_FIT: &str = "/v1/chimera/parameter-server/fit";
    pub const PARAMETER_SERVER_PREDICT: &str = "/v1/chimera/parameter-server/predict";
    pub const MODEL_FIT: &str = "/v1/chimera/model/fit";
    pub const MODEL_PREDICT: &str = "/v1/chimera/model/predict";
    pub const SGD_DATA_SAMPLE: &str = "/v1/chimera/sgd/request-data-sample";
    pub const SGD_FIT_STEP: &str = "/v1/chimera/sgd/fit-step";
    pub const STATUS: &str = "/v1/chimera/status";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    /// The node's OpenAPI document, and the same rendered as a page (FastAPI's paths).
    pub const OPENAPI: &str = "/openapi.json";
    pub const DOCS: &str = "/docs";

    /// Every path, for bounded metric labels.
    pub const ALL: &[&str] = &[
        AGGREGATION_FIT,
        AGGREGATION_PREDICT,
        PARAMETER_SERVER_FIT,
        PARAMETER_SERVER_PREDICT,
        MODEL_FIT,
        MODEL_PREDICT,
        SGD_DATA_SAMPLE,
        SGD_FIT_STEP,
        STATUS,
        HEALTHZ,
        READYZ,
        METRICS,
        OPENAPI,
        DOCS,
    ];
}

/// A classification label: the training file's own type comes back in every answer.
///
/// Integers sort before strings; within a type the natural order applies, so `classes` is the
/// sorted list a scikit-learn user expects (`[3, 5, 8]`, `["bad", "good"]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Label {
    Int(i64),
    Str(String),
}

impl PartialOrd for Label {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Label {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Label::Int(a), Label::Int(b)) => a.cmp(b),
            (Label::Str(a), Label::Str(b)) => a.cmp(b),
            (Label::Int(_), Label::Str(_)) => Ordering::Less,
            (Label::Str(_), Label::Int(_)) => Ordering::Greater,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Int(v) => write!(f, "{v}"),
            Label::Str(v) => write!(f, "{v}"),
        }
    }
}

/// `POST .../predict` body. Extra fields are ignored, as the original's pydantic models did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PredictRequest {
    #[serde(rename = "X_pred_columns")]
    pub columns: Vec<String>,
    #[serde(rename = "X_pred_rows")]
    pub rows: Vec<Vec<f64>>,
}

/// `y_pred_rows`: numbers (regression, or the probability of `classes[1]` from the aggregation
/// master on a binary problem) or labels (classification everywhere else).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PredRows {
    Values(Vec<f64>),
    Labels(Vec<Label>),
}

impl PredRows {
    pub fn len(&self) -> usize {
        match self {
            PredRows::Values(v) => v.len(),
            PredRows::Labels(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The answer of every predict endpoint (worker, aggregation master, parameter server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PredictResponse {
    pub y_pred_rows: PredRows,
    /// Sorted class labels (classification only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<Label>>,
    /// The predicted label of each row (classification only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y_pred_labels: Option<Vec<Label>>,
    /// One row of per-class probabilities per input row, columns in `classes` order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y_pred_proba: Option<Vec<Vec<f64>>>,
    /// Workers that did not contribute to this answer (master only); absent when all answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_workers: Vec<FailedWorker>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailedWorker {
    pub name: String,
    pub error: String,
}

/// How one master -> worker call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Error,
    Timeout,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
        }
    }
}

/// One worker's part in a master fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerReport {
    pub name: String,
    pub outcome: Outcome,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST .../fit` answer. `fit: "ok"` is the original's whole answer; the rest is ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FitResponse {
    pub fit: String,
    /// Master only: each worker's outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerReport>,
    /// Worker only: the rows the model was trained on (after bootstrap, the distinct ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_samples: Option<usize>,
    /// Wall-clock seconds the fit took on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Parameter server only: how training went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSummary>,
}

impl FitResponse {
    pub fn ok() -> Self {
        FitResponse {
            fit: "ok".to_string(),
            workers: Vec::new(),
            n_samples: None,
            seconds: None,
            training: None,
        }
    }
}

/// What a parameter-server fit did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrainingSummary {
    /// Updates of the weights: rounds in `gradient`, `model-averaging` and `ssp`, single
    /// workers' gradients in `async`.
    pub rounds: u64,
    /// `max_iter`, `epsilon` (every gradient component at most epsilon) or `tol`.
    pub stop_reason: String,
    /// `gradient`, `model-averaging`, `async` or `ssp`.
    #[serde(default)]
    pub mode: String,
    /// `async` and `ssp`: entry `s` counts the gradients computed `s` updates behind the
    /// weights they were applied to (`ssp`: behind the worker's own clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness_histogram: Option<Vec<u64>>,
    /// `gradient` and `model-averaging`: per round, the slowest worker's answer time less the
    /// fastest's (seconds): what waiting for the straggler cost that round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub straggler_gaps: Option<Vec<f64>>,
    pub final_loss: f64,
    /// The regularized loss of each update, at the weights that update started from
    /// (`async`: the loss the applied gradient was computed at, on its worker's shard).
    pub loss_history: Vec<f64>,
    /// The final model over standardized features: one row of weights per output, and biases.
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

/// `GET /healthz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
    pub node: String,
    pub role: String,
}

// ------------------------------------------------------------------------------------------------
// Data parallelism: the SGD worker's endpoints
// ------------------------------------------------------------------------------------------------

/// One cell of `y_train_sample_rows`: a label (classification) or a number (regression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum YCell {
    Label(Label),
    Number(f64),
}

/// `GET /v1/chimera/sgd/request-data-sample`: a few rows in which every class of the shard
/// appears, plus (ours) what the parameter server needs before the first round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataSample {
    #[serde(rename = "X_train_sample_columns")]
    pub x_columns: Vec<String>,
    #[serde(rename = "X_train_sample_rows")]
    pub x_rows: Vec<Vec<f64>>,
    pub y_train_sample_columns: Vec<String>,
    pub y_train_sample_rows: Vec<Vec<YCell>>,
    /// Rows in the shard.
    pub n_samples: usize,
    /// Per-column mean and population variance of the shard, for exact global standardization.
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    /// The shard's sorted class labels (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<Label>>,
    /// The worker reads and writes lean fit-steps in the compact format
    /// (`chimera_shared::compact::STEP_MEDIA_TYPE`); absent: JSON only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compact_steps: bool,
}

/// The per-fit settings of a parameter-server fit. They travel once: with a worker's first
/// round of a fit. The worker keeps them under the fit's `fit_id`, so later rounds carry only
/// the weights; a worker that lost them (it restarted) answers `sgd_settings_unknown` and the
/// master sends them again, so a restarted worker still rejoins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SgdSettings {
    pub loss: crate::config::Loss,
    pub penalty: crate::config::Penalty,
    pub alpha: f64,
    pub l1_ratio: f64,
    pub huber_delta: f64,
    /// Rows per mini-batch; absent: the whole shard.
    #[serde(default)]
    pub batch_size: Option<u64>,
    pub random_state: u64,
    pub mode: crate::config::SgdMode,
    pub local_epochs: u64,
    /// The learning rate of this round (model averaging steps with it locally).
    pub learning_rate: f64,
    /// The feature order of `weights`; the worker matches its columns by name.
    pub columns: Vec<String>,
    /// The global sorted class list (classification).
    #[serde(default)]
    pub classes: Option<Vec<Label>>,
    /// Global standardization; absent: raw features.
    #[serde(default)]
    pub mean: Option<Vec<f64>>,
    #[serde(default)]
    pub scale: Option<Vec<f64>>,
}

/// `POST /v1/chimera/sgd/fit-step` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FitStepRequest {
    /// One row of weights per output (scikit-learn's `coef_` shape).
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
    #[serde(default)]
    pub round: u64,
    /// Names the fit these settings belong to; a round without `settings` uses the ones the
    /// worker keeps for it.
    #[serde(default)]
    pub fit_id: Option<u64>,
    /// This round's learning rate (it decays); absent: the settings' own.
    #[serde(default)]
    pub learning_rate: Option<f64>,
    /// The fit's settings: in a worker's first round of the fit, and after
    /// `sgd_settings_unknown`. A round needs `settings`, or a `fit_id` the worker holds.
    #[serde(default)]
    pub settings: Option<SgdSettings>,
}

/// `POST /v1/chimera/sgd/fit-step` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FitStepResponse {
    /// Gradient mode: the regularized loss's gradient over the shard (or mini-batch).
    /// Model averaging: the change the local epochs made (sent minus new weights).
    pub weights_gradients: Vec<Vec<f64>>,
    pub bias_gradient: Vec<f64>,
    /// Rows behind this answer (the weight of this worker when the master combines).
    pub n_samples: usize,
    /// Mean data loss over those rows (without the penalty), at the weights sent.
    pub loss: f64,
    /// Model averaging: the worker's new local model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<Vec<f64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<Vec<f64>>,
}

// ------------------------------------------------------------------------------------------------
// Fast views of a predict body (a 100,000-row request is tens of MB of JSON)
// ------------------------------------------------------------------------------------------------

/// `X_pred_rows` parsed straight into one row-major buffer: no vector per row. Rows of a
/// different length than the first are remembered, not refused here, so the error can name
/// the column count (which may come later in the body).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlatRows {
    pub values: Vec<f64>,
    pub n_rows: usize,
    /// The first row's length.
    pub width: usize,
    /// The first row whose length differs from the first row's: `(index, length)`.
    pub ragged: Option<(usize, usize)>,
}

impl FlatRows {
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
}

impl<'de> Deserialize<'de> for FlatRows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Outer;
        impl<'de> serde::de::Visitor<'de> for Outer {
            type Value = FlatRows;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of rows, each a list of numbers")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<FlatRows, A::Error> {
                let mut out = FlatRows::default();
                while let Some(len) = seq.next_element_seed(Row(&mut out.values))? {
                    if out.n_rows == 0 {
                        out.width = len;
                    } else if len != out.width && out.ragged.is_none() {
                        out.ragged = Some((out.n_rows, len));
                    }
                    out.n_rows += 1;
                }
                Ok(out)
            }
        }
        /// One row appended to the buffer; yields its length.
        struct Row<'a>(&'a mut Vec<f64>);
        impl<'de> serde::de::DeserializeSeed<'de> for Row<'_> {
            type Value = usize;
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
                d.deserialize_seq(self)
            }
        }
        impl<'de> serde::de::Visitor<'de> for Row<'_> {
            type Value = usize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a row: a list of numbers")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
                let mut n = 0;
                while let Some(v) = seq.next_element::<f64>()? {
                    self.0.push(v);
                    n += 1;
                }
                Ok(n)
            }
        }
        d.deserialize_seq(Outer)
    }
}

/// A predict body with its rows in one buffer (workers, the parameter server).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PredictBody {
    #[serde(rename = "X_pred_columns")]
    pub columns: Vec<String>,
    #[serde(rename = "X_pred_rows")]
    pub rows: FlatRows,
}

/// The aggregation master's view of a predict body: the columns, and the rows only counted.
/// It forwards the body untouched; the workers parse the numbers (and name any bad one).
#[derive(Debug, Clone, Deserialize)]
pub struct PredictShape {
    #[serde(rename = "X_pred_columns")]
    pub columns: Vec<String>,
    #[serde(rename = "X_pred_rows")]
    pub rows: RowCount,
}

/// How many rows a list holds, without parsing their numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCount(pub usize);

impl<'de> Deserialize<'de> for RowCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> serde::de::Visitor<'de> for Count {
            type Value = RowCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of rows")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RowCount, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(RowCount(n))
            }
        }
        d.deserialize_seq(Count)
    }
}
