//! The model worker's machine learning, free of HTTP: fit an estimator on a dataset (optionally
//! on a bootstrap sample) and predict values or class probabilities for a feature matrix.

pub mod svm;
pub mod tree;

use crate::data::{Dataset, Target};
use chimera_shared::api::{PredRows, PredictResponse};
use chimera_shared::config::spec::{
    BoostingParams, DecisionTreeParams, ElasticNetParams, ForestParams, GaussianNbParams, KNeighborsParams,
    LinearRegressionParams, LogisticRegressionParams, RidgeParams,
};
use chimera_shared::config::spec::{Criterion, Splitter};
use chimera_shared::config::EstimatorSpec;
use linfa::prelude::*;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand08::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use tree::{Binned, Presorted, Targets, Tree, TreeParams};

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
    /// A random forest or extra trees: the trees' leaf values (means or class frequencies)
    /// averaged, as scikit-learn averages them.
    Forest(Vec<Tree>),
    /// Ridge regression: `x · coef + intercept`.
    Ridge {
        coef: Vec<f64>,
        intercept: f64,
    },
    /// Gradient boosting: `init` plus `learning_rate` times every stage's trees, per output
    /// (one output for regression and binary classification, one per class otherwise).
    Boosting {
        init: Vec<f64>,
        learning_rate: f64,
        stages: Vec<Vec<Tree>>,
    },
    /// The training rows themselves (a bootstrap sample as repeated rows) and their targets:
    /// values, or class indices.
    KNeighbors {
        x: Array2<f64>,
        values: Vec<f64>,
        classes: Vec<usize>,
        k: usize,
        by_distance: bool,
        manhattan: bool,
    },
    /// Per class: the prior's log, and each feature's mean and (smoothed) variance.
    GaussianNb {
        log_prior: Vec<f64>,
        mean: Array2<f64>,
        var: Array2<f64>,
    },
    /// A support vector machine: its support vectors, their coefficients and offset.
    Svm(svm::Svm),
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

