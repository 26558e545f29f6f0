//! Distributed SGD for linear models, as plain functions over ndarray (no HTTP): losses and
//! their gradients, penalties, learning-rate schedules, exact merging of per-shard feature
//! statistics, and the linear model's predictions. The master and the SGD workers share it, so
//! the math each side does is defined once.
//!
//! Conventions. A model has `o` outputs: 1 for regression and binary classification, `k` for
//! `k > 2` classes. Internally weights are `W: d × o` and bias `b: o`, so `F = X·W + b` is one
//! matrix–matrix product; on the wire `weights` is `o` rows of `d` numbers, as scikit-learn's
//! `coef_`. The objective is scikit-learn's: the mean data loss plus `alpha · R(W)` (the bias is
//! not penalized).

pub mod model;
pub mod pace;
pub mod trainer;

pub use model::LinearModel;
pub use trainer::{Contribution, RoundOutcome, StopReason, Trainer};

use crate::config::{Loss, Penalty};
use ndarray::{Array1, Array2, ArrayView2, Axis};

/// The target of a shard, indexed like the rows of `X`.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    Values(&'a [f64]),
    /// Class indices into the global, sorted class list of `n_classes`.
    Classes {
        y: &'a [usize],
        n_classes: usize,
    },
}

/// The most local epochs a model-averaging round may ask of a worker: the spec refuses more,
/// and so does every worker, whoever sends the request.
pub const MAX_LOCAL_EPOCHS: u64 = 1000;

/// How many outputs a model of this loss has.
pub fn n_outputs(loss: Loss, n_classes: usize) -> usize {
    match loss {
        Loss::LogLoss | Loss::Hinge if n_classes > 2 => n_classes,
        Loss::SquaredError | Loss::Huber | Loss::LogLoss | Loss::Hinge => 1,
    }
}

/// The loss's settings that are not the loss itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossSpec {
    pub loss: Loss,
    pub huber_delta: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PenaltySpec {
    pub penalty: Penalty,
    pub alpha: f64,
    pub l1_ratio: f64,
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `+1` for the positive class, `-1` otherwise (binary problems and one-vs-rest outputs).
fn sign_label(is_positive: bool) -> f64 {
    if is_positive {
        1.0
    } else {
        -1.0
    }
}

/// The decision function `F = X·W + b` (`n × o`).
pub fn decision(x: ArrayView2<'_, f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array2<f64> {
    let mut f = if w.ncols() == 1 {
        x.dot(&w.column(0)).insert_axis(Axis(1))
    } else {
        x.dot(w)
    };
    f += b;
    f
}

/// Fills `f` in place with `dL/dF` per sample and returns the summed loss. Row `k` of `f` is
/// sample `rows[k]` of the shard, or sample `k` when `rows` is `None` (the whole shard).
fn loss_and_slopes(f: &mut Array2<f64>, targets: Targets<'_>, rows: Option<&[usize]>, spec: LossSpec) -> f64 {
    let sample = |k: usize| rows.map_or(k, |r| r[k]);
    let mut total = 0.0;
    if let Some(rule) = OneOutput::of(targets, spec) {
        for (k, v) in f.iter_mut().enumerate() {
            let (l, s) = rule.loss_slope(*v, sample(k));
            total += l;
            *v = s;
        }
        return total;
    }
    match (spec.loss, targets) {
        (Loss::LogLoss, Targets::Classes { y, .. }) => {
            // Multinomial: softmax cross-entropy, slopes p - onehot.
            for (k, mut row) in f.rows_mut().into_iter().enumerate() {
                let i = sample(k);
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
                let log_sum = max + sum.ln();
                total += log_sum - row[y[i]];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = (*v - log_sum).exp() - f64::from(u8::from(j == y[i]));
                }
            }
        }
        (Loss::Hinge, Targets::Classes { y, .. }) => {
            // More than two classes: one-vs-rest over the outputs, as scikit-learn does.
            for (k, mut row) in f.rows_mut().into_iter().enumerate() {
                let i = sample(k);
                for (j, v) in row.iter_mut().enumerate() {
                    let (l, s) = hinge(*v, y[i] == j);
                    total += l;
                    *v = s;
                }
            }
        }
        // Config validation pairs losses with targets; a mismatch contributes nothing.
        _ => f.fill(0.0),
    }
    total
}

