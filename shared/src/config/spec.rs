//! `chimera_master.yaml` and `chimera_workers/<name>.yaml`: what each node does.
//!
//! Keys take scikit-learn's names where scikit-learn has them. Unknown keys, unknown models and
//! out-of-range values are errors naming the file, the key and the allowed values.

use super::ConfigError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use std::path::Path;

/// Regression or classification: what a model worker learns and the master aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Regression,
    Classification,
}

/// `model_type` of the parameter server and its SGD workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    Regressor,
    Classifier,
}

impl ModelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::Regressor => "regressor",
            ModelType::Classifier => "classifier",
        }
    }
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    SquaredError,
    Huber,
    LogLoss,
    Hinge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SgdMode {
    /// Synchronous SGD: workers return gradients, the master steps.
    Gradient,
    /// FedAvg: workers run `local_epochs` from the weights sent, the master averages by count.
    ModelAveraging,
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
    pub mode: SgdMode,
    #[serde(default = "d_local_epochs")]
    pub local_epochs: u64,
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
fn d_mode() -> SgdMode {
    SgdMode::Gradient
}
fn d_local_epochs() -> u64 {
    1
}
fn d_true() -> bool {
    true
}
fn d_huber_delta() -> f64 {
    0.1
}

impl ParameterServerSpec {
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
        if self.local_epochs < 1 {
            return key("local_epochs", &self.local_epochs, "must be an integer >= 1");
        }
        if !(self.huber_delta > 0.0 && self.huber_delta.is_finite()) {
            return key("huber_delta", &self.huber_delta, "must be a number > 0");
        }
        Ok(())
    }
}