/// Trains `spec` on `data`, each sample counted `weights[i]` times. `seed` drives what a
/// model draws (a forest's samples, features and thresholds); the worker passes its
/// [`bootstrap_seed`], so workers differ and reruns repeat.
pub fn fit(spec: &EstimatorSpec, data: &Dataset, weights: &[f64], seed: u64) -> Result<Model, FitError> {
    match (spec, &data.target) {
        (EstimatorSpec::Forest(p), target) => Ok(fit_forest(p, data, target, weights, seed)),
        (EstimatorSpec::Ridge(p), Target::Regression(y)) => fit_ridge(p, data, y, weights),
        (EstimatorSpec::Boosting(p), target) => Ok(fit_boosting(p, data, target, weights, seed)),
        (EstimatorSpec::KNeighbors(p), target) => Ok(fit_k_neighbors(p, data, target, weights)),
        (EstimatorSpec::GaussianNb(p), Target::Classification { classes, y }) => {
            fit_gaussian_nb(p, data, y, classes.len(), weights)
        }
        (EstimatorSpec::Svm(p), Target::Classification { classes, y }) => Ok(Model::Svm(svm::fit_classifier(
            p,
            data.x.view(),
            y,
            classes.len(),
            weights,
            p.random_state.map_or(seed, |r| bootstrap_seed(r, "svm")),
        ))),
        (EstimatorSpec::Svm(p), Target::Regression(y)) => Ok(Model::Svm(svm::fit_regressor(
            p,
            data.x.view(),
            y.as_slice().expect("a fresh Array1 is contiguous"),
            weights,
            p.random_state.map_or(seed, |r| bootstrap_seed(r, "svm")),
        ))),
        (EstimatorSpec::DecisionTree(p), target) => Ok(Model::Tree(Grower::new(data, p.splitter).grow(
            targets_of(target),
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
        entropy: p.criterion == Some(Criterion::Entropy),
        ..TreeParams::default()
    }
}

/// What a tree learns: the regression values, or the class indices.
fn targets_of(target: &Target) -> Targets<'_> {
    match target {
        Target::Regression(y) => Targets::Values(y.as_slice().expect("a fresh Array1 is contiguous")),
        Target::Classification { classes, y } => Targets::Classes {
            y,
            n_classes: classes.len(),
        },
    }
}

/// Grows trees on one dataset with the spec's splitter; an ensemble makes one and grows all
/// its trees from it, so the sorting (exact) or the binning (hist, cached on the dataset) is
/// done once.
enum Grower<'a> {
    Hist(&'a Binned),
    Exact(ArrayView2<'a, f64>, Presorted),
}

impl<'a> Grower<'a> {
    fn new(data: &'a Dataset, splitter: Splitter) -> Self {
        match splitter {
            Splitter::Hist => Grower::Hist(data.binned()),
            Splitter::Exact => Grower::Exact(data.x.view(), Presorted::new(data.x.view())),
        }
    }

    fn grow(&self, targets: Targets<'_>, weights: &[f64], params: &TreeParams) -> Tree {
        match self {
            Grower::Hist(binned) => Tree::fit_binned(binned, targets, weights, params),
            Grower::Exact(x, presorted) => Tree::fit_presorted(x.view(), targets, weights, params, presorted),
        }
    }
}

/// A forest: each tree on its own bootstrap sample (when asked) of the weighted rows, drawing
/// `max_features` features per split; extra trees also draw the thresholds. Trees grow on
/// every core, and tree `i`'s draws depend only on the seed and `i`, so the forest does not
/// depend on the thread count.
fn fit_forest(p: &ForestParams, data: &Dataset, target: &Target, weights: &[f64], seed: u64) -> Model {
    let seed = p.random_state.map_or(seed, |r| bootstrap_seed(r, "forest"));
    let n = data.n_rows();
    let d = data.x.ncols();
    let grower = Grower::new(data, p.tree.splitter);
    let grow = |i: usize| -> Tree {
        let mut h = chimera_shared::hash::Fnv::seeded(seed);
        h.eat(&(i as u64).to_le_bytes());
        let tree_seed = h.finish();
        let mut w = weights.to_vec();
        if p.bootstrap {
            let mut rng = StdRng::seed_from_u64(tree_seed);
            let mut counts = vec![0.0; n];
            for _ in 0..n {
                counts[rng.gen_range(0..n)] += 1.0;
            }
            for (wi, c) in w.iter_mut().zip(&counts) {
                *wi *= c;
            }
        }
        let params = TreeParams {
            max_features: Some(p.max_features.of(d)),
            random_thresholds: p.extra,
            seed: tree_seed ^ 0x5DEE_CE66,
            ..tree_params(&p.tree)
        };
        grower.grow(targets_of(target), &w, &params)
    };
    let count = p.n_estimators as usize;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(count);
    // Each thread takes the next tree not yet taken, so a thread on a busier core grows fewer
    // (a fixed share left the other core idle at the end on a shared machine).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut trees: Vec<(usize, Tree)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (grow, next) = (&grow, &next);
                scope.spawn(move || {
                    std::iter::from_fn(|| {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        (i < count).then(|| (i, grow(i)))
                    })
                    .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a tree never panics"))
            .collect()
    });
    trees.sort_by_key(|(i, _)| *i);
    Model::Forest(trees.into_iter().map(|(_, t)| t).collect())
}

/// Gradient boosting as scikit-learn's `GradientBoosting{Regressor,Classifier}`:
/// - squared error: each stage's tree fits the residuals `y − F`;
/// - log-loss: each output's tree fits the gradient `r = y − p` with Newton leaf values
///   `Σ w r / Σ w p(1 − p)` (scaled by `(K − 1)/K` for K > 2 classes), got here by fitting the
///   ratio `r / h` with weights `w h`, whose weighted leaf mean is exactly that step.
///
/// `subsample` < 1 draws that share of the rows for each stage, without replacement.
fn fit_boosting(p: &BoostingParams, data: &Dataset, target: &Target, weights: &[f64], seed: u64) -> Model {
    let seed = p.random_state.map_or(seed, |r| bootstrap_seed(r, "boosting"));
    let mut rng = StdRng::seed_from_u64(seed);
    let n = data.n_rows();
    let grower = Grower::new(data, p.tree.splitter);
    let params = tree_params(&p.tree);
    let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    // Outputs: the target's columns (one-hot for classes) and the starting scores.
    let (ys, init): (Vec<Vec<f64>>, Vec<f64>) = match target {
        Target::Regression(y) => {
            let mean = y.iter().zip(weights).map(|(v, w)| v * w).sum::<f64>() / total;
            (vec![y.to_vec()], vec![mean])
        }
        Target::Classification { classes, y } => {
            let k = classes.len();
            let onehot: Vec<Vec<f64>> = (0..k)
                .map(|c| y.iter().map(|&yc| f64::from(u8::from(yc == c))).collect())
                .collect();
            let prior: Vec<f64> = onehot
                .iter()
                .map(|col| (col.iter().zip(weights).map(|(v, w)| v * w).sum::<f64>() / total).clamp(1e-12, 1.0 - 1e-12))
                .collect();
            if k == 2 {
                (vec![onehot[1].clone()], vec![(prior[1] / (1.0 - prior[1])).ln()])
            } else {
                (onehot, prior.iter().map(|q| q.ln()).collect())
            }
        }
    };
    let regression = matches!(target, Target::Regression(_));
    let outputs = ys.len();
    // Multi-class leaves count (K − 1)/K of their Newton step; the stored rate keeps it.
    let learning_rate = if outputs > 2 {
        p.learning_rate * (outputs - 1) as f64 / outputs as f64
    } else {
        p.learning_rate
    };
    let mut scores: Vec<Vec<f64>> = init.iter().map(|&v| vec![v; n]).collect();
    let mut stages = Vec::with_capacity(p.n_estimators as usize);
    let mut residual = vec![0.0; n];
    let mut stage_weights = vec![0.0; n];
    for _ in 0..p.n_estimators {
        // The stage's rows: all, or a draw without replacement.
        let mut active = weights.to_vec();
        if p.subsample < 1.0 {
            let keep = ((p.subsample * n as f64).round() as usize).max(1);
            let mut rows: Vec<usize> = (0..n).collect();
            let (chosen, _) = rows.partial_shuffle(&mut rng, keep);
            let mut mask = vec![0.0; n];
            for &i in chosen.iter() {
                mask[i] = 1.0;
            }
            for (a, m) in active.iter_mut().zip(&mask) {
                *a *= m;
            }
        }
        let probabilities: Vec<Vec<f64>> = if regression {
            Vec::new()
        } else if outputs == 1 {
            vec![scores[0].iter().map(|f| 1.0 / (1.0 + (-f).exp())).collect()]
        } else {
            softmax_columns(&scores)
        };
        let mut trees = Vec::with_capacity(outputs);
        for o in 0..outputs {
            for i in 0..n {
                if regression {
                    residual[i] = ys[o][i] - scores[o][i];
                    stage_weights[i] = active[i];
                } else {
                    let prob = probabilities[o][i];
                    let h = (prob * (1.0 - prob)).max(1e-12);
                    residual[i] = (ys[o][i] - prob) / h;
                    stage_weights[i] = active[i] * h;
                }
            }
            let tree = grower.grow(Targets::Values(&residual), &stage_weights, &params);
            for (i, row) in data.x.rows().into_iter().enumerate() {
                scores[o][i] += learning_rate * tree.leaf_values(row)[0];
            }
            trees.push(tree);
        }
        stages.push(trees);
    }
    Model::Boosting {
        init,
        learning_rate,
        stages,
    }
}

/// Per row, the softmax over the outputs' scores (`scores[output][row]`).
fn softmax_columns(scores: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = scores.first().map_or(0, Vec::len);
    let mut out = vec![vec![0.0; n]; scores.len()];
    for i in 0..n {
        let top = scores.iter().map(|s| s[i]).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = scores.iter().map(|s| (s[i] - top).exp()).sum();
        for (o, s) in scores.iter().enumerate() {
            out[o][i] = (s[i] - top).exp() / sum;
        }
    }
    out
}

/// k nearest neighbours keep their training rows: fitting is storing them.
fn fit_k_neighbors(p: &KNeighborsParams, data: &Dataset, target: &Target, weights: &[f64]) -> Model {
    let (x, (values, classes)) = match target {
        Target::Regression(y) => {
            let (x, v) = resample(data.x.view(), y.as_slice().unwrap_or(&y.to_vec()), weights);
            (x, (v, Vec::new()))
        }
        Target::Classification { y, .. } => {
            let (x, c) = resample(data.x.view(), y, weights);
            (x, (Vec::new(), c))
        }
    };
    Model::KNeighbors {
        k: (p.n_neighbors as usize).min(x.nrows()).max(1),
        x,
        values,
        classes,
        by_distance: p.weights == "distance",
        manhattan: p.p == 1,
    }
}

/// Gaussian naive Bayes as scikit-learn's `GaussianNB`: weighted per-class means and
/// variances, each variance plus `var_smoothing` times the largest feature variance.
#[allow(clippy::needless_range_loop)] // Per-class, per-feature sums read best with indices.
fn fit_gaussian_nb(
    p: &GaussianNbParams,
    data: &Dataset,
    y: &[usize],
    n_classes: usize,
    w: &[f64],
) -> Result<Model, FitError> {
    if let Some(priors) = &p.priors {
        if priors.len() != n_classes {
            return Err(FitError(format!(
                "gaussian_nb: params.priors has {} values but this worker's data has {n_classes} classes; give one prior per class, in sorted class order",
                priors.len()
            )));
        }
    }
    let (n, d) = data.x.dim();
    let mut count = vec![0.0; n_classes];
    let mut mean = Array2::<f64>::zeros((n_classes, d));
    let mut var = Array2::<f64>::zeros((n_classes, d));
    for i in 0..n {
        count[y[i]] += w[i];
        for j in 0..d {
            mean[[y[i], j]] += w[i] * data.x[[i, j]];
        }
    }
    for c in 0..n_classes {
        for j in 0..d {
            mean[[c, j]] /= count[c].max(f64::MIN_POSITIVE);
        }
    }
    for i in 0..n {
        for j in 0..d {
            let e = data.x[[i, j]] - mean[[y[i], j]];
            var[[y[i], j]] += w[i] * e * e;
        }
    }
    // The smoothing: a share of the largest variance of any feature over all rows.
    let total: f64 = w.iter().sum();
    let mut largest: f64 = 0.0;
    for j in 0..d {
        let m = (0..n).map(|i| w[i] * data.x[[i, j]]).sum::<f64>() / total.max(f64::MIN_POSITIVE);
        let v = (0..n).map(|i| w[i] * (data.x[[i, j]] - m).powi(2)).sum::<f64>() / total.max(f64::MIN_POSITIVE);
        largest = largest.max(v);
    }
    let epsilon = p.var_smoothing * largest;
    for c in 0..n_classes {
        for j in 0..d {
            var[[c, j]] = var[[c, j]] / count[c].max(f64::MIN_POSITIVE) + epsilon;
        }
    }
    let log_prior = match &p.priors {
        Some(priors) => priors
            .iter()
            .map(|q| if *q > 0.0 { q.ln() } else { f64::NEG_INFINITY })
            .collect(),
        None => count
            .iter()
            .map(|&c| if c > 0.0 { (c / total).ln() } else { f64::NEG_INFINITY })
            .collect(),
    };
    Ok(Model::GaussianNb { log_prior, mean, var })
}

/// The k nearest rows of `x` to `q` as (distance, row), nearest first.
fn nearest(x: &Array2<f64>, q: ndarray::ArrayView1<'_, f64>, k: usize, manhattan: bool) -> Vec<(f64, usize)> {
    let mut dist: Vec<(f64, usize)> = x
        .rows()
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let d = if manhattan {
                r.iter().zip(q.iter()).map(|(a, b)| (a - b).abs()).sum::<f64>()
            } else {
                r.iter()
                    .zip(q.iter())
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt()
            };
            (d, i)
        })
        .collect();
    // Ties to the earlier row, as a stable sort would give.
    let by = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if k < dist.len() {
        dist.select_nth_unstable_by(k - 1, by);
        dist.truncate(k);
    }
    dist.sort_unstable_by(by);
    dist
}

/// Neighbour weights: equal, or 1 / distance (rows at distance 0, if any, take all the weight).
fn neighbour_weights(near: &[(f64, usize)], by_distance: bool) -> Vec<f64> {
    if !by_distance {
        return vec![1.0; near.len()];
    }
    if near.iter().any(|(d, _)| *d == 0.0) {
        return near.iter().map(|(d, _)| if *d == 0.0 { 1.0 } else { 0.0 }).collect();
    }
    near.iter().map(|(d, _)| 1.0 / d).collect()
}

/// Ridge in closed form, as scikit-learn's `Ridge`: minimizes `Σ wᵢ (yᵢ − xᵢ·β − b)² + α‖β‖²`
/// (the intercept unpenalized, through weighted centering), by a Cholesky solve of
/// `(Xcᵀ W Xc + αI) β = Xcᵀ W yc`.
#[allow(clippy::needless_range_loop)] // Matrix arithmetic reads best with its indices.
fn fit_ridge(p: &RidgeParams, data: &Dataset, y: &Array1<f64>, w: &[f64]) -> Result<Model, FitError> {
    let (n, d) = data.x.dim();
    let total: f64 = w.iter().sum();
    let (mut x_mean, mut y_mean) = (vec![0.0; d], 0.0);
    if p.fit_intercept && total > 0.0 {
        for i in 0..n {
            for j in 0..d {
                x_mean[j] += w[i] * data.x[[i, j]] / total;
            }
            y_mean += w[i] * y[i] / total;
        }
    }
    let mut a = vec![0.0; d * d];
    let mut b = vec![0.0; d];
    let mut row = vec![0.0; d];
    for i in 0..n {
        if w[i] == 0.0 {
            continue;
        }
        for j in 0..d {
            row[j] = data.x[[i, j]] - x_mean[j];
        }
        let yc = y[i] - y_mean;
        for j in 0..d {
            let wj = w[i] * row[j];
            b[j] += wj * yc;
            for k in 0..=j {
                a[j * d + k] += wj * row[k];
            }
        }
    }
    for j in 0..d {
        a[j * d + j] += p.alpha;
    }
    // Cholesky, lower triangle in place: A = L Lᵀ.
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            diag -= a[j * d + k] * a[j * d + k];
        }
        if diag <= 1e-12 * a[j * d + j].abs().max(1.0) {
            return Err(FitError(
                "ridge: the features are collinear and alpha is 0; set params.alpha above 0".into(),
            ));
        }
        let l = diag.sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = v / l;
        }
    }
    // L z = b, then Lᵀ β = z.
    let mut z = b;
    for i in 0..d {
        for k in 0..i {
            z[i] -= a[i * d + k] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    for i in (0..d).rev() {
        for k in i + 1..d {
            z[i] -= a[k * d + i] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    let intercept = y_mean - z.iter().zip(&x_mean).map(|(c, m)| c * m).sum::<f64>();
    Ok(Model::Ridge { coef: z, intercept })
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
            Model::Forest(trees) => {
                let width = trees.first().map_or(1, Tree::width);
                let mut out = Array2::zeros((x.nrows(), width));
                for (i, r) in x.rows().into_iter().enumerate() {
                    let mut row = out.row_mut(i);
                    for t in trees {
                        row += &ndarray::ArrayView1::from(t.leaf_values(r));
                    }
                    row /= trees.len() as f64;
                }
                if n_classes == 0 {
                    Output::Values(out.column(0).to_owned())
                } else {
                    Output::Probabilities(out)
                }
            }
            Model::Ridge { coef, intercept } => Output::Values(
                x.rows()
                    .into_iter()
                    .map(|r| r.iter().zip(coef).map(|(a, b)| a * b).sum::<f64>() + intercept)
                    .collect(),
            ),
            Model::Boosting {
                init,
                learning_rate,
                stages,
            } => {
                let outputs = init.len();
                let mut scores: Vec<Vec<f64>> = init.iter().map(|&v| vec![v; x.nrows()]).collect();
                for trees in stages {
                    for (o, tree) in trees.iter().enumerate() {
                        for (i, row) in x.rows().into_iter().enumerate() {
                            scores[o][i] += learning_rate * tree.leaf_values(row)[0];
                        }
                    }
                }
                if n_classes == 0 {
                    Output::Values(Array1::from(scores.swap_remove(0)))
                } else if outputs == 1 {
                    let mut out = Array2::zeros((x.nrows(), 2));
                    for (i, f) in scores[0].iter().enumerate() {
                        let p1 = 1.0 / (1.0 + (-f).exp());
                        out[[i, 0]] = 1.0 - p1;
                        out[[i, 1]] = p1;
                    }
                    Output::Probabilities(out)
                } else {
                    let probs = softmax_columns(&scores);
                    Output::Probabilities(Array2::from_shape_fn((x.nrows(), outputs), |(i, c)| probs[c][i]))
                }
            }
            Model::KNeighbors {
                x: train,
                values,
                classes,
                k,
                by_distance,
                manhattan,
            } => {
                let mut out = Array2::zeros((x.nrows(), n_classes.max(1)));
                for (i, q) in x.rows().into_iter().enumerate() {
                    let near = nearest(train, q, *k, *manhattan);
                    let w = neighbour_weights(&near, *by_distance);
                    let total: f64 = w.iter().sum();
                    for ((_, row), wi) in near.iter().zip(&w) {
                        if n_classes == 0 {
                            out[[i, 0]] += wi * values[*row] / total;
                        } else {
                            out[[i, classes[*row]]] += wi / total;
                        }
                    }
                }
                if n_classes == 0 {
                    Output::Values(out.column(0).to_owned())
                } else {
                    Output::Probabilities(out)
                }
            }
            Model::Svm(svm) => {
                if n_classes == 0 {
                    Output::Values(svm.values(x))
                } else {
                    Output::Probabilities(svm.probabilities(x, n_classes))
                }
            }
            Model::GaussianNb { log_prior, mean, var } => {
                let mut out = Array2::zeros((x.nrows(), log_prior.len()));
                for (i, q) in x.rows().into_iter().enumerate() {
                    let mut joint: Vec<f64> = log_prior
                        .iter()
                        .enumerate()
                        .map(|(c, lp)| {
                            if *lp == f64::NEG_INFINITY {
                                return f64::NEG_INFINITY; // A class its sample never drew.
                            }
                            lp + q
                                .iter()
                                .enumerate()
                                .map(|(j, v)| {
                                    // A zero variance (var_smoothing 0, a constant feature)
                                    // stays finite, so no NaN reaches an answer.
                                    let s = var[[c, j]].max(f64::MIN_POSITIVE);
                                    -0.5 * (2.0 * std::f64::consts::PI * s).ln()
                                        - (v - mean[[c, j]]).powi(2) / (2.0 * s)
                                })
                                .sum::<f64>()
                        })
                        .collect();
                    // Softmax in the log domain, stable for very unlikely classes. When every
                    // class is infinitely unlikely (or a value is not finite), the prior decides.
                    let mut top = joint.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if !top.is_finite() || joint.iter().any(|v| v.is_nan()) {
                        joint.clone_from(log_prior);
                        top = joint.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    }
                    let mut sum = 0.0;
                    for v in &mut joint {
                        *v = (*v - top).exp();
                        sum += *v;
                    }
                    for (c, v) in joint.iter().enumerate() {
                        out[[i, c]] = v / sum;
                    }
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

    fn forest_data() -> Dataset {
        let mut rng = StdRng::seed_from_u64(9);
        let x = Array2::from_shape_fn((400, 6), |_| rng.gen_range(-1.0..1.0));
        let y: Vec<usize> = x
            .rows()
            .into_iter()
            .map(|r| usize::from(r[0] + r[1] * r[2] > 0.0))
            .collect();
        Dataset {
            columns: (0..6).map(|j| format!("f{j}")).collect(),
            x,
            target: Target::Classification {
                classes: vec![chimera_shared::api::Label::Int(0), chimera_shared::api::Label::Int(1)],
                y,
            },
            target_name: "y".into(),
            bins: crate::data::BinCache::default(),
        }
    }

    fn forest(extra: bool, random_state: Option<u64>) -> EstimatorSpec {
        EstimatorSpec::Forest(ForestParams {
            extra,
            n_estimators: 8,
            max_features: chimera_shared::config::spec::MaxFeatures::Sqrt,
            tree: DecisionTreeParams::default(),
            bootstrap: !extra,
            random_state,
        })
    }

    /// Every model a worker can fit survives the state directory bit for bit: a restarted
    /// worker predicts exactly what it did before (the state format is binary and has no
    /// field names, so a type it cannot encode would only show up here or after a restart).
    #[test]
    fn every_model_is_saved_and_read_back_exactly() {
        let classification = forest_data();
        let three_classes = {
            let Target::Classification { y, .. } = &classification.target else {
                unreachable!()
            };
            let y = y
                .iter()
                .enumerate()
                .map(|(i, &c)| if i % 5 == 0 { 2 } else { c })
                .collect();
            Dataset {
                target: Target::Classification {
                    classes: (0..3).map(chimera_shared::api::Label::Int).collect(),
                    y,
                },
                ..classification.clone()
            }
        };
        let single_class = Dataset {
            target: Target::Classification {
                classes: vec![chimera_shared::api::Label::Int(1)],
                y: vec![0; 400],
            },
            ..classification.clone()
        };
        let regression = Dataset {
            target: Target::Regression(classification.x.column(0).to_owned() * 2.0 - classification.x.column(3)),
            ..classification.clone()
        };
        let both = [
            "decision_tree",
            "decision_tree\nparams: {splitter: exact}",
            "random_forest\nparams: {n_estimators: 4}",
            "extra_trees\nparams: {n_estimators: 4}",
            "gradient_boosting\nparams: {n_estimators: 5}",
            "k_neighbors",
            "svm",
            "svm\nparams: {solver: approximate, n_components: 20}",
        ];
        let mut cases: Vec<(String, &Dataset)> = Vec::new();
        for model in both {
            cases.push((format!("kind: classification\nmodel: {model}\n"), &classification));
            cases.push((format!("kind: classification\nmodel: {model}\n"), &three_classes));
            cases.push((format!("kind: regression\nmodel: {model}\n"), &regression));
        }
        for model in ["gaussian_nb", "logistic_regression"] {
            cases.push((format!("kind: classification\nmodel: {model}\n"), &classification));
            cases.push((format!("kind: classification\nmodel: {model}\n"), &three_classes));
        }
        cases.push((
            "kind: classification\nmodel: logistic_regression\n".into(),
            &single_class,
        ));
        for model in ["linear_regression", "ridge", "lasso", "elastic_net"] {
            cases.push((format!("kind: regression\nmodel: {model}\n"), &regression));
        }
        let dir = std::env::temp_dir().join(format!("chimera-saved-models-{}", std::process::id()));
        let state = chimera_shared::state::StateDir::new(dir.clone(), "inputs".into());
        let w = vec![1.0; 400];
        for (yaml, data) in cases {
            let chimera_shared::config::WorkerKind::Model { estimator, .. } =
                chimera_shared::config::spec::parse_worker(&yaml, "test").unwrap().kind
            else {
                unreachable!("a model worker")
            };
            let model = fit(&estimator, data, &w, 3).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            state
                .save("model.bin", &model)
                .unwrap_or_else(|e| panic!("{yaml}: {e}"));
            let back: Model = state
                .load("model.bin")
                .unwrap_or_else(|e| panic!("{yaml}: {e}"))
                .expect("saved");
            let n_classes = match &data.target {
                Target::Classification { classes, .. } => classes.len(),
                Target::Regression(_) => 0,
            };
            assert_eq!(
                back.predict(data.x.view(), n_classes),
                model.predict(data.x.view(), n_classes),
                "{yaml}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_forest_repeats_for_its_seed_and_differs_for_another() {
        let data = forest_data();
        let w = vec![1.0; 400];
        for extra in [false, true] {
            let predict =
                |spec: &EstimatorSpec, seed: u64| match fit(spec, &data, &w, seed).unwrap().predict(data.x.view(), 2) {
                    Output::Probabilities(p) => p,
                    Output::Values(_) => panic!("probabilities"),
                };
            let a = predict(&forest(extra, None), 1);
            assert_eq!(a, predict(&forest(extra, None), 1), "the same seed, the same forest");
            assert_ne!(
                a,
                predict(&forest(extra, None), 2),
                "another worker's seed, another forest"
            );
            // params.random_state wins over the worker's seed.
            assert_eq!(predict(&forest(extra, Some(5)), 1), predict(&forest(extra, Some(5)), 2));
            // Averaged probabilities: rows sum to one, and the training rows are mostly right.
            for row in a.rows() {
                assert!((row.sum() - 1.0).abs() < 1e-9);
            }
            let Target::Classification { y, .. } = &data.target else {
                unreachable!()
            };
            let right = a
                .rows()
                .into_iter()
                .zip(y)
                .filter(|(r, &c)| usize::from(r[1] > r[0]) == c)
                .count();
            assert!(right > 360, "{right} of 400");
        }
    }

    #[test]
    fn gaussian_nb_answers_probabilities_even_for_degenerate_fits() {
        // var_smoothing 0, constant features, and a class the bootstrap never drew.
        let x = Array2::from_shape_fn((6, 2), |(i, j)| if j == 0 { (i / 3) as f64 } else { 1.0 });
        let data = Dataset {
            columns: vec!["a".into(), "b".into()],
            x: x.clone(),
            target: Target::Classification {
                classes: (0..3).map(chimera_shared::api::Label::Int).collect(),
                y: vec![0, 0, 0, 1, 1, 1],
            },
            target_name: "y".into(),
            bins: crate::data::BinCache::default(),
        };
        let spec = EstimatorSpec::GaussianNb(GaussianNbParams {
            var_smoothing: 0.0,
            priors: None,
        });
        let model = fit(&spec, &data, &[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], 0).unwrap();
        let queries = ndarray::array![[0.0, 1.0], [1.0, 1.0], [0.5, 7.0], [f64::MAX, -f64::MAX]];
        let Output::Probabilities(p) = model.predict(queries.view(), 3) else {
            panic!()
        };
        for row in p.rows() {
            assert!(row.iter().all(|v| v.is_finite()), "{row}");
            assert!((row.sum() - 1.0).abs() < 1e-9, "{row}");
            assert_eq!(row[2], 0.0, "class 2 was never seen");
        }
        assert!(p[[0, 0]] > 0.99 && p[[1, 1]] > 0.99);
    }

    #[test]
    fn k_neighbors_vote_by_distance_and_an_exact_match_wins() {
        let x = ndarray::array![[0.0], [1.0], [2.0], [10.0]];
        let data = Dataset {
            columns: vec!["a".into()],
            x,
            target: Target::Regression(ndarray::array![0.0, 10.0, 20.0, 100.0]),
            target_name: "y".into(),
            bins: crate::data::BinCache::default(),
        };
        let spec = |weights: &str| {
            EstimatorSpec::KNeighbors(KNeighborsParams {
                n_neighbors: 3,
                weights: weights.into(),
                p: 2,
            })
        };
        let w = vec![1.0; 4];
        let q = ndarray::array![[1.0], [0.5]];
        let values = |m: &Model| match m.predict(q.view(), 0) {
            Output::Values(v) => v,
            Output::Probabilities(_) => panic!(),
        };
        let uniform = values(&fit(&spec("uniform"), &data, &w, 0).unwrap());
        assert_eq!(uniform.to_vec(), vec![10.0, 10.0]);
        let by_distance = values(&fit(&spec("distance"), &data, &w, 0).unwrap());
        assert_eq!(by_distance[0], 10.0, "an exact match takes all the weight");
        // 0.5 from rows 0 and 1, 1.5 from row 2: (0/0.5 + 10/0.5 + 20/1.5) / (2/0.5 + 1/1.5).
        assert!((by_distance[1] - (20.0 + 20.0 / 1.5) / (4.0 + 1.0 / 1.5)).abs() < 1e-12);
    }

    #[test]
    fn boosting_learns_three_classes_and_its_probabilities_sum_to_one() {
        let mut rng = StdRng::seed_from_u64(3);
        let x = Array2::from_shape_fn((300, 2), |_| rng.gen_range(-1.0..1.0));
        let y: Vec<usize> = x
            .rows()
            .into_iter()
            .map(|r| if r[0] > 0.3 { 2 } else { usize::from(r[1] > 0.0) })
            .collect();
        let data = Dataset {
            columns: vec!["a".into(), "b".into()],
            x: x.clone(),
            target: Target::Classification {
                classes: (0..3).map(chimera_shared::api::Label::Int).collect(),
                y: y.clone(),
            },
            target_name: "y".into(),
            bins: crate::data::BinCache::default(),
        };
        let spec = EstimatorSpec::Boosting(BoostingParams {
            n_estimators: 30,
            learning_rate: 0.3,
            tree: DecisionTreeParams {
                max_depth: Some(2),
                ..DecisionTreeParams::default()
            },
            subsample: 0.8,
            random_state: Some(1),
        });
        let model = fit(&spec, &data, &vec![1.0; 300], 0).unwrap();
        let Output::Probabilities(p) = model.predict(x.view(), 3) else {
            panic!()
        };
        let right = p
            .rows()
            .into_iter()
            .zip(&y)
            .filter(|(r, &c)| (0..3).all(|k| r[c] >= r[k]))
            .count();
        assert!(right >= 285, "{right} of 300");
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-9);
        }
        // The same random_state, the same model.
        let again = fit(&spec, &data, &vec![1.0; 300], 9).unwrap();
        assert_eq!(again.predict(x.view(), 3), model.predict(x.view(), 3));
    }

    #[test]
    fn ridge_matches_the_normal_equations_and_survives_a_restart() {
        // y = 2 x0 - x1 + 3 exactly: a tiny alpha recovers it.
        let x = Array2::from_shape_fn((50, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
        let y: Array1<f64> = x.rows().into_iter().map(|r| 2.0 * r[0] - r[1] + 3.0).collect();
        let data = Dataset {
            columns: vec!["a".into(), "b".into()],
            x: x.clone(),
            target: Target::Regression(y.clone()),
            target_name: "y".into(),
            bins: crate::data::BinCache::default(),
        };
        let spec = EstimatorSpec::Ridge(RidgeParams {
            alpha: 1e-9,
            fit_intercept: true,
            random_state: None,
        });
        let model = fit(&spec, &data, &vec![1.0; 50], 0).unwrap();
        let Model::Ridge { coef, intercept } = &model else {
            panic!()
        };
        assert!((coef[0] - 2.0).abs() < 1e-6 && (coef[1] + 1.0).abs() < 1e-6 && (intercept - 3.0).abs() < 1e-6);
        // Through the state directory, as a restarted worker reads it back.
        let dir = std::env::temp_dir().join(format!("chimera-ridge-{}", std::process::id()));
        let state = chimera_shared::state::StateDir::new(dir.clone(), "fp".to_string());
        state.save("model.yaml", &model).unwrap();
        let saved: Model = state.load("model.yaml").unwrap().expect("saved");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(saved.predict(x.view(), 0), model.predict(x.view(), 0));
    }

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
