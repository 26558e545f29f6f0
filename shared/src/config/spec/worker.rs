//! `chimera_workers/<name>.yaml`: a worker's kind, its estimator, and the estimator's
//! parameters under scikit-learn's names.

use super::{d_true, from_mapping, from_value, split_kind, yaml_text, ModelType, TaskKind};
use crate::config::ConfigError;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

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
    /// Whether this worker grows trees by histogram (its data is binned once, at load).
    pub fn splits_on_bins(&self) -> bool {
        let tree = match self {
            WorkerKind::Model {
                estimator: EstimatorSpec::DecisionTree(t),
                ..
            } => t,
            WorkerKind::Model {
                estimator: EstimatorSpec::Forest(f),
                ..
            } => &f.tree,
            WorkerKind::Model {
                estimator: EstimatorSpec::Boosting(b),
                ..
            } => &b.tree,
            _ => return false,
        };
        tree.splitter == Splitter::Hist
    }

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
    /// On a cluster, the value of the node label `chimera` this worker must run on (a Swarm
    /// placement constraint, a Kubernetes nodeSelector). Ignored by Compose and local runs.
    pub node: Option<String>,
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
    /// `random_forest` (best splits) and `extra_trees` (random thresholds): bagged trees on
    /// random feature subsets.
    Forest(ForestParams),
    Ridge(RidgeParams),
    /// `gradient_boosting`: shallow regression trees fitted in turn to the loss's gradient.
    Boosting(BoostingParams),
    /// `k_neighbors`: the k nearest training rows vote (or average).
    KNeighbors(KNeighborsParams),
    /// `gaussian_nb`: a normal density per class and feature.
    GaussianNb(GaussianNbParams),
    /// `svm`: a support vector machine (scikit-learn's `SVC` / `SVR`).
    Svm(SvmParams),
}

/// `svm`'s kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SvmKernel {
    Linear,
    Rbf,
}

/// How `svm` is solved. `exact` is libsvm's SMO over the kernel; `approximate` maps the rows
/// to `n_components` Nyström features (RBF) or keeps them (linear) and runs liblinear's dual
/// coordinate descent, as scikit-learn's `Nystroem` + `LinearSVC`/`LinearSVR` do. `auto`
/// picks `exact` up to [`SVM_EXACT_MAX_ROWS`] training rows, `approximate` beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SvmSolver {
    #[default]
    Auto,
    Exact,
    Approximate,
}

/// The most training rows `solver: auto` gives the exact solver: beyond it an exact kernel
/// SVM takes seconds per thousand rows more (scikit-learn's docs advise `Nystroem` there too).
pub const SVM_EXACT_MAX_ROWS: usize = 10_000;