/// The mean data loss and its gradient (`d × o`, `o`) over the shard's `rows` (a mini-batch),
/// or over the whole shard when `rows` is `None`. `x` holds the (standardized) features.
pub fn data_gradient(
    x: ArrayView2<'_, f64>,
    targets: Targets<'_>,
    rows: Option<&[usize]>,
    w: &Array2<f64>,
    b: &Array1<f64>,
    spec: LossSpec,
) -> (f64, Array2<f64>, Array1<f64>) {
    let n = rows.map_or(x.nrows(), <[usize]>::len).max(1) as f64;
    match (x.as_slice(), w.as_slice(), OneOutput::of(targets, spec)) {
        (Some(shard), Some(w1), Some(rule)) if w.ncols() == 1 && x.ncols() > 0 => {
            let (total, g, gb) = one_output_gradient(shard, x.ncols(), rows, w1, b[0], rule);
            let gw = Array1::from(g).insert_axis(Axis(1)) / n;
            (total / n, gw, Array1::from_elem(1, gb / n))
        }
        _ => matrix_gradient(x, targets, rows, w, b, spec),
    }
}

/// [`data_gradient`] by matrix products: any number of outputs, any memory layout.
fn matrix_gradient(
    x: ArrayView2<'_, f64>,
    targets: Targets<'_>,
    rows: Option<&[usize]>,
    w: &Array2<f64>,
    b: &Array1<f64>,
    spec: LossSpec,
) -> (f64, Array2<f64>, Array1<f64>) {
    let n = rows.map_or(x.nrows(), <[usize]>::len).max(1) as f64;
    // A mini-batch is gathered once; the whole shard is used in place.
    let batch = rows.map(|r| x.select(Axis(0), r));
    let xb = batch.as_ref().map_or(x.view(), ndarray::ArrayBase::view);
    let mut slopes = decision(xb.view(), w, b);
    let total = loss_and_slopes(&mut slopes, targets, rows, spec);
    let mut gw = xb.t().dot(&slopes);
    gw /= n;
    let gb = slopes.sum_axis(Axis(0)) / n;
    (total / n, gw, gb)
}

