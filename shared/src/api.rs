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
}

/// A classification label: the training file's own type comes back in every answer.
///
/// Integers sort before strings; within a type the natural order applies, so `classes` is the
/// sorted list a scikit-learn user expects (`[3, 5, 8]`, `["bad", "good"]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictRequest {
    #[serde(rename = "X_pred_columns")]
    pub columns: Vec<String>,
    #[serde(rename = "X_pred_rows")]
    pub rows: Vec<Vec<f64>>,
}

/// `y_pred_rows`: numbers (regression, or the probability of `classes[1]` from the aggregation
/// master on a binary problem) or labels (classification everywhere else).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedWorker {
    pub name: String,
    pub error: String,
}

/// How one master -> worker call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    pub name: String,
    pub outcome: Outcome,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST .../fit` answer. `fit: "ok"` is the original's whole answer; the rest is ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    pub rounds: u64,
    pub stop_reason: String,
    pub final_loss: f64,
    pub loss_history: Vec<f64>,
}

/// `GET /healthz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub node: String,
    pub role: String,
}
