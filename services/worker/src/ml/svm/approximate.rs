//! `solver: approximate`: an SVM for many rows, as scikit-learn's docs advise for them
//! (`Nystroem` followed by `LinearSVC` or `LinearSVR`).
//!
//! 1. **Features.** The RBF kernel is approximated by the Nyström method: `m` training rows
//!    drawn at random are the landmarks `L`, and each row maps to `φ(x) = C⁻¹ k(x)`, where
//!    `k(x)` holds `K(x, l)` for every landmark and `C Cᵀ = K(L, L)` (Cholesky). Then
//!    `φ(x)·φ(y) = k(x)ᵀ K(L,L)⁻¹ k(y)`, which equals `K(x, y)` when `x` or `y` is a landmark
//!    and approaches it as `m` grows. The linear kernel keeps the rows as they are.
//! 2. **Solver.** A linear SVM on those features, solved in the dual by coordinate descent
//!    (Hsieh et al. 2008 for the hinge loss; Ho and Lin 2012 for ε-insensitive regression), as
//!    liblinear does: one variable at a time in closed form, in a shuffled order, with
//!    shrinking of variables stuck at a bound. A constant feature 1 carries the intercept.
//!    It stops, as the exact solver does, when the optimality conditions are violated by at
//!    most `tol`, or after [`MAX_EPOCHS`] passes.
//!
//! A pass costs `rows × m`, so the fit grows linearly with the rows; the exact solver's
//! grows faster than quadratically. The fitted model is an ordinary [`Machine`]: the weights
//! fold back onto the landmarks, `w·φ(x) = (C⁻ᵀ w)·k(x)`, so predicting costs `m` kernel
//! evaluations per row, and a linear machine one dot product.

use super::{Kernel, Machine};
use ndarray::{Array2, ArrayView2, Axis};
use rand08::{rngs::StdRng, seq::SliceRandom, SeedableRng};

/// liblinear's cap on passes over the data.
const MAX_EPOCHS: usize = 1000;

/// Rows mapped per block: one block of kernel values stays small (`ROWS_PER_BLOCK × m`).
const ROWS_PER_BLOCK: usize = 2048;

/// The training rows in feature space, one `f32` row each (the features are bounded: for the
/// RBF kernel `|φ(x)|² ≤ K(x, x) = 1`, so single precision loses nothing the approximation
/// keeps, and it halves the memory a pass reads).
pub struct Features {
    values: Vec<f32>,
    dim: usize,
    /// Each feature's mean over the rows, subtracted from the stored values: the intercept
    /// is penalized like any weight (a constant feature), so it should have little to do.
    mean: Vec<f64>,
    /// RBF: the landmarks and `C⁻¹` (lower triangular), to fold the weights back.
    nystroem: Option<(Array2<f64>, Array2<f64>)>,
    kernel: Kernel,
    /// Each row's `|φ_t|²` plus the intercept's 1: the diagonal of the dual's matrix, the
    /// same for every machine fitted on these features (one per class).
    diag: Vec<f64>,
}

impl Features {
    /// Maps rows `rows` of `x`. `n_components` landmarks are drawn from them with `seed`.
    pub fn new(kernel: Kernel, x: ArrayView2<'_, f64>, rows: &[usize], n_components: usize, seed: u64) -> Features {
        let features = match kernel {
            Kernel::Linear => {
                let mean = x
                    .select(Axis(0), rows)
                    .mean_axis(Axis(0))
                    .map_or_else(|| vec![0.0; x.ncols()], |m| m.to_vec());
                Features {
                    values: rows
                        .iter()
                        .flat_map(|&i| {
                            x.row(i)
                                .iter()
                                .zip(&mean)
                                .map(|(v, m)| (v - m) as f32)
                                .collect::<Vec<_>>()
                        })
                        .collect(),
                    dim: x.ncols(),
                    mean,
                    nystroem: None,
                    kernel,
                    diag: Vec::new(),
                }
            }
            Kernel::Rbf { gamma } => {
                let mut order = rows.to_vec();
                order.shuffle(&mut StdRng::seed_from_u64(seed));
                order.truncate(n_components.min(rows.len()).max(1));
                let landmarks = x.select(Axis(0), &order);
                let inverse = lower_inverse(&cholesky(&rbf_matrix(landmarks.view(), landmarks.view(), gamma)));
                let dim = landmarks.nrows();
                let mut values = vec![0.0f32; rows.len() * dim];
                let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
                let per_thread = rows.len().div_ceil(threads).max(1);
                std::thread::scope(|scope| {
                    for (out, mine) in values.chunks_mut(per_thread * dim).zip(rows.chunks(per_thread)) {
                        let (landmarks, inverse) = (&landmarks, &inverse);
                        scope.spawn(move || {
                            for (out, block) in out.chunks_mut(ROWS_PER_BLOCK * dim).zip(mine.chunks(ROWS_PER_BLOCK)) {
                                let k = rbf_matrix(x.select(Axis(0), block).view(), landmarks.view(), gamma);
                                let phi = k.dot(&inverse.t());
                                for (o, v) in out.iter_mut().zip(phi.iter()) {
                                    *o = *v as f32;
                                }
                            }
                        });
                    }
                });
                let mut mean = vec![0.0f64; dim];
                for row in values.chunks(dim) {
                    for (m, &v) in mean.iter_mut().zip(row) {
                        *m += f64::from(v);
                    }
                }
                for m in &mut mean {
                    *m /= rows.len().max(1) as f64;
                }
                for row in values.chunks_mut(dim) {
                    for (v, m) in row.iter_mut().zip(&mean) {
                        *v = (f64::from(*v) - m) as f32;
                    }
                }
                Features {
                    values,
                    dim,
                    mean,
                    nystroem: Some((landmarks, inverse)),
                    kernel,
                    diag: Vec::new(),
                }
            }
        };
        features.with_diag()
    }