/// The loss of a one-output model (regression, binary classification) as a per-sample rule:
/// the loss and its slope `dL/df` at decision value `f` for sample `i`. `loss_and_slopes` and
/// the fused [`one_output_gradient`] both apply it, so each formula is written once.
#[derive(Debug, Clone, Copy)]
enum OneOutput<'a> {
    Squared(&'a [f64]),
    Huber(&'a [f64], f64),
    /// Class index 1 is the positive class.
    Log(&'a [usize]),
    Hinge(&'a [usize]),
}

impl<'a> OneOutput<'a> {
    /// The rule for a loss and its targets, when the model has one output.
    fn of(targets: Targets<'a>, spec: LossSpec) -> Option<OneOutput<'a>> {
        match (spec.loss, targets) {
            (Loss::SquaredError, Targets::Values(y)) => Some(OneOutput::Squared(y)),
            (Loss::Huber, Targets::Values(y)) => Some(OneOutput::Huber(y, spec.huber_delta)),
            (Loss::LogLoss, Targets::Classes { y, n_classes }) if n_classes <= 2 => Some(OneOutput::Log(y)),
            (Loss::Hinge, Targets::Classes { y, n_classes }) if n_classes <= 2 => Some(OneOutput::Hinge(y)),
            _ => None,
        }
    }

    #[inline]
    fn loss_slope(self, f: f64, i: usize) -> (f64, f64) {
        match self {
            OneOutput::Squared(y) => squared(f - y[i]),
            OneOutput::Huber(y, d) => huber(f - y[i], d),
            OneOutput::Log(y) => log_loss(f, y[i] == 1),
            OneOutput::Hinge(y) => hinge(f, y[i] == 1),
        }
    }
}

/// The squared loss and slope at residual `r`.
#[inline]
fn squared(r: f64) -> (f64, f64) {
    (0.5 * r * r, r)
}

/// The Huber loss and slope at residual `r`: squared within `d`, linear beyond.
#[inline]
fn huber(r: f64, d: f64) -> (f64, f64) {
    if r.abs() <= d {
        (0.5 * r * r, r)
    } else {
        (d * r.abs() - 0.5 * d * d, d * r.signum())
    }
}

/// The binary log loss and slope at decision value `f`: loss softplus(-z) and slope
/// -s·sigmoid(-z) at the margin z = s·f, from one exp of -|z| (in (0, 1], so neither
/// overflows), half the work of computing the two apart.
#[inline]
fn log_loss(f: f64, is_positive: bool) -> (f64, f64) {
    let s = sign_label(is_positive);
    let z = s * f;
    let e = (-z.abs()).exp();
    let (loss, p) = if z > 0.0 {
        (e.ln_1p(), e / (1.0 + e))
    } else {
        (-z + e.ln_1p(), 1.0 / (1.0 + e))
    };
    (loss, -s * p)
}

/// The hinge loss and slope of one output at `f`, the sample being of the positive class or not.
#[inline]
fn hinge(f: f64, is_positive: bool) -> (f64, f64) {
    let s = sign_label(is_positive);
    let z = s * f;
    if z < 1.0 {
        (1.0 - z, -s)
    } else {
        (0.0, 0.0)
    }
}

/// The summed loss, `Σ s_i x_i` and `Σ s_i` of a one-output model over a row-major shard
/// (`d` numbers a row), in one pass: each row's decision value, loss, slope and share of the
/// gradient while the row is in cache. `rows` picks a mini-batch in place (no gathered copy).
/// `d` is at least 1.
/// ndarray's matrix-vector product spends about a hundred instructions a row on iteration for
/// a dozen columns, ten times the arithmetic; a worker's round is mostly this function.
fn one_output_gradient(
    x: &[f64],
    d: usize,
    rows: Option<&[usize]>,
    w: &[f64],
    b: f64,
    rule: OneOutput<'_>,
) -> (f64, Vec<f64>, f64) {
    let mut g = vec![0.0; d];
    // One copy of the row loop per loss: the rule's `match` stays out of the loop.
    let (total, gb) = match rule {
        OneOutput::Squared(y) => one_output_pass(x, d, rows, w, b, &mut g, |f, i| squared(f - y[i])),
        OneOutput::Huber(y, delta) => one_output_pass(x, d, rows, w, b, &mut g, |f, i| huber(f - y[i], delta)),
        OneOutput::Log(y) => one_output_pass(x, d, rows, w, b, &mut g, |f, i| log_loss(f, y[i] == 1)),
        OneOutput::Hinge(y) => one_output_pass(x, d, rows, w, b, &mut g, |f, i| hinge(f, y[i] == 1)),
    };
    (total, g, gb)
}

/// [`one_output_gradient`]'s row loop: adds `s_i x_i` into `g`, returns `(Σ loss, Σ s_i)`.
/// Rows go four at a time: four independent sums per column (one sum waits on every
/// addition), and `g` is read and written once per four rows.
fn one_output_pass(
    x: &[f64],
    d: usize,
    rows: Option<&[usize]>,
    w: &[f64],
    b: f64,
    g: &mut [f64],
    rule: impl Fn(f64, usize) -> (f64, f64),
) -> (f64, f64) {
    let (mut total, mut gb) = (0.0, 0.0);
    let w = &w[..d];
    let row = |i: usize| &x[i * d..(i + 1) * d];
    // Zipped slices, not indices: no bounds checks in the two loops over the columns.
    let mut four = |at: [usize; 4]| {
        let (r0, r1, r2, r3) = (row(at[0]), row(at[1]), row(at[2]), row(at[3]));
        let mut f = [b; 4];
        for ((((wj, a), b), c), e) in w.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
            f[0] += a * wj;
            f[1] += b * wj;
            f[2] += c * wj;
            f[3] += e * wj;
        }
        let mut s = [0.0; 4];
        for k in 0..4 {
            let (l, sk) = rule(f[k], at[k]);
            total += l;
            gb += sk;
            s[k] = sk;
        }
        for ((((gj, a), b), c), e) in g.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *gj += s[0] * a + s[1] * b + s[2] * c + s[3] * e;
        }
    };
    // The rows that do not make a four: each alone, with the same order of additions.
    let mut rest = Vec::new();
    if let Some(rows) = rows {
        let (fours, tail) = rows.as_chunks::<4>();
        for &at in fours {
            four(at);
        }
        rest.extend_from_slice(tail);
    } else {
        let n = x.len() / d;
        for first in (0..n - n % 4).step_by(4) {
            four([first, first + 1, first + 2, first + 3]);
        }
        rest.extend(n - n % 4..n);
    }
    for i in rest {
        let r = row(i);
        let f = w.iter().zip(r).fold(b, |f, (wj, xj)| f + xj * wj);
        let (l, s) = rule(f, i);
        total += l;
        gb += s;
        for (gj, xj) in g.iter_mut().zip(r) {
            *gj += s * xj;
        }
    }
    (total, gb)
}

/// `alpha · R(W)`.
pub fn penalty_value(w: &Array2<f64>, p: PenaltySpec) -> f64 {
    let l2 = || 0.5 * w.iter().map(|v| v * v).sum::<f64>();
    let l1 = || w.iter().map(|v| v.abs()).sum::<f64>();
    p.alpha
        * match p.penalty {
            Penalty::None => 0.0,
            Penalty::L2 => l2(),
            Penalty::L1 => l1(),
            Penalty::Elasticnet => (1.0 - p.l1_ratio) * l2() + p.l1_ratio * l1(),
        }
}

/// Adds the (sub)gradient of `alpha · R(W)` to `g` (`sign(0) = 0` for the L1 part).
pub fn add_penalty_gradient(g: &mut Array2<f64>, w: &Array2<f64>, p: PenaltySpec) {
    let sign = |v: f64| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let (l2, l1) = match p.penalty {
        Penalty::None => return,
        Penalty::L2 => (1.0, 0.0),
        Penalty::L1 => (0.0, 1.0),
        Penalty::Elasticnet => (1.0 - p.l1_ratio, p.l1_ratio),
    };
    g.zip_mut_with(w, |gi, &wi| *gi += p.alpha * (l2 * wi + l1 * sign(wi)));
}

/// Learning-rate schedules with the round number as `t` (from 1), scikit-learn's formulas.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub kind: crate::config::spec::LearningRate,
    pub eta0: f64,
    pub power_t: f64,
    pub alpha: f64,
    /// `adaptive`: the current rate, divided by 5 when the loss stops improving.
    pub current: f64,
}

impl Schedule {
    pub fn new(kind: crate::config::spec::LearningRate, eta0: f64, power_t: f64, alpha: f64) -> Self {
        Schedule {
            kind,
            eta0,
            power_t,
            alpha,
            current: eta0,
        }
    }

    pub fn eta(&self, t: u64) -> f64 {
        use crate::config::spec::LearningRate::{Adaptive, Constant, Invscaling, Optimal};
        let t = t.max(1) as f64;
        match self.kind {
            Constant => self.eta0,
            Invscaling => self.eta0 / t.powf(self.power_t),
            Adaptive => self.current,
            Optimal => {
                // Bottou's heuristic, as scikit-learn: t0 from a typical weight size.
                let alpha = self.alpha.max(1e-12);
                let typw = (1.0 / alpha.sqrt()).sqrt();
                let t0 = 1.0 / (typw * alpha);
                1.0 / (alpha * (t0 + t - 1.0))
            }
        }
    }
}

/// Per-column count, mean and sum of squared deviations: merged exactly across shards.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnStats {
    pub n: usize,
    pub mean: Vec<f64>,
    /// Population variance (`M2 / n`).
    pub var: Vec<f64>,
}

