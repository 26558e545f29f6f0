//! `chimera_master.yaml`: the master's kind, and the parameter server's SGD settings under
//! scikit-learn's names.

use super::{d_true, from_mapping, split_kind, ModelType};
use crate::config::ConfigError;
use serde::Deserialize;

// ----------------------------------------------------------------------------------------------
// The master
// ----------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub enum MasterSpec {
    /// Distributed bagging: predictions of the model workers are averaged.
    Aggregation,
    /// Distributed SGD: the master holds the model, the SGD workers compute gradients.
    ParameterServer(ParameterServerSpec),
}

impl MasterSpec {
    pub fn kind_name(&self) -> &'static str {
        match self {
            MasterSpec::Aggregation => "aggregation",
            MasterSpec::ParameterServer(_) => "parameter-server",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    SquaredError,
    Huber,
    LogLoss,
    Hinge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Penalty {
    None,
    L2,
    L1,
    Elasticnet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LearningRate {
    Constant,
    Invscaling,
    Optimal,
    Adaptive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SgdMode {
    /// Synchronous SGD: workers return gradients, the master steps.
    Gradient,
    /// FedAvg: workers run `local_epochs` from the weights sent, the master averages by count.
    ModelAveraging,
}

/// `mode` in `chimera_master.yaml`: how the parameter server paces its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PsMode {
    /// Synchronous rounds: every worker's gradient at the same weights, then one step.
    Gradient,
    /// Synchronous rounds of FedAvg: local epochs, then the weights averaged.
    ModelAveraging,
    /// Each worker loops on its own; each gradient is applied as it arrives (Hogwild-style).
    Async,
    /// Stale synchronous parallel (Ho et al. 2013): workers run ahead of the slowest by at
    /// most `staleness` updates; an update is applied once every worker has sent it.
    Ssp,
}

impl PsMode {
    /// What the workers do in a step: every mode but model averaging asks for a gradient.
    pub fn worker_mode(self) -> SgdMode {
        match self {
            PsMode::ModelAveraging => SgdMode::ModelAveraging,
            PsMode::Gradient | PsMode::Async | PsMode::Ssp => SgdMode::Gradient,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PsMode::Gradient => "gradient",
            PsMode::ModelAveraging => "model-averaging",
            PsMode::Async => "async",
            PsMode::Ssp => "ssp",
        }
    }
}

/// `kind: parameter-server`. Defaults converge on standardized data without tuning.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterServerSpec {
    pub model_type: ModelType,
    #[serde(default = "d_max_iter")]
    pub max_iter: u64,
    /// The seed's stop rule: every gradient component at most this.
    #[serde(default = "d_epsilon")]
    pub epsilon: f64,
    /// Default: `squared_error` for a regressor, `log_loss` for a classifier.
    #[serde(default)]
    pub loss: Option<Loss>,
    #[serde(default = "d_penalty")]
    pub penalty: Penalty,
    #[serde(default = "d_alpha")]
    pub alpha: f64,
    #[serde(default = "d_l1_ratio")]
    pub l1_ratio: f64,
    #[serde(default = "d_learning_rate")]
    pub learning_rate: LearningRate,
    #[serde(default = "d_eta0")]
    pub eta0: f64,
    #[serde(default = "d_power_t")]
    pub power_t: f64,
    /// Off by default: the seed has no early stop.
    #[serde(default)]
    pub tol: Option<f64>,
    #[serde(default = "d_n_iter_no_change")]
    pub n_iter_no_change: u64,
    #[serde(default)]
    pub random_state: u64,
    /// Omitted: the whole shard each round.
    #[serde(default)]
    pub batch_size: Option<u64>,
    #[serde(default = "d_mode")]
    pub mode: PsMode,
    /// `mode: ssp`: how many updates a worker may run ahead of the slowest (0: synchronous).
    #[serde(default)]
    pub staleness: Option<u64>,
    #[serde(default = "d_local_epochs")]
    pub local_epochs: u64,
    /// A fit fails (503) when fewer workers than this are left in it.
    #[serde(default = "d_min_workers")]
    pub min_workers: u64,
    #[serde(default = "d_true")]
    pub standardize: bool,
    /// scikit-learn's huber `epsilon`, renamed because `epsilon` is the seed's stop rule.
    #[serde(default = "d_huber_delta")]
    pub huber_delta: f64,
}

fn d_max_iter() -> u64 {
    1000
}
fn d_epsilon() -> f64 {
    1e-11
}
fn d_penalty() -> Penalty {
    Penalty::L2
}
fn d_alpha() -> f64 {
    1e-4
}
fn d_l1_ratio() -> f64 {
    0.15
}
fn d_learning_rate() -> LearningRate {
    LearningRate::Constant
}
fn d_eta0() -> f64 {
    0.1
}
fn d_power_t() -> f64 {
    0.25
}
fn d_n_iter_no_change() -> u64 {
    5
}
fn d_mode() -> PsMode {
    PsMode::Gradient
}

/// `staleness` when `mode: ssp` leaves it out (a common choice in Ho et al.'s experiments).
pub const DEFAULT_STALENESS: u64 = 3;

/// The most `staleness` allowed: beyond it, bounded staleness is asynchronous in all but name.
pub const MAX_STALENESS: u64 = 1000;
fn d_min_workers() -> u64 {
    1
}
fn d_local_epochs() -> u64 {
    1
}
fn d_huber_delta() -> f64 {
    0.1
}

impl ParameterServerSpec {
    /// `mode: ssp`'s bound on how far a worker runs ahead.
    pub fn staleness_bound(&self) -> u64 {
        self.staleness.unwrap_or(DEFAULT_STALENESS)
    }

    pub fn loss(&self) -> Loss {
        self.loss.unwrap_or(match self.model_type {
            ModelType::Regressor => Loss::SquaredError,
            ModelType::Classifier => Loss::LogLoss,
        })
    }

    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let key = |k: &str, v: &dyn std::fmt::Display, rule: &str| Err(ConfigError::key(path, k, v, rule));
        if self.max_iter < 1 {
            return key("max_iter", &self.max_iter, "must be an integer >= 1");
        }
        if !(self.epsilon >= 0.0 && self.epsilon.is_finite()) {
            return key("epsilon", &self.epsilon, "must be a number >= 0");
        }
        let loss = self.loss();
        let allowed = match self.model_type {
            ModelType::Regressor => [Loss::SquaredError, Loss::Huber].as_slice(),
            ModelType::Classifier => [Loss::LogLoss, Loss::Hinge].as_slice(),
        };
        if !allowed.contains(&loss) {
            let names = match self.model_type {
                ModelType::Regressor => "squared_error, huber",
                ModelType::Classifier => "log_loss, hinge",
            };
            return key(
                "loss",
                &format!("{loss:?}"),
                &format!("a {} allows: {names}", self.model_type.as_str()),
            );
        }
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return key("alpha", &self.alpha, "must be a number >= 0");
        }
        if !(0.0..=1.0).contains(&self.l1_ratio) {
            return key("l1_ratio", &self.l1_ratio, "must be a number from 0 to 1");
        }
        if !(self.eta0 > 0.0 && self.eta0.is_finite()) {
            return key("eta0", &self.eta0, "must be a number > 0");
        }
        if !self.power_t.is_finite() {
            return key("power_t", &self.power_t, "must be a finite number");
        }
        if let Some(tol) = self.tol {
            if !(tol >= 0.0 && tol.is_finite()) {
                return key("tol", &tol, "must be a number >= 0, or null to turn early stopping off");
            }
        }
        if self.n_iter_no_change < 1 {
            return key("n_iter_no_change", &self.n_iter_no_change, "must be an integer >= 1");
        }
        if self.batch_size == Some(0) {
            return key(
                "batch_size",
                &0,
                "must be an integer >= 1, or omitted for the whole shard",
            );
        }
        if self.min_workers < 1 {
            return key("min_workers", &self.min_workers, "must be an integer >= 1");
        }
        if !(1..=crate::sgd::MAX_LOCAL_EPOCHS).contains(&self.local_epochs) {
            return key(
                "local_epochs",
                &self.local_epochs,
                &format!("must be an integer from 1 to {}", crate::sgd::MAX_LOCAL_EPOCHS),
            );
        }
        match (self.mode, self.staleness) {
            (PsMode::Ssp, Some(s)) if s > MAX_STALENESS => {
                return key(
                    "staleness",
                    &s,
                    &format!("must be an integer from 0 to {MAX_STALENESS}"),
                );
            }
            (PsMode::Ssp, _) | (_, None) => {}
            (mode, Some(s)) => {
                return key(
                    "staleness",
                    &s,
                    &format!(
                        "applies to mode: ssp only (mode is {}); remove it or set mode: ssp",
                        mode.as_str()
                    ),
                );
            }
        }
        if !(self.huber_delta > 0.0 && self.huber_delta.is_finite()) {
            return key("huber_delta", &self.huber_delta, "must be a number > 0");
        }
        Ok(())
    }
}

pub fn parse_master(text: &str, path: &str) -> Result<MasterSpec, ConfigError> {
    let (kind, rest) = split_kind(text, path, &["aggregation", "parameter-server"])?;
    if kind.as_str() == "aggregation" {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Aggregation {}
        let _: Aggregation = from_mapping(rest, path, "")?;
        Ok(MasterSpec::Aggregation)
    } else {
        let spec: ParameterServerSpec = from_mapping(rest, path, "")?;
        spec.validate(path)?;
        Ok(MasterSpec::ParameterServer(spec))
    }
}