pub fn parse_master(text: &str, path: &str) -> Result<MasterSpec, ConfigError> {
    let (kind, rest) = split_kind(text, path, &["aggregation", "parameter-server"])?;
    match kind.as_str() {
        "aggregation" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Aggregation {}
            let _: Aggregation = from_mapping(rest, path, "")?;
            Ok(MasterSpec::Aggregation)
        }
        _ => {
            let spec: ParameterServerSpec = from_mapping(rest, path, "")?;
            spec.validate(path)?;
            Ok(MasterSpec::ParameterServer(spec))
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The workers
// ----------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub enum WorkerKind {
    /// A model worker for bagging: one estimator on its data.
    Model {
        task: TaskKind,
        estimator: EstimatorSpec,
        bootstrap: bool,
        random_state: u64,
    },
    /// An SGD worker: gradients over its shard for the parameter server.
    Sgd { model_type: ModelType },
}

impl WorkerKind {
    /// What the worker's data holds: an SGD worker's by its `model_type`.
    pub fn task(&self) -> TaskKind {
        match self {
            WorkerKind::Model { task, .. } => *task,
            WorkerKind::Sgd {
                model_type: ModelType::Regressor,
            } => TaskKind::Regression,
            WorkerKind::Sgd {
                model_type: ModelType::Classifier,
            } => TaskKind::Classification,
        }
    }
}

/// Teaching knobs, off by default: they make a worker behave like a small or slow machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Knobs {
    /// A Compose memory limit such as `"256m"`.
    pub mem_limit: Option<String>,
    /// Milliseconds added to every request, to simulate a straggler.
    pub delay_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSpec {
    pub kind: WorkerKind,
    pub knobs: Knobs,
}

/// An estimator with its hyper-parameters, named as scikit-learn names them.
#[derive(Debug, Clone, PartialEq)]
pub enum EstimatorSpec {
    DecisionTree(DecisionTreeParams),
    LinearRegression(LinearRegressionParams),
    LogisticRegression(LogisticRegressionParams),
    /// `lasso` is elastic net with `l1_ratio: 1`.
    ElasticNet(ElasticNetParams),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionTreeParams {
    #[serde(default)]
    pub max_depth: Option<u64>,
    #[serde(default)]
    pub max_leaf_nodes: Option<u64>,
    #[serde(default = "one")]
    pub min_samples_leaf: u64,
    #[serde(default = "two")]
    pub min_samples_split: u64,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams {
            max_depth: None,
            max_leaf_nodes: None,
            min_samples_leaf: 1,
            min_samples_split: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearRegressionParams {
    #[serde(default = "d_true")]
    pub fit_intercept: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticRegressionParams {
    /// Inverse of the L2 strength, as in scikit-learn.
    #[serde(default = "one_f", rename = "C")]
    pub c: f64,
    #[serde(default = "hundred")]
    pub max_iter: u64,
    #[serde(default = "d_true")]
    pub fit_intercept: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticNetParams {
    #[serde(default = "one_f")]
    pub alpha: f64,
    #[serde(default = "half")]
    pub l1_ratio: f64,
    #[serde(default = "thousand")]
    pub max_iter: u64,
    #[serde(default = "d_tol")]
    pub tol: f64,
    #[serde(default = "d_true")]
    pub fit_intercept: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct LassoParams {
    #[serde(default = "one_f")]
    alpha: f64,
    #[serde(default = "thousand")]
    max_iter: u64,
    #[serde(default = "d_tol")]
    tol: f64,
    #[serde(default = "d_true")]
    fit_intercept: bool,
}

fn one() -> u64 {
    1
}
fn two() -> u64 {
    2
}
fn hundred() -> u64 {
    100
}
fn thousand() -> u64 {
    1000
}
fn one_f() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn d_tol() -> f64 {
    1e-4
}

/// The models a model worker offers, by task, as the names users write in `model:`.
pub const REGRESSION_MODELS: &[&str] = &["decision_tree", "linear_regression", "lasso", "elastic_net"];
pub const CLASSIFICATION_MODELS: &[&str] = &["decision_tree", "logistic_regression"];

impl EstimatorSpec {
    fn parse(task: TaskKind, model: &str, params: Value, path: &str) -> Result<Self, ConfigError> {
        let allowed = match task {
            TaskKind::Regression => REGRESSION_MODELS,
            TaskKind::Classification => CLASSIFICATION_MODELS,
        };
        if !allowed.contains(&model) {
            return Err(ConfigError::key(
                path,
                "model",
                model,
                format!(
                    "a {} worker allows: {}",
                    if task == TaskKind::Regression {
                        "regression"
                    } else {
                        "classification"
                    },
                    allowed.join(", ")
                ),
            ));
        }
        let params = match params {
            Value::Null => Value::Mapping(Mapping::new()),
            Value::Mapping(m) => Value::Mapping(m),
            other => {
                return Err(ConfigError::key(
                    path,
                    "params",
                    yaml_text(&other),
                    "must be a mapping of hyper-parameters",
                ))
            }
        };
        let key = |k: &str, v: &dyn std::fmt::Display, rule: &str| {
            Err(ConfigError::key(path, format!("params.{k}"), v, rule))
        };
        let spec = match model {
            "decision_tree" => {
                let p: DecisionTreeParams = from_value(params, path, "params.")?;
                if p.max_depth == Some(0) {
                    return key("max_depth", &0, "must be an integer >= 1, or null for no limit");
                }
                if matches!(p.max_leaf_nodes, Some(n) if n < 2) {
                    return key(
                        "max_leaf_nodes",
                        &p.max_leaf_nodes.unwrap_or(0),
                        "must be an integer >= 2, or null for no limit",
                    );
                }
                if p.min_samples_leaf < 1 {
                    return key("min_samples_leaf", &p.min_samples_leaf, "must be an integer >= 1");
                }
                if p.min_samples_split < 2 {
                    return key("min_samples_split", &p.min_samples_split, "must be an integer >= 2");
                }
                EstimatorSpec::DecisionTree(p)
            }
            "linear_regression" => EstimatorSpec::LinearRegression(from_value(params, path, "params.")?),
            "logistic_regression" => {
                let p: LogisticRegressionParams = from_value(params, path, "params.")?;
                if !(p.c > 0.0 && p.c.is_finite()) {
                    return key("C", &p.c, "must be a number > 0");
                }
                if p.max_iter < 1 {
                    return key("max_iter", &p.max_iter, "must be an integer >= 1");
                }
                EstimatorSpec::LogisticRegression(p)
            }
            "lasso" => {
                let p: LassoParams = from_value(params, path, "params.")?;
                let p = ElasticNetParams {
                    alpha: p.alpha,
                    l1_ratio: 1.0,
                    max_iter: p.max_iter,
                    tol: p.tol,
                    fit_intercept: p.fit_intercept,
                };
                p.validate(path)?;
                EstimatorSpec::ElasticNet(p)
            }
            _ => {
                let p: ElasticNetParams = from_value(params, path, "params.")?;
                p.validate(path)?;
                EstimatorSpec::ElasticNet(p)
            }
        };
        Ok(spec)
    }
}

impl ElasticNetParams {
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(ConfigError::key(
                path,
                "params.alpha",
                self.alpha,
                "must be a number >= 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.l1_ratio) {
            return Err(ConfigError::key(
                path,
                "params.l1_ratio",
                self.l1_ratio,
                "must be a number from 0 to 1",
            ));
        }
        if self.max_iter < 1 {
            return Err(ConfigError::key(
                path,
                "params.max_iter",
                self.max_iter,
                "must be an integer >= 1",
            ));
        }
        if !(self.tol > 0.0 && self.tol.is_finite()) {
            return Err(ConfigError::key(path, "params.tol", self.tol, "must be a number > 0"));
        }
        Ok(())
    }
}

pub fn parse_worker(text: &str, path: &str) -> Result<WorkerSpec, ConfigError> {
    let (kind, rest) = split_kind(text, path, &["regression", "classification", "sgd"])?;
    match kind.as_str() {
        "sgd" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Sgd {
                model_type: ModelType,
                #[serde(default)]
                mem_limit: Option<String>,
                #[serde(default)]
                delay_ms: u64,
            }
            let s: Sgd = from_mapping(rest, path, "")?;
            let knobs = knobs(s.mem_limit, s.delay_ms, path)?;
            Ok(WorkerSpec {
                kind: WorkerKind::Sgd {
                    model_type: s.model_type,
                },
                knobs,
            })
        }
        task_name => {
            let task = if task_name == "regression" {
                TaskKind::Regression
            } else {
                TaskKind::Classification
            };
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Model {
                model: String,
                #[serde(default)]
                params: Value,
                #[serde(default)]
                bootstrap: bool,
                #[serde(default)]
                random_state: u64,
                #[serde(default)]
                mem_limit: Option<String>,
                #[serde(default)]
                delay_ms: u64,
            }
            let m: Model = from_mapping(rest, path, "")?;
            let estimator = EstimatorSpec::parse(task, m.model.trim(), m.params, path)?;
            Ok(WorkerSpec {
                kind: WorkerKind::Model {
                    task,
                    estimator,
                    bootstrap: m.bootstrap,
                    random_state: m.random_state,
                },
                knobs: knobs(m.mem_limit, m.delay_ms, path)?,
            })
        }
    }
}

fn knobs(mem_limit: Option<String>, delay_ms: u64, path: &str) -> Result<Knobs, ConfigError> {
    if let Some(limit) = &mem_limit {
        let digits = limit.trim_end_matches(['b', 'k', 'm', 'g', 'B', 'K', 'M', 'G']);
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.len() == limit.len() && limit.len() < 7
        {
            return Err(ConfigError::key(
                path,
                "mem_limit",
                limit,
                "must be a size such as 64m or 1g (at least 6m)",
            ));
        }
    }
    if delay_ms > 600_000 {
        return Err(ConfigError::key(
            path,
            "delay_ms",
            delay_ms,
            "must be at most 600000 (ten minutes)",
        ));
    }
    Ok(Knobs { mem_limit, delay_ms })
}

// ----------------------------------------------------------------------------------------------
// YAML plumbing
// ----------------------------------------------------------------------------------------------

/// Splits `kind:` from the rest of a spec, so each kind can reject keys it does not know.
fn split_kind(text: &str, path: &str, kinds: &[&str]) -> Result<(String, Mapping), ConfigError> {
    let value: Value =
        serde_yaml::from_str(text).map_err(|e| ConfigError::file(path, format!("not valid YAML: {e}")))?;
    let mut map = match value {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(ConfigError::file(
                path,
                format!("is empty; it needs at least `kind:` ({})", kinds.join(", ")),
            ))
        }
        _ => return Err(ConfigError::file(path, "must be a YAML mapping of keys to values")),
    };
    let kind = match map.remove("kind") {
        None => {
            return Err(ConfigError::key(
                path,
                "kind",
                "(missing)",
                format!("is required; allowed: {}", kinds.join(", ")),
            ))
        }
        Some(Value::String(s)) if kinds.contains(&s.trim()) => s.trim().to_string(),
        Some(other) => {
            return Err(ConfigError::key(
                path,
                "kind",
                yaml_text(&other),
                format!("allowed: {}", kinds.join(", ")),
            ))
        }
    };
    Ok((kind, map))
}

fn from_mapping<T: DeserializeOwned>(map: Mapping, path: &str, prefix: &str) -> Result<T, ConfigError> {
    from_value(Value::Mapping(map), path, prefix)
}

/// Deserializes and turns serde's message into our one-line form naming file and key.
fn from_value<T: DeserializeOwned>(value: Value, path: &str, prefix: &str) -> Result<T, ConfigError> {
    serde_yaml::from_value(value).map_err(|e| {
        let msg = e.to_string();
        // serde says "unknown field `x`, expected one of `a`, `b`" or "unknown variant `x`, ...".
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let expected = expected.trim_start_matches(", ");
            ConfigError::key(
                path,
                format!("{prefix}{field}"),
                "(unknown key)",
                format!("allowed keys: {}", clean(expected)),
            )
        } else if msg.starts_with("unknown variant") {
            ConfigError::file(path, format!("{prefix}{}", clean(&msg)))
        } else {
            ConfigError::file(path, format!("{prefix}{}", clean(&msg)))
        }
    })
}

fn clean(text: &str) -> String {
    text.replace('`', "")
        .replace("expected one of ", "")
        .replace("expected ", "")
}

fn yaml_text(v: &Value) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Reads and parses a spec file; `what` is `master` or `worker`.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ConfigError::file(path.display(), "does not exist")
        } else {
            ConfigError::file(path.display(), format!("cannot read: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: &str = "chimera_workers/w1.yaml";

    fn worker_err(text: &str) -> String {
        parse_worker(text, W).unwrap_err().to_string()
    }

    fn master_err(text: &str) -> String {
        parse_master(text, "chimera_master.yaml").unwrap_err().to_string()
    }

    #[test]
    fn master_defaults_are_the_designs() {
        let MasterSpec::ParameterServer(s) =
            parse_master("kind: parameter-server\nmodel_type: regressor\n", "m").unwrap()
        else {
            panic!("wrong kind")
        };
        assert_eq!(s.max_iter, 1000);
        assert_eq!(s.epsilon, 1e-11);
        assert_eq!(s.loss(), Loss::SquaredError);
        assert_eq!(s.penalty, Penalty::L2);
        assert_eq!(s.alpha, 1e-4);
        assert_eq!(s.learning_rate, LearningRate::Constant);
        assert_eq!(s.eta0, 0.1);
        assert_eq!(s.tol, None);
        assert!(s.standardize);
        assert_eq!(s.mode, SgdMode::Gradient);
        assert_eq!(s.batch_size, None);
        let MasterSpec::ParameterServer(c) =
            parse_master("kind: parameter-server\nmodel_type: classifier\n", "m").unwrap()
        else {
            panic!("wrong kind")
        };
        assert_eq!(
            c.loss(),
            Loss::LogLoss,
            "a classifier defaults to log_loss, not the seed's hinge"
        );
        assert_eq!(
            parse_master("kind: aggregation\n", "m").unwrap(),
            MasterSpec::Aggregation
        );
    }

    #[test]
    fn master_kind_is_required_and_checked() {
        assert_eq!(
            master_err("{}"),
            "chimera_master.yaml: kind: (missing) is invalid: is required; allowed: aggregation, parameter-server"
        );
        assert!(master_err("kind: boss").contains("kind: boss is invalid: allowed: aggregation, parameter-server"));
        assert!(master_err("").contains("is empty"));
        assert!(master_err("kind: [").contains("not valid YAML"));
    }

    #[test]
    fn master_unknown_keys_name_the_allowed_ones() {
        let e = master_err("kind: aggregation\nmax_iter: 3\n");
        assert!(e.contains("max_iter: (unknown key)"), "{e}");
        let e = master_err("kind: parameter-server\nmodel_type: regressor\nlearning_rat: constant\n");
        assert!(
            e.contains("learning_rat: (unknown key)") && e.contains("learning_rate"),
            "{e}"
        );
    }

    #[test]
    fn master_rules() {
        let ps = "kind: parameter-server\nmodel_type: regressor\n";
        assert!(master_err(&format!("{ps}alpha: -1")).contains("alpha: -1 is invalid: must be a number >= 0"));
        assert!(master_err(&format!("{ps}eta0: 0")).contains("eta0: 0 is invalid: must be a number > 0"));
        assert!(master_err(&format!("{ps}loss: hinge")).contains("a regressor allows: squared_error, huber"));
        assert!(master_err(&format!("{ps}loss: cubic")).contains("unknown variant"));
        assert!(master_err(&format!("{ps}l1_ratio: 2")).contains("from 0 to 1"));
        assert!(master_err(&format!("{ps}max_iter: 0")).contains("max_iter: 0"));
        assert!(master_err(&format!("{ps}batch_size: 0")).contains("batch_size"));
        assert!(master_err(&format!("{ps}huber_delta: 0")).contains("huber_delta"));
        assert!(master_err(&format!("{ps}tol: -1")).contains("tol"));
        assert!(master_err(&format!("{ps}mode: async")).contains("gradient"));
        assert!(master_err("kind: parameter-server\nmodel_type: forest\n").contains("regressor"));
        assert!(master_err("kind: parameter-server\n").contains("model_type"));
    }

    #[test]
    fn worker_model_spec() {
        let spec = parse_worker(
            "kind: classification\nmodel: decision_tree\nparams:\n  max_depth: 5\n  max_leaf_nodes: 15\nbootstrap: true\nrandom_state: 7\n",
            W,
        )
        .unwrap();
        let WorkerKind::Model {
            task,
            estimator,
            bootstrap,
            random_state,
        } = spec.kind
        else {
            panic!()
        };
        assert_eq!(task, TaskKind::Classification);
        assert!(bootstrap);
        assert_eq!(random_state, 7);
        let EstimatorSpec::DecisionTree(p) = estimator else {
            panic!()
        };
        assert_eq!(
            (p.max_depth, p.max_leaf_nodes, p.min_samples_leaf),
            (Some(5), Some(15), 1)
        );
    }

    #[test]
    fn worker_defaults() {
        let spec = parse_worker("kind: regression\nmodel: linear_regression\n", W).unwrap();
        let WorkerKind::Model {
            bootstrap,
            random_state,
            ..
        } = spec.kind
        else {
            panic!()
        };
        assert!(!bootstrap);
        assert_eq!(random_state, 0);
        assert_eq!(spec.knobs, Knobs::default());
        let lasso = parse_worker("kind: regression\nmodel: lasso\nparams: {alpha: 0.1}\n", W).unwrap();
        let WorkerKind::Model {
            estimator: EstimatorSpec::ElasticNet(p),
            ..
        } = lasso.kind
        else {
            panic!()
        };
        assert_eq!((p.alpha, p.l1_ratio), (0.1, 1.0));
    }

    #[test]
    fn worker_unknown_model_names_the_allowed_ones() {
        assert_eq!(
            worker_err("kind: classification\nmodel: random_forest\n"),
            "chimera_workers/w1.yaml: model: random_forest is invalid: a classification worker allows: decision_tree, logistic_regression"
        );
        assert!(worker_err("kind: regression\nmodel: logistic_regression\n")
            .contains("linear_regression, lasso, elastic_net"));
    }

    #[test]
    fn worker_unknown_params_and_keys_are_errors() {
        let e = worker_err("kind: regression\nmodel: decision_tree\nparams: {max_dept: 3}\n");
        assert!(
            e.contains("params.max_dept: (unknown key)") && e.contains("max_depth"),
            "{e}"
        );
        let e = worker_err("kind: regression\nmodel: decision_tree\nbootstrapp: true\n");
        assert!(e.contains("bootstrapp: (unknown key)"), "{e}");
        let e = worker_err("kind: regression\nmodel: lasso\nparams: {l1_ratio: 0.5}\n");
        assert!(e.contains("params.l1_ratio: (unknown key)"), "{e}");
    }

    #[test]
    fn worker_param_ranges() {
        assert!(
            worker_err("kind: regression\nmodel: decision_tree\nparams: {max_depth: 0}\n")
                .contains("params.max_depth: 0")
        );
        assert!(
            worker_err("kind: regression\nmodel: decision_tree\nparams: {max_leaf_nodes: 1}\n")
                .contains("params.max_leaf_nodes: 1")
        );
        assert!(
            worker_err("kind: regression\nmodel: decision_tree\nparams: {min_samples_leaf: 0}\n")
                .contains("min_samples_leaf")
        );
        assert!(worker_err("kind: regression\nmodel: decision_tree\nparams: {max_depth: -3}\n").contains("params."));
        assert!(
            worker_err("kind: classification\nmodel: logistic_regression\nparams: {C: 0}\n").contains("params.C: 0")
        );
        assert!(
            worker_err("kind: regression\nmodel: elastic_net\nparams: {l1_ratio: 1.5}\n")
                .contains("params.l1_ratio: 1.5")
        );
        assert!(worker_err("kind: regression\nmodel: decision_tree\nparams: 3\n").contains("params: 3"));
    }

    #[test]
    fn worker_kind_and_sgd() {
        assert!(worker_err("kind: clustering\n").contains("allowed: regression, classification, sgd"));
        let s = parse_worker("kind: sgd\nmodel_type: classifier\ndelay_ms: 20\n", W).unwrap();
        assert_eq!(
            s.kind,
            WorkerKind::Sgd {
                model_type: ModelType::Classifier
            }
        );
        assert_eq!(s.knobs.delay_ms, 20);
        assert!(worker_err("kind: sgd\n").contains("model_type"));
        assert!(worker_err("kind: sgd\nmodel_type: regressor\nmodel: x\n").contains("model: (unknown key)"));
    }

    #[test]
    fn worker_knobs() {
        let s = parse_worker("kind: sgd\nmodel_type: regressor\nmem_limit: 64m\n", W).unwrap();
        assert_eq!(s.knobs.mem_limit.as_deref(), Some("64m"));
        assert!(worker_err("kind: sgd\nmodel_type: regressor\nmem_limit: lots\n").contains("mem_limit"));
        assert!(worker_err("kind: sgd\nmodel_type: regressor\ndelay_ms: 700000\n").contains("delay_ms"));
    }
}