impl ColumnStats {
    pub fn of(x: ArrayView2<'_, f64>) -> ColumnStats {
        let n = x.nrows();
        let mean: Vec<f64> = x.columns().into_iter().map(|c| c.sum() / n.max(1) as f64).collect();
        let var = x
            .columns()
            .into_iter()
            .zip(&mean)
            .map(|(c, m)| c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n.max(1) as f64)
            .collect();
        ColumnStats { n, mean, var }
    }

    /// Chan et al.'s parallel merge: exact, in any order.
    pub fn merge(parts: &[ColumnStats]) -> ColumnStats {
        let d = parts.first().map_or(0, |p| p.mean.len());
        let n: usize = parts.iter().map(|p| p.n).sum();
        let nf = n.max(1) as f64;
        let mean: Vec<f64> = (0..d)
            .map(|j| parts.iter().map(|p| p.n as f64 * p.mean[j]).sum::<f64>() / nf)
            .collect();
        let var = (0..d)
            .map(|j| {
                parts
                    .iter()
                    .map(|p| p.n as f64 * (p.var[j] + (p.mean[j] - mean[j]).powi(2)))
                    .sum::<f64>()
                    / nf
            })
            .collect();
        ColumnStats { n, mean, var }
    }

    /// Standard deviations, with 1 for constant columns (they stay 0 after centring).
    pub fn scale(&self) -> Vec<f64> {
        self.var.iter().map(|v| if *v > 0.0 { v.sqrt() } else { 1.0 }).collect()
    }
}