/// The RBF kernel's `gamma`: `scale` (1 / (features × variance of X), scikit-learn's default),
/// `auto` (1 / features), or a number > 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gamma {
    Scale,
    Auto,
    Value(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SvmParams {
    pub c: f64,
    pub kernel: SvmKernel,
    pub gamma: Gamma,
    /// Regression: errors within `epsilon` cost nothing.
    pub epsilon: f64,
    /// Stop when the largest violation of the optimality conditions is below `tol`.
    pub tol: f64,
    /// At most this many solver steps; `None` (scikit-learn's -1) means the solver's own cap.
    pub max_iter: Option<u64>,
    pub solver: SvmSolver,
    /// `approximate` with the RBF kernel: how many training rows serve as Nyström landmarks.
    pub n_components: usize,
    pub random_state: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct SvmFile {
    #[serde(default = "one_f", rename = "C")]
    c: f64,
    #[serde(default = "rbf")]
    kernel: SvmKernel,
    #[serde(default)]
    gamma: Option<Value>,
    #[serde(default = "tenth")]
    epsilon: f64,
    #[serde(default = "d_svm_tol")]
    tol: f64,
    #[serde(default = "minus_one")]
    max_iter: i64,
    /// Accepted for scikit-learn's files: probabilities are always computed here.
    #[serde(default)]
    probability: Option<bool>,
    #[serde(default)]
    solver: SvmSolver,
    #[serde(default = "d_n_components")]
    n_components: u64,
    #[serde(default)]
    random_state: Option<u64>,
}

fn d_n_components() -> u64 {
    300
}
fn rbf() -> SvmKernel {
    SvmKernel::Rbf
}
fn d_svm_tol() -> f64 {
    1e-3
}
fn minus_one() -> i64 {
    -1
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoostingParams {
    pub n_estimators: u64,
    pub learning_rate: f64,
    /// Each stage's tree (scikit-learn's default depth is 3).
    pub tree: DecisionTreeParams,
    /// The share of rows each stage draws, without replacement (stochastic gradient boosting).
    pub subsample: f64,
    pub random_state: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoostingFile {
    #[serde(default = "hundred")]
    n_estimators: u64,
    #[serde(default = "tenth")]
    learning_rate: f64,
    #[serde(default = "three")]
    max_depth: Option<u64>,
    #[serde(default)]
    max_leaf_nodes: Option<u64>,
    #[serde(default = "one")]
    min_samples_leaf: u64,
    #[serde(default = "two")]
    min_samples_split: u64,
    #[serde(default = "one_f")]
    subsample: f64,
    /// Only the default: squared_error (regression), log_loss (classification).
    #[serde(default)]
    loss: Option<String>,
    #[serde(default)]
    splitter: Splitter,
    #[serde(default)]
    random_state: Option<u64>,
}

fn tenth() -> f64 {
    0.1
}
#[allow(clippy::unnecessary_wraps)] // A serde default for an optional field.
fn three() -> Option<u64> {
    Some(3)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KNeighborsParams {
    #[serde(default = "five")]
    pub n_neighbors: u64,
    /// `uniform`, or `distance` (closer rows count more, as 1 / distance).
    #[serde(default = "uniform")]
    pub weights: String,
    /// The Minkowski power: 1 (Manhattan) or 2 (Euclidean).
    #[serde(default = "two")]
    pub p: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianNbParams {
    /// Added to every variance, as a share of the largest feature variance.
    #[serde(default = "d_var_smoothing")]
    pub var_smoothing: f64,
    /// Each class's prior, in sorted class order; null: the class frequencies.
    #[serde(default)]
    pub priors: Option<Vec<f64>>,
}

fn five() -> u64 {
    5
}
fn uniform() -> String {
    "uniform".to_string()
}
fn d_var_smoothing() -> f64 {
    1e-9
}

/// `max_features` as scikit-learn takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFeatures {
    All,
    Sqrt,
    Log2,
    Count(u64),
    Fraction(f64),
}

impl MaxFeatures {
    /// How many of `d` features a split draws (at least one).
    pub fn of(self, d: usize) -> usize {
        let k = match self {
            MaxFeatures::All => d,
            MaxFeatures::Sqrt => (d as f64).sqrt() as usize,
            MaxFeatures::Log2 => (d as f64).log2() as usize,
            MaxFeatures::Count(k) => k as usize,
            MaxFeatures::Fraction(f) => (f * d as f64) as usize,
        };
        k.clamp(1, d.max(1))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    /// `extra_trees`: thresholds drawn at random.
    pub extra: bool,
    pub n_estimators: u64,
    pub max_features: MaxFeatures,
    pub tree: DecisionTreeParams,
    /// Each tree on its own bootstrap sample (scikit-learn's default: forests yes, extra trees no).
    pub bootstrap: bool,
    pub random_state: Option<u64>,
}

/// A forest's file, as written: the tree limits, plus the ensemble's own keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForestFile {
    #[serde(default = "hundred")]
    n_estimators: u64,
    /// `Some(Null)` when written as null (all features), `None` when absent (the default).
    #[serde(default, deserialize_with = "present")]
    max_features: Option<Value>,
    #[serde(default)]
    max_depth: Option<u64>,
    #[serde(default)]
    max_leaf_nodes: Option<u64>,
    #[serde(default = "one")]
    min_samples_leaf: u64,
    #[serde(default = "two")]
    min_samples_split: u64,
    #[serde(default)]
    bootstrap: Option<bool>,
    #[serde(default)]
    criterion: Option<Criterion>,
    #[serde(default)]
    splitter: Splitter,
    #[serde(default)]
    random_state: Option<u64>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RidgeParams {
    #[serde(default = "one_f")]
    pub alpha: f64,
    #[serde(default = "d_true")]
    pub fit_intercept: bool,
    /// Accepted as scikit-learn does; the closed-form solve draws nothing.
    #[serde(default)]
    pub random_state: Option<u64>,
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
    /// Accepted as scikit-learn does; a tree that tries every feature draws nothing.
    #[serde(default)]
    pub random_state: Option<u64>,
    /// `gini` or `entropy` (alias `log_loss`) for classification, `squared_error` for
    /// regression; null takes the task's default (gini, squared error).
    #[serde(default)]
    pub criterion: Option<Criterion>,
    /// How a split is searched: `hist` (the default) over at most 256 quantile bins per
    /// feature, or `exact` (alias `best`, scikit-learn's name) over every distinct value.
    #[serde(default)]
    pub splitter: Splitter,
}

/// A tree's split quality measure, under scikit-learn's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    Gini,
    #[serde(alias = "log_loss")]
    Entropy,
    SquaredError,
}

/// How a tree searches its splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Splitter {
    /// Per-node histograms over bins cut once at load time (LightGBM's method).
    #[default]
    Hist,
    /// Every threshold between distinct values, as scikit-learn's `splitter="best"`.
    #[serde(alias = "best")]
    Exact,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams {
            max_depth: None,
            max_leaf_nodes: None,
            min_samples_leaf: 1,
            min_samples_split: 2,
            random_state: None,
            criterion: None,
            splitter: Splitter::Hist,
        }
    }
}

impl DecisionTreeParams {
    /// The trees of a forest or a boosting: their limits, and how many.
    fn validate_ensemble(&self, task: TaskKind, n_estimators: u64, path: &str) -> Result<(), ConfigError> {
        self.validate(task, path)?;
        if !(1..=10_000).contains(&n_estimators) {
            return Err(ConfigError::key(
                path,
                "params.n_estimators",
                n_estimators,
                "must be an integer from 1 to 10000",
            ));
        }
        Ok(())
    }

    fn validate(&self, task: TaskKind, path: &str) -> Result<(), ConfigError> {
        let key = |k: &str, v: &dyn std::fmt::Display, rule: &str| {
            Err(ConfigError::key(path, format!("params.{k}"), v, rule))
        };
        match (task, self.criterion) {
            (_, None)
            | (TaskKind::Classification, Some(Criterion::Gini | Criterion::Entropy))
            | (TaskKind::Regression, Some(Criterion::SquaredError)) => {}
            (TaskKind::Classification, Some(_)) => {
                return key(
                    "criterion",
                    &"squared_error",
                    "a classifier's criterion is gini or entropy",
                )
            }
            (TaskKind::Regression, Some(c)) => {
                let name = if c == Criterion::Gini { "gini" } else { "entropy" };
                return key("criterion", &name, "a regressor's criterion is squared_error");
            }
        }
        if self.max_depth == Some(0) {
            return key("max_depth", &0, "must be an integer >= 1, or null for no limit");
        }
        if matches!(self.max_leaf_nodes, Some(n) if n < 2) {
            return key(
                "max_leaf_nodes",
                &self.max_leaf_nodes.unwrap_or(0),
                "must be an integer >= 2, or null for no limit",
            );
        }
        if self.min_samples_leaf < 1 {
            return key("min_samples_leaf", &self.min_samples_leaf, "must be an integer >= 1");
        }
        if self.min_samples_split < 2 {
            return key("min_samples_split", &self.min_samples_split, "must be an integer >= 2");
        }
        Ok(())
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
    /// Accepted as scikit-learn does; the solver here draws nothing.
    #[serde(default)]
    pub random_state: Option<u64>,
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
    /// Accepted as scikit-learn does; cyclic coordinate descent draws nothing.
    #[serde(default)]
    pub random_state: Option<u64>,
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
    #[serde(default)]
    random_state: Option<u64>,
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
pub const REGRESSION_MODELS: &[&str] = &[
    "decision_tree",
    "random_forest",
    "extra_trees",
    "gradient_boosting",
    "k_neighbors",
    "svm",
    "linear_regression",
    "ridge",
    "lasso",
    "elastic_net",
];
pub const CLASSIFICATION_MODELS: &[&str] = &[
    "decision_tree",
    "random_forest",
    "extra_trees",
    "gradient_boosting",
    "k_neighbors",
    "gaussian_nb",
    "svm",
    "logistic_regression",
];

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
                p.validate(task, path)?;
                EstimatorSpec::DecisionTree(p)
            }
            "random_forest" | "extra_trees" => {
                let f: ForestFile = from_value(params, path, "params.")?;
                let tree = DecisionTreeParams {
                    max_depth: f.max_depth,
                    max_leaf_nodes: f.max_leaf_nodes,
                    min_samples_leaf: f.min_samples_leaf,
                    min_samples_split: f.min_samples_split,
                    random_state: f.random_state,
                    criterion: f.criterion,
                    splitter: f.splitter,
                };
                tree.validate_ensemble(task, f.n_estimators, path)?;
                // scikit-learn's defaults: sqrt of the features for classifiers, all of them
                // for regressors.
                let max_features = match f.max_features {
                    None => {
                        if task == TaskKind::Classification {
                            MaxFeatures::Sqrt
                        } else {
                            MaxFeatures::All
                        }
                    }
                    Some(Value::Null) => MaxFeatures::All,
                    Some(Value::String(s)) if s == "sqrt" => MaxFeatures::Sqrt,
                    Some(Value::String(s)) if s == "log2" => MaxFeatures::Log2,
                    Some(Value::Number(n)) if n.as_u64().is_some_and(|k| k >= 1) => {
                        MaxFeatures::Count(n.as_u64().unwrap_or(1))
                    }
                    Some(Value::Number(n))
                        if n.as_f64().is_some_and(|x| x > 0.0 && x <= 1.0) && n.as_u64().is_none() =>
                    {
                        MaxFeatures::Fraction(n.as_f64().unwrap_or(1.0))
                    }
                    Some(other) => {
                        return key(
                            "max_features",
                            &yaml_text(&other),
                            "must be sqrt, log2, an integer >= 1, a fraction in (0, 1], or null for all features",
                        )
                    }
                };
                let extra = model == "extra_trees";
                EstimatorSpec::Forest(ForestParams {
                    extra,
                    n_estimators: f.n_estimators,
                    max_features,
                    tree,
                    bootstrap: f.bootstrap.unwrap_or(!extra),
                    random_state: f.random_state,
                })
            }
            "gradient_boosting" => {
                let f: BoostingFile = from_value(params, path, "params.")?;
                let tree = DecisionTreeParams {
                    max_depth: f.max_depth,
                    max_leaf_nodes: f.max_leaf_nodes,
                    min_samples_leaf: f.min_samples_leaf,
                    min_samples_split: f.min_samples_split,
                    random_state: f.random_state,
                    // Stages are regression trees on the loss's gradient.
                    criterion: None,
                    splitter: f.splitter,
                };
                tree.validate_ensemble(TaskKind::Regression, f.n_estimators, path)?;
                if !(f.learning_rate > 0.0 && f.learning_rate.is_finite()) {
                    return key("learning_rate", &f.learning_rate, "must be a number > 0");
                }
                if !(f.subsample > 0.0 && f.subsample <= 1.0) {
                    return key("subsample", &f.subsample, "must be a number in (0, 1]");
                }
                let default_loss = if task == TaskKind::Classification {
                    "log_loss"
                } else {
                    "squared_error"
                };
                if f.loss.as_deref().is_some_and(|l| l != default_loss) {
                    return key(
                        "loss",
                        &f.loss.unwrap_or_default(),
                        &format!("must be {default_loss} (the other losses are not supported yet)"),
                    );
                }
                EstimatorSpec::Boosting(BoostingParams {
                    n_estimators: f.n_estimators,
                    learning_rate: f.learning_rate,
                    tree,
                    subsample: f.subsample,
                    random_state: f.random_state,
                })
            }
            "k_neighbors" => {
                let p: KNeighborsParams = from_value(params, path, "params.")?;
                if !(1..=10_000).contains(&p.n_neighbors) {
                    return key("n_neighbors", &p.n_neighbors, "must be an integer from 1 to 10000");
                }
                if p.weights != "uniform" && p.weights != "distance" {
                    return key("weights", &p.weights, "must be uniform or distance");
                }
                if p.p != 1 && p.p != 2 {
                    return key("p", &p.p, "must be 1 (Manhattan) or 2 (Euclidean)");
                }
                EstimatorSpec::KNeighbors(p)
            }
            "gaussian_nb" => {
                let p: GaussianNbParams = from_value(params, path, "params.")?;
                if !(p.var_smoothing >= 0.0 && p.var_smoothing.is_finite()) {
                    return key("var_smoothing", &p.var_smoothing, "must be a number >= 0");
                }
                if let Some(priors) = &p.priors {
                    let sum: f64 = priors.iter().sum();
                    if priors.iter().any(|q| !(q.is_finite() && *q >= 0.0)) || (sum - 1.0).abs() > 1e-6 {
                        return key(
                            "priors",
                            &format!("{priors:?}"),
                            "must be numbers >= 0 that sum to 1, one per class in sorted class order (or null: the class frequencies)",
                        );
                    }
                }
                EstimatorSpec::GaussianNb(p)
            }
            "svm" => {
                let f: SvmFile = from_value(params, path, "params.")?;
                if !(f.c > 0.0 && f.c.is_finite()) {
                    return key("C", &f.c, "must be a number > 0");
                }
                if !(f.epsilon >= 0.0 && f.epsilon.is_finite()) {
                    return key("epsilon", &f.epsilon, "must be a number >= 0");
                }
                if !(f.tol > 0.0 && f.tol.is_finite()) {
                    return key("tol", &f.tol, "must be a number > 0");
                }
                let max_iter = match f.max_iter {
                    -1 => None,
                    n if n >= 1 => Some(n.unsigned_abs()),
                    n => return key("max_iter", &n, "must be an integer >= 1, or -1 for no limit"),
                };
                let gamma = match f.gamma {
                    None => Gamma::Scale,
                    Some(Value::String(g)) if g == "scale" => Gamma::Scale,
                    Some(Value::String(g)) if g == "auto" => Gamma::Auto,
                    Some(Value::Number(n)) if n.as_f64().is_some_and(|g| g > 0.0 && g.is_finite()) => {
                        Gamma::Value(n.as_f64().unwrap_or(1.0))
                    }
                    Some(other) => return key("gamma", &yaml_text(&other), "must be scale, auto, or a number > 0"),
                };
                if !(1..=4096).contains(&f.n_components) {
                    return key("n_components", &f.n_components, "must be an integer from 1 to 4096");
                }
                EstimatorSpec::Svm(SvmParams {
                    c: f.c,
                    kernel: f.kernel,
                    gamma,
                    epsilon: f.epsilon,
                    tol: f.tol,
                    max_iter,
                    solver: f.solver,
                    n_components: usize::try_from(f.n_components).unwrap_or(4096),
                    random_state: f.random_state,
                })
            }
            "ridge" => {
                let p: RidgeParams = from_value(params, path, "params.")?;
                if !(p.alpha >= 0.0 && p.alpha.is_finite()) {
                    return key("alpha", &p.alpha, "must be a number >= 0");
                }
                EstimatorSpec::Ridge(p)
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
                    random_state: p.random_state,
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
                #[serde(default)]
                node: Option<String>,
            }
            let s: Sgd = from_mapping(rest, path, "")?;
            let knobs = knobs(s.mem_limit, s.delay_ms, s.node, path)?;
            Ok(WorkerSpec {
                kind: WorkerKind::Sgd {
                    model_type: s.model_type,
                },
                knobs,
            })
        }
        task_name => {
            /// A model worker's file, as written.
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct ModelFile {
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
                #[serde(default)]
                node: Option<String>,
            }
            let task = if task_name == "regression" {
                TaskKind::Regression
            } else {
                TaskKind::Classification
            };
            let m: ModelFile = from_mapping(rest, path, "")?;
            let estimator = EstimatorSpec::parse(task, m.model.trim(), m.params, path)?;
            Ok(WorkerSpec {
                kind: WorkerKind::Model {
                    task,
                    estimator,
                    bootstrap: m.bootstrap,
                    random_state: m.random_state,
                },
                knobs: knobs(m.mem_limit, m.delay_ms, m.node, path)?,
            })
        }
    }
}

fn knobs(mem_limit: Option<String>, delay_ms: u64, node: Option<String>, path: &str) -> Result<Knobs, ConfigError> {
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
    if let Some(label) = &node {
        // A label value both Swarm constraints and Kubernetes selectors accept.
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && label.starts_with(|c: char| c.is_ascii_alphanumeric())
            && label.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err(ConfigError::key(
                path,
                "node",
                label,
                "must be a node label value: 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            ));
        }
    }
    Ok(Knobs {
        mem_limit,
        delay_ms,
        node,
    })
}
