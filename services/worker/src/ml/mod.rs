//! The model worker's machine learning, free of HTTP: fit an estimator on a dataset (optionally
//! on a bootstrap sample) and predict values or class probabilities for a feature matrix.

pub mod tree;

use crate::data::{Dataset, Target};
use chimera_shared::api::{PredRows, PredictResponse};
use chimera_shared::config::spec::{
    DecisionTreeParams, ElasticNetParams, LinearRegressionParams, LogisticRegressionParams,
};
use chimera_shared::config::EstimatorSpec;
use linfa::prelude::*;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand08::{rngs::StdRng, Rng, SeedableRng};
use tree::{Targets, Tree, TreeParams};

/// A trained model of any supported kind. Serializable: a worker keeps its fitted model in its
/// state directory, so a restart serves the same predictions.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Model {
    Tree(Tree),
    Linear(linfa_linear::FittedLinearRegression<f64>),
    ElasticNet(linfa_elasticnet::ElasticNet<f64>),
    /// Binary logistic regression; probabilities are of class index 1.
    Logistic(linfa_logistic::FittedLogisticRegression<f64, usize>),
    MultiLogistic(linfa_logistic::MultiFittedLogisticRegression<f64, usize>),
    /// A classification shard that holds a single class predicts it with certainty.
    Constant(usize),
}

/// What a model outputs for a matrix: values (regression) or one probability row per sample,
/// columns in the dataset's sorted class order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Values(Array1<f64>),
    Probabilities(Array2<f64>),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FitError(pub String);

/// Per-sample weights for a fit: all ones, or bootstrap counts.
///
/// The seed mixes `random_state` with the worker's name, so two workers with the same data and
/// the same `random_state` draw different samples (the original drew the same one everywhere),
/// while a rerun with the same seeds draws the same one.
pub fn sample_weights(n: usize, bootstrap: bool, random_state: u64, worker: &str) -> Vec<f64> {
    if !bootstrap {
        return vec![1.0; n];
    }
    let mut rng = StdRng::seed_from_u64(bootstrap_seed(random_state, worker));
    let mut w = vec![0.0; n];
    for _ in 0..n {
        w[rng.gen_range(0..n)] += 1.0;
    }
    w
}

/// FNV-1a over the name, mixed with the seed: stable across platforms and Rust versions
/// (std's hasher is not).
pub fn bootstrap_seed(random_state: u64, worker: &str) -> u64 {
    let mut h = chimera_shared::hash::Fnv::seeded(random_state);
    h.eat(worker.as_bytes());
    h.finish()
}

/// Trains `spec` on `data`, each sample counted `weights[i]` times.
pub fn fit(spec: &EstimatorSpec, data: &Dataset, weights: &[f64]) -> Result<Model, FitError> {
    match (spec, &data.target) {
        (EstimatorSpec::DecisionTree(p), Target::Regression(y)) => {
            let y = y.as_slice().expect("a fresh Array1 is contiguous");
            Ok(Model::Tree(Tree::fit(
                data.x.view(),
                Targets::Values(y),
                weights,
                &tree_params(p),
            )))
        }
        (EstimatorSpec::DecisionTree(p), Target::Classification { classes, y }) => Ok(Model::Tree(Tree::fit(
            data.x.view(),
            Targets::Classes {
                y,
                n_classes: classes.len(),
            },
            weights,
            &tree_params(p),
        ))),
        (EstimatorSpec::LinearRegression(p), Target::Regression(y)) => fit_linear(p, data, y, weights),
        (EstimatorSpec::ElasticNet(p), Target::Regression(y)) => fit_elastic_net(p, data, y, weights),
        (EstimatorSpec::LogisticRegression(p), Target::Classification { classes, y }) => {
            fit_logistic(p, data, y, classes.len(), weights)
        }
        // The config layer only admits valid pairs; say so plainly if that ever changes.
        (spec, _) => Err(FitError(format!("{spec:?} does not fit this kind of target"))),
    }
}

fn tree_params(p: &DecisionTreeParams) -> TreeParams {
    TreeParams {
        max_depth: p.max_depth.map(|d| d as usize),
        max_leaf_nodes: p.max_leaf_nodes.map(|d| d as usize),
        min_samples_leaf: p.min_samples_leaf as f64,
        min_samples_split: p.min_samples_split as f64,
    }
}

/// linfa's linear models take no sample weights: a bootstrap sample becomes repeated rows.
fn resample<T: Clone>(x: ArrayView2<'_, f64>, y: &[T], weights: &[f64]) -> (Array2<f64>, Vec<T>) {
    if weights.iter().all(|&w| w == 1.0) {
        return (x.as_standard_layout().into_owned(), y.to_vec());
    }
    let rows: Vec<usize> = weights
        .iter()
        .enumerate()
        .flat_map(|(i, &w)| std::iter::repeat_n(i, w as usize))
        .collect();
    (x.select(Axis(0), &rows), rows.iter().map(|&i| y[i].clone()).collect())
}

fn fit_linear(p: &LinearRegressionParams, data: &Dataset, y: &Array1<f64>, w: &[f64]) -> Result<Model, FitError> {
    let (x, y) = resample(data.x.view(), y.as_slice().unwrap_or(&y.to_vec()), w);
    let ds = linfa::Dataset::new(x, Array1::from(y));
    linfa_linear::LinearRegression::new()
        .with_intercept(p.fit_intercept)
        .fit(&ds)
        .map(Model::Linear)
        .map_err(|e| FitError(format!("linear regression failed: {e}")))
}