    fn len(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    fn row(&self, t: usize) -> &[f32] {
        &self.values[t * self.dim..(t + 1) * self.dim]
    }

    /// `w·φ_t` with the intercept (the last weight) included.
    fn decision(&self, w: &[f64], t: usize) -> f64 {
        let (w, bias) = w.split_at(self.dim);
        dot(self.row(t), w) + bias[0]
    }

    /// `w += d φ_t` (and the intercept's constant feature).
    fn add(&self, w: &mut [f64], t: usize, d: f64) {
        let (w, bias) = w.split_at_mut(self.dim);
        for (wj, &v) in w.iter_mut().zip(self.row(t)) {
            *wj += d * f64::from(v);
        }
        bias[0] += d;
    }

    /// Sets [`Features::diag`] from the stored rows.
    fn with_diag(mut self) -> Features {
        self.diag = self
            .values
            .chunks(self.dim.max(1))
            .map(|row| row.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() + 1.0)
            .collect();
        self
    }

    /// The decision value of every mapped row.
    pub fn decisions(&self, w: &[f64]) -> Vec<f64> {
        (0..self.len()).map(|t| self.decision(w, t)).collect()
    }

    /// The machine `w` stands for, in the original space: `w·(φ(x) − mean) + b`.
    pub fn machine(&self, w: &[f64]) -> Machine {
        let (w, bias) = w.split_at(self.dim);
        let rho = self.mean.iter().zip(w).map(|(m, wj)| m * wj).sum::<f64>() - bias[0];
        match &self.nystroem {
            None => Machine {
                kernel: self.kernel,
                support: Array2::zeros((0, self.dim)),
                coef: Vec::new(),
                rho,
                weights: Some(w.to_vec()),
                platt_a: -1.0,
            },
            Some((landmarks, inverse)) => Machine {
                kernel: self.kernel,
                support: landmarks.clone(),
                coef: inverse.t().dot(&ndarray::ArrayView1::from(w)).to_vec(),
                rho,
                weights: None,
                platt_a: -1.0,
            },
        }
    }
}

/// `Σ v_j w_j` with eight running sums: one sum would make every addition wait for the one
/// before it, and this dot product is most of a pass.
fn dot(v: &[f32], w: &[f64]) -> f64 {
    let mut sums = [0.0f64; 8];
    let (v8, w8) = (v.chunks_exact(8), w.chunks_exact(8));
    let tail: f64 = v8
        .remainder()
        .iter()
        .zip(w8.remainder())
        .map(|(&a, &b)| f64::from(a) * b)
        .sum();
    for (a, b) in v8.zip(w8) {
        for k in 0..8 {
            sums[k] += f64::from(a[k]) * b[k];
        }
    }
    sums.iter().sum::<f64>() + tail
}

/// `K(a_i, b_j)` for the RBF kernel, from `|a|² + |b|² − 2 a·b` (one matrix product).
fn rbf_matrix(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>, gamma: f64) -> Array2<f64> {
    let sq = |m: ArrayView2<'_, f64>| m.rows().into_iter().map(|r| r.dot(&r)).collect::<Vec<f64>>();
    let (na, nb) = (sq(a), sq(b));
    let mut k = a.dot(&b.t());
    for ((i, j), v) in k.indexed_iter_mut() {
        *v = (-gamma * (na[i] + nb[j] - 2.0 * *v).max(0.0)).exp();
    }
    k
}

/// The lower Cholesky factor of a kernel matrix. Repeated landmarks make it singular, so a
/// small ridge is added to the diagonal, growing tenfold until the factor exists.
fn cholesky(k: &Array2<f64>) -> Array2<f64> {
    let m = k.nrows();
    let mut ridge = 1e-10;
    loop {
        let mut l = Array2::<f64>::zeros((m, m));
        let mut ok = true;
        'rows: for i in 0..m {
            for j in 0..=i {
                let mut s = k[[i, j]] - (0..j).map(|p| l[[i, p]] * l[[j, p]]).sum::<f64>();
                if i == j {
                    s += ridge;
                    if s <= 0.0 || !s.is_finite() {
                        ok = false;
                        break 'rows;
                    }
                    l[[i, i]] = s.sqrt();
                } else {
                    l[[i, j]] = s / l[[j, j]];
                }
            }
        }
        // A pivot this small would blow the features up: treat it as a failure too.
        if ok && (0..m).all(|i| l[[i, i]] > 1e-6) {
            return l;
        }
        ridge *= 10.0;
    }
}