/// `(x - mean) / scale`, column by column, into a new row-major matrix.
pub fn standardize(x: ArrayView2<'_, f64>, mean: &[f64], scale: &[f64]) -> Array2<f64> {
    let mut out = Array2::zeros(x.dim());
    for (j, (mut col, src)) in out.columns_mut().into_iter().zip(x.columns()).enumerate() {
        col.zip_mut_with(&src, |o, &v| *o = (v - mean[j]) / scale[j]);
    }
    out
}

/// Class probabilities from the decision function under `log_loss`: the sigmoid for one
/// output (columns: negative, positive class), the softmax for several.
pub fn probabilities(f: ArrayView2<'_, f64>) -> Array2<f64> {
    if f.ncols() == 1 {
        let mut p = Array2::zeros((f.nrows(), 2));
        for (i, v) in f.column(0).iter().enumerate() {
            let s = sigmoid(*v);
            p[[i, 0]] = 1.0 - s;
            p[[i, 1]] = s;
        }
        return p;
    }
    let mut p = f.to_owned();
    for mut row in p.rows_mut() {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    p
}

/// The predicted class index per row.
pub fn predicted_classes(f: ArrayView2<'_, f64>) -> Vec<usize> {
    if f.ncols() == 1 {
        return f.column(0).iter().map(|v| usize::from(*v > 0.0)).collect();
    }
    f.rows().into_iter().map(|r| argmax(r.iter())).collect()
}

/// The index of the largest value; ties go to the first, as numpy's (and scikit-learn's).
pub fn argmax<'a>(values: impl IntoIterator<Item = &'a f64>) -> usize {
    values
        .into_iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
        .0
}

/// The label of each row's most probable class (ties to the first, as scikit-learn).
pub fn labels_of<'a, R>(rows: impl IntoIterator<Item = R>, classes: &[crate::api::Label]) -> Vec<crate::api::Label>
where
    R: IntoIterator<Item = &'a f64>,
{
    rows.into_iter().map(|row| classes[argmax(row)].clone()).collect()
}

/// `o` rows of `d` numbers (the wire) to `W: d × o`.
pub fn weights_from_rows(rows: &[Vec<f64>], d: usize) -> Option<Array2<f64>> {
    if rows.is_empty() || rows.iter().any(|r| r.len() != d) {
        return None;
    }
    let o = rows.len();
    Some(Array2::from_shape_fn((d, o), |(j, k)| rows[k][j]))
}