fn fit_elastic_net(p: &ElasticNetParams, data: &Dataset, y: &Array1<f64>, w: &[f64]) -> Result<Model, FitError> {
    let (x, y) = resample(data.x.view(), y.as_slice().unwrap_or(&y.to_vec()), w);
    let ds = linfa::Dataset::new(x, Array1::from(y));
    linfa_elasticnet::ElasticNet::params()
        .penalty(p.alpha)
        .l1_ratio(p.l1_ratio)
        .max_iterations(p.max_iter.min(u64::from(u32::MAX)) as u32)
        .tolerance(p.tol)
        .with_intercept(p.fit_intercept)
        .fit(&ds)
        .map(Model::ElasticNet)
        .map_err(|e| FitError(format!("elastic net failed: {e}")))
}

fn fit_logistic(
    p: &LogisticRegressionParams,
    data: &Dataset,
    y: &[usize],
    n_classes: usize,
    w: &[f64],
) -> Result<Model, FitError> {
    if n_classes == 1 {
        return Ok(Model::Constant(0));
    }
    let (x, y) = resample(data.x.view(), y, w);
    let ds = linfa::Dataset::new(x, Array1::from(y));
    // scikit-learn minimizes C·Σ log-loss + ½‖w‖²; linfa minimizes Σ log-loss + ½·alpha·‖w‖².
    let alpha = 1.0 / p.c;
    if n_classes == 2 {
        linfa_logistic::LogisticRegression::default()
            .alpha(alpha)
            .max_iterations(p.max_iter)
            .with_intercept(p.fit_intercept)
            .fit(&ds)
            .map(Model::Logistic)
            .map_err(|e| FitError(format!("logistic regression failed: {e}")))
    } else {
        linfa_logistic::MultiLogisticRegression::default()
            .alpha(alpha)
            .max_iterations(p.max_iter)
            .with_intercept(p.fit_intercept)
            .fit(&ds)
            .map(Model::MultiLogistic)
            .map_err(|e| FitError(format!("logistic regression failed: {e}")))
    }
}

impl Model {
    /// Predicts for `x` (rows × the training columns, in training order).
    pub fn predict(&self, x: ArrayView2<'_, f64>, n_classes: usize) -> Output {
        match self {
            Model::Tree(tree) => {
                if n_classes == 0 {
                    Output::Values(x.rows().into_iter().map(|r| tree.leaf_values(r)[0]).collect())
                } else {
                    let mut out = Array2::zeros((x.nrows(), n_classes));
                    for (i, r) in x.rows().into_iter().enumerate() {
                        out.row_mut(i).assign(&ndarray::ArrayView1::from(tree.leaf_values(r)));
                    }
                    Output::Probabilities(out)
                }
            }
            Model::Linear(m) => Output::Values(m.predict(&x)),
            Model::ElasticNet(m) => Output::Values(m.predict(&x)),
            Model::Logistic(m) => {
                let p1 = m.predict_probabilities(&x);
                let mut out = Array2::zeros((x.nrows(), 2));
                for (i, p) in p1.iter().enumerate() {
                    out[[i, 0]] = 1.0 - p;
                    out[[i, 1]] = *p;
                }
                Output::Probabilities(out)
            }
            Model::MultiLogistic(m) => {
                let probs = m.predict_probabilities(&x);
                // linfa orders columns by its own class list; put them in ours (0..n_classes).
                let mut out = Array2::zeros((x.nrows(), n_classes));
                for (col, &class) in m.classes().iter().enumerate() {
                    out.column_mut(class).assign(&probs.column(col));
                }
                Output::Probabilities(out)
            }
            Model::Constant(class) => {
                let mut out = Array2::zeros((x.nrows(), n_classes.max(1)));
                out.column_mut(*class).fill(1.0);
                Output::Probabilities(out)
            }
        }
    }
}

/// Turns a model output into the wire answer. Classification: labels by arg-max (ties to the
/// first class, as scikit-learn), probabilities per class, and `y_pred_rows` as the labels.
pub fn answer(output: Output, target: &Target) -> PredictResponse {
    match (output, target) {
        (Output::Probabilities(p), Target::Classification { classes, .. }) => {
            let labels = chimera_shared::sgd::labels_of(p.rows(), classes);
            PredictResponse {
                y_pred_rows: PredRows::Labels(labels.clone()),
                classes: Some(classes.clone()),
                y_pred_labels: Some(labels),
                y_pred_proba: Some(p.rows().into_iter().map(|r| r.to_vec()).collect()),
                failed_workers: Vec::new(),
            }
        }
        (output, _) => {
            // Regression. (A probability matrix never meets a regression target: `ml::fit`
            // pairs models with targets; its first column would be the value if it did.)
            let values = match output {
                Output::Values(v) => v.to_vec(),
                Output::Probabilities(p) => p.column(0).to_vec(),
            };
            PredictResponse {
                y_pred_rows: PredRows::Values(values),
                classes: None,
                y_pred_labels: None,
                y_pred_proba: None,
                failed_workers: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_differs_between_workers_and_repeats_per_seed() {
        let a = sample_weights(1000, true, 0, "worker-1");
        let b = sample_weights(1000, true, 0, "worker-2");
        assert_ne!(a, b, "two workers with the same seed must draw different samples");
        assert_eq!(
            a,
            sample_weights(1000, true, 0, "worker-1"),
            "a rerun draws the same sample"
        );
        assert_ne!(a, sample_weights(1000, true, 1, "worker-1"));
        assert_eq!(a.iter().sum::<f64>(), 1000.0);
        // About 1 - 1/e of the rows are drawn at least once.
        let distinct = a.iter().filter(|&&w| w > 0.0).count();
        assert!((580..=680).contains(&distinct), "{distinct}");
        assert_eq!(sample_weights(3, false, 0, "w"), vec![1.0; 3]);
    }
}