/// The inverse of a lower-triangular matrix with a positive diagonal, by forward substitution.
fn lower_inverse(l: &Array2<f64>) -> Array2<f64> {
    let m = l.nrows();
    let mut inv = Array2::<f64>::zeros((m, m));
    for col in 0..m {
        inv[[col, col]] = 1.0 / l[[col, col]];
        for i in col + 1..m {
            let s: f64 = (col..i).map(|p| l[[i, p]] * inv[[p, col]]).sum();
            inv[[i, col]] = -s / l[[i, i]];
        }
    }
    inv
}

/// A solved dual: the primal weights (the intercept last) and the dual variables.
pub struct Solution {
    pub weights: Vec<f64>,
    pub duals: Vec<f64>,
    pub epochs: usize,
}

impl Solution {
    /// `solver: auto` chooses this solver by row count: the log says it did, and how it went.
    pub fn log(&self, rows: usize) {
        let support = self.duals.iter().filter(|&&a| a != 0.0).count();
        tracing::info!(
            rows,
            support,
            epochs = self.epochs,
            "svm fitted by the approximate solver"
        );
    }
}

/// The hinge-loss dual: minimize `½|Σ a_t y_t φ_t|² − Σ a_t` with `0 ≤ a_t ≤ bound_t`.
pub fn classify(features: &Features, signs: &[f64], bound: &[f64], tol: f64, seed: u64) -> Solution {
    let n = features.len();
    let mut w = vec![0.0; features.dim + 1];
    let mut a = vec![0.0; n];
    let diag = &features.diag;
    let mut index: Vec<usize> = (0..n).collect();
    let mut active = n;
    let mut rng = StdRng::seed_from_u64(seed);
    // Shrinking (liblinear): a variable at a bound whose gradient pushes it further out than
    // the last pass's largest violation is set aside until the active ones converge.
    let (mut pg_max_old, mut pg_min_old) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut epochs = 0;
    while epochs < MAX_EPOCHS {
        epochs += 1;
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        index[..active].shuffle(&mut rng);
        let mut s = 0;
        while s < active {
            let t = index[s];
            let g = signs[t] * features.decision(&w, t) - 1.0;
            let pg = if a[t] == 0.0 {
                if g > pg_max_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                }
                g.min(0.0)
            } else if a[t] >= bound[t] {
                if g < pg_min_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                }
                g.max(0.0)
            } else {
                g
            };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = a[t];
                a[t] = (a[t] - g / diag[t]).clamp(0.0, bound[t]);
                features.add(&mut w, t, (a[t] - old) * signs[t]);
            }
            s += 1;
        }
        if pg_max - pg_min <= tol {
            if active == n {
                break;
            }
            // Converged on the active set: check every variable once more.
            active = n;
            (pg_max_old, pg_min_old) = (f64::INFINITY, f64::NEG_INFINITY);
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
        pg_min_old = if pg_min >= 0.0 { f64::NEG_INFINITY } else { pg_min };
    }
    Solution {
        weights: w,
        duals: a,
        epochs,
    }
}