/// `W: d × o` to `o` rows of `d` numbers.
pub fn weights_to_rows(w: &Array2<f64>) -> Vec<Vec<f64>> {
    w.columns().into_iter().map(|c| c.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::LearningRate;

    /// The fused one-output pass against the matrix products, for every one-output loss, on
    /// the whole shard and on a mini-batch, with column counts on both sides of the 4-wide dot.
    #[test]
    fn the_fused_one_output_gradient_equals_the_matrix_one() {
        for d in [1, 3, 4, 11, 20] {
            let (x, y, c) = data(97, d, 11);
            let binary: Vec<usize> = c.iter().map(|&v| usize::from(v > 0)).collect();
            let w = Array2::from_shape_fn((d, 1), |(j, _)| 0.3 - 0.07 * j as f64);
            let b = Array1::from_elem(1, 0.2);
            let batch: Vec<usize> = (0..97).filter(|i| i % 3 != 1).collect();
            let two = |y| Targets::Classes { y, n_classes: 2 };
            for (loss, t) in [
                (Loss::SquaredError, Targets::Values(&y)),
                (Loss::Huber, Targets::Values(&y)),
                (Loss::LogLoss, two(&binary)),
                (Loss::Hinge, two(&binary)),
            ] {
                let l = LossSpec { loss, huber_delta: 0.3 };
                for rows in [None, Some(batch.as_slice())] {
                    let (fl, fw, fb) = data_gradient(x.view(), t, rows, &w, &b, l);
                    let (ml, mw, mb) = matrix_gradient(x.view(), t, rows, &w, &b, l);
                    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
                    assert!(close(fl, ml), "{loss:?} d={d}: loss {fl} vs {ml}");
                    assert_eq!(fw.dim(), mw.dim());
                    assert!(
                        fw.iter().zip(&mw).all(|(a, b)| close(*a, *b)),
                        "{loss:?} d={d}: {fw} vs {mw}"
                    );
                    assert!(close(fb[0], mb[0]) && fb.len() == 1, "{loss:?} d={d}: {fb} vs {mb}");
                }
            }
        }
    }

    /// A small seeded problem.
    fn data(n: usize, d: usize, seed: u64) -> (Array2<f64>, Vec<f64>, Vec<usize>) {
        let mut s = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let mut next = || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        let x = Array2::from_shape_fn((n, d), |_| next());
        let y: Vec<f64> = (0..n).map(|i| x.row(i).sum() + 0.3 * next()).collect();
        let c: Vec<usize> = (0..n).map(|i| ((x[[i, 0]] + 1.0) * 1.5) as usize % 3).collect();
        (x, y, c)
    }

    /// The full objective at (W, b): what the gradient must be the derivative of.
    fn objective(
        x: &Array2<f64>,
        t: Targets<'_>,
        w: &Array2<f64>,
        b: &Array1<f64>,
        l: LossSpec,
        p: PenaltySpec,
    ) -> f64 {
        data_gradient(x.view(), t, None, w, b, l).0 + penalty_value(w, p)
    }

    /// Central finite differences against the analytic gradient, for every loss and penalty.
    #[test]
    fn gradients_match_finite_differences() {
        let (x, y, c) = data(40, 3, 7);
        let binary: Vec<usize> = c.iter().map(|&v| usize::from(v > 0)).collect();
        let cases: Vec<(Loss, Targets<'_>, usize)> = vec![
            (Loss::SquaredError, Targets::Values(&y), 1),
            (Loss::Huber, Targets::Values(&y), 1),
            (
                Loss::LogLoss,
                Targets::Classes {
                    y: &binary,
                    n_classes: 2,
                },
                1,
            ),
            (Loss::LogLoss, Targets::Classes { y: &c, n_classes: 3 }, 3),
            (
                Loss::Hinge,
                Targets::Classes {
                    y: &binary,
                    n_classes: 2,
                },
                1,
            ),
            (Loss::Hinge, Targets::Classes { y: &c, n_classes: 3 }, 3),
        ];
        let penalties = [Penalty::None, Penalty::L2, Penalty::L1, Penalty::Elasticnet];
        for (loss, t, o) in cases {
            for penalty in penalties {
                let l = LossSpec { loss, huber_delta: 0.3 };
                let p = PenaltySpec {
                    penalty,
                    alpha: 0.05,
                    l1_ratio: 0.4,
                };
                // Weights away from 0 (L1's kink) and hinge margins away from 1 at this seed.
                let w = Array2::from_shape_fn((3, o), |(j, k)| 0.37 + 0.21 * j as f64 - 0.13 * k as f64);
                let b = Array1::from_shape_fn(o, |k| 0.11 - 0.05 * k as f64);
                let (_, mut gw, gb) = data_gradient(x.view(), t, None, &w, &b, l);
                add_penalty_gradient(&mut gw, &w, p);
                let h = 1e-6;
                for j in 0..3 {
                    for k in 0..o {
                        let (mut wp, mut wm) = (w.clone(), w.clone());
                        wp[[j, k]] += h;
                        wm[[j, k]] -= h;
                        let fd = (objective(&x, t, &wp, &b, l, p) - objective(&x, t, &wm, &b, l, p)) / (2.0 * h);
                        assert!(
                            (fd - gw[[j, k]]).abs() < 1e-6,
                            "{loss:?}/{penalty:?} w[{j},{k}]: fd {fd} vs {}",
                            gw[[j, k]]
                        );
                    }
                }
                for k in 0..o {
                    let (mut bp, mut bm) = (b.clone(), b.clone());
                    bp[k] += h;
                    bm[k] -= h;
                    let fd = (objective(&x, t, &w, &bp, l, p) - objective(&x, t, &w, &bm, l, p)) / (2.0 * h);
                    assert!(
                        (fd - gb[k]).abs() < 1e-6,
                        "{loss:?}/{penalty:?} b[{k}]: fd {fd} vs {}",
                        gb[k]
                    );
                }
            }
        }
    }

    #[test]
    fn shard_gradients_weighted_by_count_equal_the_union_gradient() {
        let (x, y, _) = data(101, 4, 3);
        let w = Array2::from_elem((4, 1), 0.2);
        let b = Array1::from_elem(1, -0.1);
        let l = LossSpec {
            loss: Loss::Huber,
            huber_delta: 0.5,
        };
        let all: Vec<usize> = (0..101).collect();
        let (loss, gw, gb) = data_gradient(x.view(), Targets::Values(&y), None, &w, &b, l);
        let (a, z): (Vec<usize>, Vec<usize>) = all.iter().partition(|&&i| i < 37);
        let (la, ga, gba) = data_gradient(x.view(), Targets::Values(&y), Some(&a), &w, &b, l);
        let (lz, gz, gbz) = data_gradient(x.view(), Targets::Values(&y), Some(&z), &w, &b, l);
        let (na, nz) = (a.len() as f64, z.len() as f64);
        let merged = (&ga * na + &gz * nz) / (na + nz);
        assert!((&merged - &gw).iter().all(|v| v.abs() < 1e-12));
        assert!(((&gba * na + &gbz * nz) / (na + nz) - &gb)
            .iter()
            .all(|v| v.abs() < 1e-12));
        assert!(((la * na + lz * nz) / (na + nz) - loss).abs() < 1e-12);
    }

    #[test]
    fn merged_statistics_equal_the_union_statistics() {
        let (x, _, _) = data(90, 3, 5);
        let parts: Vec<ColumnStats> = [0..10, 10..55, 55..90]
            .into_iter()
            .map(|r| ColumnStats::of(x.slice(ndarray::s![r, ..])))
            .collect();
        let merged = ColumnStats::merge(&parts);
        let whole = ColumnStats::of(x.view());
        assert_eq!(merged.n, 90);
        for j in 0..3 {
            assert!((merged.mean[j] - whole.mean[j]).abs() < 1e-12);
            assert!((merged.var[j] - whole.var[j]).abs() < 1e-12);
        }
        let z = standardize(x.view(), &whole.mean, &whole.scale());
        let zs = ColumnStats::of(z.view());
        assert!(zs.mean.iter().all(|m| m.abs() < 1e-12) && zs.var.iter().all(|v| (v - 1.0).abs() < 1e-9));
    }

    #[test]
    fn schedules_follow_scikit_learn() {
        let s = Schedule::new(LearningRate::Invscaling, 0.01, 0.25, 1e-4);
        assert!((s.eta(16) - 0.01 / 2.0).abs() < 1e-15);
        assert_eq!(Schedule::new(LearningRate::Constant, 0.1, 0.25, 1e-4).eta(99), 0.1);
        let opt = Schedule::new(LearningRate::Optimal, 0.1, 0.25, 1e-4);
        assert!(opt.eta(1) > opt.eta(2) && opt.eta(2) > opt.eta(100));
        let typw = (1.0 / 1e-4f64.sqrt()).sqrt();
        assert!(
            (opt.eta(1) - typw).abs() < 1e-9,
            "the first rate is the typical weight size"
        );
    }

    #[test]
    fn probabilities_and_classes() {
        let f = ndarray::array![[0.0], [2.0], [-1.0]];
        let p = probabilities(f.view());
        assert!((p[[0, 1]] - 0.5).abs() < 1e-12 && p[[1, 1]] > 0.5 && p[[2, 1]] < 0.5);
        assert_eq!(predicted_classes(f.view()), vec![0, 1, 0]);
        let f = ndarray::array![[1.0, 3.0, 2.0]];
        let p = probabilities(f.view());
        assert!((p.sum() - 1.0).abs() < 1e-12);
        assert_eq!(predicted_classes(f.view()), vec![1]);
        let rows = vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]];
        let w = weights_from_rows(&rows, 2).unwrap();
        assert_eq!(w.dim(), (2, 3));
        assert_eq!(weights_to_rows(&w), rows);
    }
}