/// The ε-insensitive dual: minimize `½|Σ b_t φ_t|² − Σ z_t b_t + ε Σ |b_t|` with
/// `|b_t| ≤ bound_t`. It stops when the summed violation falls to `tol` times the first
/// pass's, as liblinear does.
pub fn regress(features: &Features, z: &[f64], bound: &[f64], epsilon: f64, tol: f64, seed: u64) -> Solution {
    let n = features.len();
    let mut w = vec![0.0; features.dim + 1];
    let mut b = vec![0.0; n];
    let diag = &features.diag;
    let mut index: Vec<usize> = (0..n).collect();
    let mut active = n;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut g_max_old = f64::INFINITY;
    let mut first_norm: Option<f64> = None;
    let mut epochs = 0;
    while epochs < MAX_EPOCHS {
        epochs += 1;
        let (mut g_max, mut norm) = (0.0f64, 0.0);
        index[..active].shuffle(&mut rng);
        let mut s = 0;
        while s < active {
            let t = index[s];
            let g = features.decision(&w, t) - z[t];
            let (gp, gn, h, c) = (g + epsilon, g - epsilon, diag[t], bound[t]);
            let violation = if b[t] == 0.0 {
                if gp < 0.0 {
                    -gp
                } else if gn > 0.0 {
                    gn
                } else if gp > g_max_old && gn < -g_max_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else {
                    0.0
                }
            } else if b[t] >= c {
                if gp > 0.0 {
                    gp
                } else if gp < -g_max_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else {
                    0.0
                }
            } else if b[t] <= -c {
                if gn < 0.0 {
                    -gn
                } else if gn > g_max_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else {
                    0.0
                }
            } else if b[t] > 0.0 {
                gp.abs()
            } else {
                gn.abs()
            };
            g_max = g_max.max(violation);
            norm += violation;
            // The one-variable problem's minimizer, then clipped to the box.
            let step = if gp < h * b[t] {
                -gp / h
            } else if gn > h * b[t] {
                -gn / h
            } else {
                -b[t]
            };
            if step.abs() >= 1e-12 {
                let old = b[t];
                b[t] = (b[t] + step).clamp(-c, c);
                features.add(&mut w, t, b[t] - old);
            }
            s += 1;
        }
        let first = *first_norm.get_or_insert(norm);
        if norm <= tol * first {
            if active == n {
                break;
            }
            active = n;
            g_max_old = f64::INFINITY;
            continue;
        }
        g_max_old = g_max;
    }
    Solution {
        weights: w,
        duals: b,
        epochs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand08::Rng;

    /// Seeded rows, uniform in [-1, 1].
    fn random_matrix(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| rng.gen_range(-1.0..1.0))
    }

    fn dot(w: &[f64], v: &[f64]) -> f64 {
        w.iter().zip(v).map(|(a, b)| a * b).sum()
    }

    /// The weights' squared norm, with the intercept (it is a feature to the solver).
    fn half_square(w: &[f64]) -> f64 {
        0.5 * dot(w, w)
    }

    #[test]
    fn the_classifier_closes_the_duality_gap() {
        let x = random_matrix(600, 4, 3);
        let rows: Vec<usize> = (0..600).collect();
        // A noisy circle: not linearly separable, so many variables sit at their bound.
        let signs: Vec<f64> = (0..600)
            .map(|i| {
                if x.row(i).dot(&x.row(i)) + 0.2 * x[[i, 3]] < 0.6 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let bound: Vec<f64> = (0..600).map(|i| if i % 3 == 0 { 2.0 } else { 1.0 }).collect();
        for kernel in [Kernel::Rbf { gamma: 1.0 }, Kernel::Linear] {
            let f = Features::new(kernel, x.view(), &rows, 150, 5);
            let s = classify(&f, &signs, &bound, 1e-4, 9);
            let decisions = f.decisions(&s.weights);
            let primal = half_square(&s.weights)
                + (0..600)
                    .map(|t| bound[t] * (1.0 - signs[t] * decisions[t]).max(0.0))
                    .sum::<f64>();
            let dual = s.duals.iter().sum::<f64>() - half_square(&s.weights);
            assert!(s.duals.iter().zip(&bound).all(|(a, c)| (0.0..=*c).contains(a)));
            assert!(
                primal - dual >= -1e-6 && (primal - dual) / primal < 1e-3,
                "{kernel:?}: {primal} vs {dual}"
            );
        }
    }

    #[test]
    fn the_regressor_closes_the_duality_gap() {
        let x = random_matrix(500, 3, 4);
        let rows: Vec<usize> = (0..500).collect();
        let z: Vec<f64> = (0..500)
            .map(|i| (2.0 * x[[i, 0]]).sin() + x[[i, 1]] * x[[i, 2]])
            .collect();
        let bound = vec![1.0; 500];
        for kernel in [Kernel::Rbf { gamma: 1.0 }, Kernel::Linear] {
            let f = Features::new(kernel, x.view(), &rows, 120, 5);
            let s = regress(&f, &z, &bound, 0.1, 1e-5, 2);
            let decisions = f.decisions(&s.weights);
            let primal = half_square(&s.weights)
                + (0..500)
                    .map(|t| ((decisions[t] - z[t]).abs() - 0.1).max(0.0))
                    .sum::<f64>();
            let dual = dot(&s.duals, &z) - 0.1 * s.duals.iter().map(|b| b.abs()).sum::<f64>() - half_square(&s.weights);
            assert!(
                primal - dual >= -1e-6 && (primal - dual) / primal < 1e-3,
                "{kernel:?}: {primal} vs {dual}"
            );
        }
    }

    #[test]
    fn the_folded_machine_predicts_what_the_features_do() {
        let x = random_matrix(300, 3, 8);
        let rows: Vec<usize> = (0..300).step_by(2).collect();
        let signs: Vec<f64> = rows
            .iter()
            .map(|&i| if x[[i, 0]] * x[[i, 1]] > 0.0 { 1.0 } else { -1.0 })
            .collect();
        for kernel in [Kernel::Rbf { gamma: 2.0 }, Kernel::Linear] {
            let f = Features::new(kernel, x.view(), &rows, 60, 1);
            let s = classify(&f, &signs, &vec![1.0; rows.len()], 1e-3, 1);
            let machine = f.machine(&s.weights);
            for (t, d) in f.decisions(&s.weights).iter().enumerate() {
                let folded = machine.decision(x.row(rows[t]));
                assert!((folded - d).abs() < 1e-4, "{kernel:?} row {t}: {folded} vs {d}");
            }
        }
    }

    #[test]
    fn the_cholesky_factor_reproduces_the_matrix_and_its_inverse_inverts() {
        let x = array![[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [0.3, 0.3]];
        let k = rbf_matrix(x.view(), x.view(), 0.5);
        let l = cholesky(&k);
        assert!((l.dot(&l.t()) - &k).iter().all(|v| v.abs() < 1e-9));
        let product = lower_inverse(&l).dot(&l);
        for ((i, j), v) in product.indexed_iter() {
            assert!((v - f64::from(u8::from(i == j))).abs() < 1e-9, "{i},{j}: {v}");
        }
    }

    #[test]
    fn repeated_landmarks_still_factor() {
        let x = array![[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]];
        let l = cholesky(&rbf_matrix(x.view(), x.view(), 1.0));
        assert!(l.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn nystroem_features_reproduce_the_kernel_on_landmarks_and_approximate_it_elsewhere() {
        let x = random_matrix(400, 3, 7);
        let gamma = 0.3;
        let rows: Vec<usize> = (0..400).collect();
        // Every row a landmark: the map is exact.
        let all = Features::new(Kernel::Rbf { gamma }, x.view(), &rows, 400, 1);
        let k = rbf_matrix(x.view(), x.view(), gamma);
        // The stored features are centred; the kernel is the product of the uncentred ones.
        let phi = |f: &Features, t: usize| {
            f.row(t)
                .iter()
                .zip(&f.mean)
                .map(|(&v, m)| f64::from(v) + m)
                .collect::<Vec<f64>>()
        };
        for (s, t) in [(0, 1), (5, 300), (399, 2)] {
            let dot: f64 = phi(&all, s).iter().zip(phi(&all, t)).map(|(a, b)| a * b).sum();
            assert!((dot - k[[s, t]]).abs() < 1e-4, "{s},{t}: {dot} vs {}", k[[s, t]]);
        }
        // A quarter of them: close on average.
        let some = Features::new(Kernel::Rbf { gamma }, x.view(), &rows, 100, 1);
        let mut error = 0.0;
        for s in 0..400 {
            let t = (s * 7 + 3) % 400;
            let dot: f64 = phi(&some, s).iter().zip(phi(&some, t)).map(|(a, b)| a * b).sum();
            error += (dot - k[[s, t]]).abs();
        }
        assert!(error / 400.0 < 0.02, "mean error {}", error / 400.0);
    }
}
