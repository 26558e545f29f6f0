//! Support vector machines as scikit-learn's `SVC` and `SVR`, which wrap libsvm: the same dual
//! problems, solved the same way.
//!
//! Both are one quadratic problem over variables `a`:
//!
//! ```text
//! minimize ½ aᵀQa + pᵀa   subject to  yᵀa = 0,  0 ≤ a_t ≤ C   (y_t = ±1)
//! ```
//!
//! with `Q_st = y_s y_t K(x_s, x_t)`. Classification has one variable per row and `p = −1`;
//! ε-regression two per row (`a` then `a*`), `p = ε − z` and `ε + z`. [`solve`] is libsvm's
//! SMO: each step picks the pair that violates the optimality conditions most, by the
//! second-order rule of Fan, Chen and Lin (2005), and solves for those two in closed form.
//! Kernel rows are computed on demand and kept in a bounded cache.
//!
//! Probabilities (classification): Platt's sigmoid `P(class | f) = 1 / (1 + exp(A f))` fitted
//! on the decision values, with Platt's smoothed targets. scikit-learn also fits an offset B;
//! here B = 0, so the most probable class is always the one the decision function picks.
//! More than two classes: one machine per class against the rest, probabilities normalized.
//!
//! Beyond [`SVM_EXACT_MAX_ROWS`] training rows (or with `solver: approximate`) the fit is
//! [`approximate`]: Nyström features and liblinear's coordinate descent, linear in the rows.

mod approximate;

use chimera_shared::config::spec::{Gamma, SvmKernel, SvmParams, SvmSolver, SVM_EXACT_MAX_ROWS};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use std::collections::{HashMap, VecDeque};

/// A kernel with its data-dependent `gamma` resolved.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Kernel {
    Linear,
    Rbf { gamma: f64 },
}

impl Kernel {
    /// scikit-learn's `gamma='scale'`: 1 / (features × the variance of every entry of X).
    pub fn new(params: &SvmParams, x: ArrayView2<'_, f64>) -> Kernel {
        match params.kernel {
            SvmKernel::Linear => Kernel::Linear,
            SvmKernel::Rbf => {
                let d = x.ncols().max(1) as f64;
                let gamma = match params.gamma {
                    Gamma::Value(g) => g,
                    Gamma::Auto => 1.0 / d,
                    Gamma::Scale => {
                        let var = x.var(0.0);
                        if var > 0.0 {
                            1.0 / (d * var)
                        } else {
                            1.0
                        }
                    }
                };
                Kernel::Rbf { gamma }
            }
        }
    }

    fn eval(self, a: ArrayView1<'_, f64>, b: ArrayView1<'_, f64>) -> f64 {
        match self {
            Kernel::Linear => a.dot(&b),
            Kernel::Rbf { gamma } => {
                let sq: f64 = a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum();
                (-gamma * sq).exp()
            }
        }
    }
}

/// One fitted machine: `f(x) = Σ coef_s K(sv_s, x) − rho`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    kernel: Kernel,
    support: Array2<f64>,
    coef: Vec<f64>,
    rho: f64,
    /// Linear kernel: the primal weights `Σ coef_s sv_s`, so a predict costs one dot product.
    weights: Option<Vec<f64>>,
    /// Platt's slope (classification only).
    platt_a: f64,
}

impl Machine {
    pub fn decision(&self, row: ArrayView1<'_, f64>) -> f64 {
        if let Some(w) = &self.weights {
            return row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() - self.rho;
        }
        self.support
            .rows()
            .into_iter()
            .zip(&self.coef)
            .map(|(sv, c)| c * self.kernel.eval(sv, row))
            .sum::<f64>()
            - self.rho
    }

    /// The probability of the positive side.
    pub fn probability(&self, row: ArrayView1<'_, f64>) -> f64 {
        1.0 / (1.0 + (self.platt_a * self.decision(row)).exp())
    }

    pub fn n_support(&self) -> usize {
        self.coef.len()
    }
}

/// A fitted `svm`: regression, or one machine per class pair side (two classes: one machine,
/// positive = class 1; more: one per class against the rest).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Svm {
    Regression(Machine),
    Binary(Machine),
    OneVsRest(Vec<Machine>),
}

impl Svm {
    /// Class probabilities (columns in class order) for each row of `x`.
    pub fn probabilities(&self, x: ArrayView2<'_, f64>, n_classes: usize) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), n_classes.max(2)));
        for (i, row) in x.rows().into_iter().enumerate() {
            match self {
                Svm::Binary(m) => {
                    let p = m.probability(row);
                    out[[i, 0]] = 1.0 - p;
                    out[[i, 1]] = p;
                }
                Svm::OneVsRest(machines) => {
                    let ps: Vec<f64> = machines.iter().map(|m| m.probability(row)).collect();
                    let total: f64 = ps.iter().sum::<f64>().max(f64::MIN_POSITIVE);
                    for (c, p) in ps.iter().enumerate() {
                        out[[i, c]] = p / total;
                    }
                }
                Svm::Regression(_) => {}
            }
        }
        out
    }

    pub fn values(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        match self {
            Svm::Regression(m) => x.rows().into_iter().map(|r| m.decision(r)).collect(),
            _ => Array1::zeros(x.nrows()),
        }
    }
}

/// Whether `params` asks for the approximate solver on `rows` training rows.
fn approximates(params: &SvmParams, rows: usize) -> bool {
    match params.solver {
        SvmSolver::Exact => false,
        SvmSolver::Approximate => true,
        SvmSolver::Auto => rows > SVM_EXACT_MAX_ROWS,
    }
}

/// The rows taking part in a fit (weight > 0; a row counted twice carries twice the slack).
fn participating(weights: &[f64]) -> Vec<usize> {
    (0..weights.len()).filter(|&i| weights[i] > 0.0).collect()
}

/// Fits `SVC` on class indices `y` (rows with weight 0 left out, others repeated by weight).
/// `seed` draws the approximate solver's landmarks and order (`params.random_state` wins).
pub fn fit_classifier(
    params: &SvmParams,
    x: ArrayView2<'_, f64>,
    y: &[usize],
    n_classes: usize,
    weights: &[f64],
    seed: u64,
) -> Svm {
    let kernel = Kernel::new(params, x);
    let rows = participating(weights);
    let features = approximates(params, rows.len())
        .then(|| approximate::Features::new(kernel, x, &rows, params.n_components, seed));
    let machine = |positive: &dyn Fn(usize) -> bool| -> Machine {
        let signs: Vec<f64> = y.iter().map(|&c| if positive(c) { 1.0 } else { -1.0 }).collect();
        let labels: Vec<(bool, f64)> = rows.iter().map(|&i| (signs[i] > 0.0, weights[i])).collect();
        let (mut m, decisions) = if let Some(features) = &features {
            let signs: Vec<f64> = rows.iter().map(|&i| signs[i]).collect();
            let bound: Vec<f64> = rows.iter().map(|&i| params.c * weights[i]).collect();
            let solved = approximate::classify(features, &signs, &bound, params.tol, seed);
            solved.log(rows.len());
            (features.machine(&solved.weights), features.decisions(&solved.weights))
        } else {
            let problem = Problem::classification(x, &signs, weights, params.c);
            let solution = solve(&problem, kernel, params.tol, params.max_iter);
            let decisions = problem.training_decisions(&solution);
            (problem.machine(kernel, &solution.a, solution.rho), decisions)
        };
        m.platt_a = platt_slope(&decisions, &labels);
        m
    };
    if n_classes <= 2 {
        Svm::Binary(machine(&|c| c == 1))
    } else {
        Svm::OneVsRest((0..n_classes).map(|k| machine(&|c| c == k)).collect())
    }
}

/// Fits ε-`SVR` on values `z`.
pub fn fit_regressor(params: &SvmParams, x: ArrayView2<'_, f64>, z: &[f64], weights: &[f64], seed: u64) -> Svm {
    let kernel = Kernel::new(params, x);
    let rows = participating(weights);
    if approximates(params, rows.len()) {
        let features = approximate::Features::new(kernel, x, &rows, params.n_components, seed);
        // Centred targets, for the reason the features are centred: the penalized intercept.
        let total: f64 = rows.iter().map(|&i| weights[i]).sum();
        let shift = rows.iter().map(|&i| weights[i] * z[i]).sum::<f64>() / total;
        let z: Vec<f64> = rows.iter().map(|&i| z[i] - shift).collect();
        let bound: Vec<f64> = rows.iter().map(|&i| params.c * weights[i]).collect();
        let solved = approximate::regress(&features, &z, &bound, params.epsilon, params.tol, seed);
        solved.log(rows.len());
        let mut machine = features.machine(&solved.weights);
        machine.rho -= shift;
        return Svm::Regression(machine);
    }
    let problem = Problem::regression(x, z, weights, params.c, params.epsilon);
    let solution = solve(&problem, kernel, params.tol, params.max_iter);
    Svm::Regression(problem.machine(kernel, &solution.a, solution.rho))
}

/// The dual problem: variable `t` belongs to row `rows[t % rows.len()]`.
struct Problem<'a> {
    x: ArrayView2<'a, f64>,
    /// The rows taking part (weight > 0).
    rows: Vec<usize>,
    y: Vec<f64>,
    p: Vec<f64>,
    /// Upper bound per variable: `C` times the row's weight (a row counted twice may carry
    /// twice the slack, as two copies of it would).
    c: Vec<f64>,
}

impl<'a> Problem<'a> {
    fn classification(x: ArrayView2<'a, f64>, signs: &[f64], weights: &[f64], c: f64) -> Self {
        let rows = participating(weights);
        Problem {
            x,
            y: rows.iter().map(|&i| signs[i]).collect(),
            p: vec![-1.0; rows.len()],
            c: rows.iter().map(|&i| c * weights[i]).collect(),
            rows,
        }
    }

    fn regression(x: ArrayView2<'a, f64>, z: &[f64], weights: &[f64], c: f64, epsilon: f64) -> Self {
        let rows = participating(weights);
        let n = rows.len();
        let mut y = vec![1.0; n];
        y.extend(std::iter::repeat_n(-1.0, n));
        let mut p: Vec<f64> = rows.iter().map(|&i| epsilon - z[i]).collect();
        p.extend(rows.iter().map(|&i| epsilon + z[i]));
        let mut bound: Vec<f64> = rows.iter().map(|&i| c * weights[i]).collect();
        bound.extend_from_within(..);
        Problem {
            x,
            rows,
            y,
            p,
            c: bound,
        }
    }

    fn len(&self) -> usize {
        self.y.len()
    }

    /// Classification: the decision value of every participating row, read off the solver's
    /// gradient (`G_t = y_t Σ_s y_s a_s K_st + p_t`) instead of evaluating the kernel again.
    fn training_decisions(&self, s: &Solution) -> Vec<f64> {
        (0..self.len())
            .map(|t| self.y[t] * (s.gradient[t] - self.p[t]) - s.rho)
            .collect()
    }

    fn row_of(&self, t: usize) -> usize {
        self.rows[t % self.rows.len()]
    }

    /// The support vectors (rows with a non-zero coefficient) and their coefficients.
    fn machine(&self, kernel: Kernel, a: &[f64], rho: f64) -> Machine {
        let n = self.rows.len();
        let mut coef = vec![0.0; n];
        for (t, (&at, &yt)) in a.iter().zip(&self.y).enumerate() {
            coef[t % n] += yt * at;
        }
        let keep: Vec<usize> = (0..n).filter(|&k| coef[k] != 0.0).collect();
        let support = self.x.select(
            ndarray::Axis(0),
            &keep.iter().map(|&k| self.rows[k]).collect::<Vec<_>>(),
        );
        let coef: Vec<f64> = keep.iter().map(|&k| coef[k]).collect();
        let weights = (kernel == Kernel::Linear).then(|| {
            let mut w = vec![0.0; self.x.ncols()];
            for (sv, c) in support.rows().into_iter().zip(&coef) {
                for (wj, v) in w.iter_mut().zip(sv) {
                    *wj += c * v;
                }
            }
            w
        });
        Machine {
            kernel,
            support,
            coef,
            rho,
            weights,
            platt_a: -1.0,
        }
    }
}

/// Kernel rows by data row, computed on demand; the oldest are dropped beyond the budget.
struct KernelCache<'p, 'a> {
    problem: &'p Problem<'a>,
    kernel: Kernel,
    rows: HashMap<usize, std::rc::Rc<Vec<f64>>>,
    order: VecDeque<usize>,
    capacity: usize,
}

/// Memory the kernel cache may use (libsvm's default is 200 MB).
const CACHE_BYTES: usize = 256 << 20;

impl<'p, 'a> KernelCache<'p, 'a> {
    fn new(problem: &'p Problem<'a>, kernel: Kernel) -> Self {
        let n = problem.rows.len().max(1);
        KernelCache {
            problem,
            kernel,
            rows: HashMap::new(),
            order: VecDeque::new(),
            capacity: (CACHE_BYTES / (n * 8)).max(2),
        }
    }

    /// `K(row k, row m)` for every participating row `m` (`k` indexes `problem.rows`).
    fn row(&mut self, k: usize) -> std::rc::Rc<Vec<f64>> {
        if let Some(r) = self.rows.get(&k) {
            return r.clone();
        }
        let x = self.problem.x;
        let me = x.row(self.problem.rows[k]);
        let values: Vec<f64> = self
            .problem
            .rows
            .iter()
            .map(|&m| self.kernel.eval(me, x.row(m)))
            .collect();
        let values = std::rc::Rc::new(values);
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.rows.remove(&old);
            }
        }
        self.order.push_back(k);
        self.rows.insert(k, values.clone());
        values
    }
}

/// The solver's own cap on steps when `max_iter` is unlimited (libsvm's is 10⁷ or 100 n).
fn step_cap(len: usize) -> u64 {
    (100 * len as u64).max(10_000_000)
}

/// The solver's answer: the variables, the objective's gradient there, and the offset.
struct Solution {
    a: Vec<f64>,
    gradient: Vec<f64>,
    rho: f64,
}

/// libsvm's SMO with second-order working-set selection.
fn solve(pb: &Problem<'_>, kernel: Kernel, tol: f64, max_iter: Option<u64>) -> Solution {
    const TAU: f64 = 1e-12;
    let l = pb.len();
    let n = pb.rows.len();
    if n == 0 {
        return Solution {
            a: Vec::new(),
            gradient: Vec::new(),
            rho: 0.0,
        };
    }
    let mut cache = KernelCache::new(pb, kernel);
    // K(x, x): 1 for RBF, |x|² for linear.
    let qd: Vec<f64> = (0..l)
        .map(|t| {
            let r = pb.x.row(pb.row_of(t));
            kernel.eval(r, r)
        })
        .collect();
    let (y, c) = (&pb.y, &pb.c);
    let mut a = vec![0.0; l];
    let mut g = pb.p.clone();
    let cap = max_iter.unwrap_or_else(|| step_cap(l));
    let upper = |a: &[f64], t: usize| a[t] >= c[t];
    let lower = |a: &[f64], t: usize| a[t] <= 0.0;
    let mut steps = 0u64;
    while steps < cap {
        steps += 1;
        // i: the most violating variable that can move up (in the y·a direction).
        let mut g_max = f64::NEG_INFINITY;
        let mut i = usize::MAX;
        for t in 0..l {
            let v = -y[t] * g[t];
            let movable = if y[t] > 0.0 { !upper(&a, t) } else { !lower(&a, t) };
            if movable && v >= g_max {
                g_max = v;
                i = t;
            }
        }
        if i == usize::MAX {
            break;
        }
        let ki = cache.row(i % n);
        // j: the partner giving the largest second-order decrease of the objective.
        let mut g_max2 = f64::NEG_INFINITY;
        let mut j = usize::MAX;
        let mut best = f64::INFINITY;
        for t in 0..l {
            let movable = if y[t] > 0.0 { !lower(&a, t) } else { !upper(&a, t) };
            if !movable {
                continue;
            }
            let v = y[t] * g[t];
            g_max2 = g_max2.max(v);
            let diff = g_max + v;
            if diff > 0.0 {
                let quad = (qd[i] + qd[t] - 2.0 * ki[t % n]).max(TAU);
                let obj = -(diff * diff) / quad;
                if obj <= best {
                    best = obj;
                    j = t;
                }
            }
        }
        if g_max + g_max2 < tol || j == usize::MAX {
            break;
        }
        let kj = cache.row(j % n);
        let kij = ki[j % n];
        let (old_i, old_j) = (a[i], a[j]);
        let (ci, cj) = (c[i], c[j]);
        #[allow(clippy::float_cmp)] // Labels are exactly +1 or -1.
        let same_side = y[i] == y[j];
        if same_side {
            let quad = (qd[i] + qd[j] - 2.0 * kij).max(TAU);
            let delta = (g[i] - g[j]) / quad;
            let sum = a[i] + a[j];
            a[i] -= delta;
            a[j] += delta;
            if sum > ci {
                if a[i] > ci {
                    a[i] = ci;
                    a[j] = sum - ci;
                }
            } else if a[j] < 0.0 {
                a[j] = 0.0;
                a[i] = sum;
            }
            if sum > cj {
                if a[j] > cj {
                    a[j] = cj;
                    a[i] = sum - cj;
                }
            } else if a[i] < 0.0 {
                a[i] = 0.0;
                a[j] = sum;
            }
        } else {
            let quad = (qd[i] + qd[j] - 2.0 * kij).max(TAU);
            let delta = (-g[i] - g[j]) / quad;
            let diff = a[i] - a[j];
            a[i] += delta;
            a[j] += delta;
            if diff > 0.0 {
                if a[j] < 0.0 {
                    a[j] = 0.0;
                    a[i] = diff;
                }
            } else if a[i] < 0.0 {
                a[i] = 0.0;
                a[j] = -diff;
            }
            if diff > ci - cj {
                if a[i] > ci {
                    a[i] = ci;
                    a[j] = ci - diff;
                }
            } else if a[j] > cj {
                a[j] = cj;
                a[i] = cj + diff;
            }
        }
        // G_t += Q_ti Δa_i + Q_tj Δa_j, with Q_st = y_s y_t K_st.
        let (di, dj) = ((a[i] - old_i) * y[i], (a[j] - old_j) * y[j]);
        for t in 0..l {
            g[t] += y[t] * (ki[t % n] * di + kj[t % n] * dj);
        }
    }
    if steps >= cap {
        tracing::warn!(
            steps,
            "svm: the solver stopped at its step limit before converging; raise max_iter or tol"
        );
    }
    let rho = rho(&a, &g, y, c);
    Solution { a, gradient: g, rho }
}

/// The offset: the mean of `y_t G_t` over free variables, else the middle of their bounds.
fn rho(a: &[f64], g: &[f64], y: &[f64], c: &[f64]) -> f64 {
    let (mut ub, mut lb) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut free, mut sum) = (0usize, 0.0);
    for t in 0..a.len() {
        let yg = y[t] * g[t];
        if a[t] >= c[t] {
            if y[t] < 0.0 {
                ub = ub.min(yg);
            } else {
                lb = lb.max(yg);
            }
        } else if a[t] <= 0.0 {
            if y[t] > 0.0 {
                ub = ub.min(yg);
            } else {
                lb = lb.max(yg);
            }
        } else {
            free += 1;
            sum += yg;
        }
    }
    if free > 0 {
        sum / free as f64
    } else {
        f64::midpoint(ub, lb)
    }
}

/// Platt's slope `A` (with `B` = 0) by Newton's method on the weighted log-loss, with Platt's
/// smoothed targets `(N₊ + 1) / (N₊ + 2)` and `1 / (N₋ + 2)`.
fn platt_slope(decisions: &[f64], labels: &[(bool, f64)]) -> f64 {
    let n_pos: f64 = labels.iter().filter(|l| l.0).map(|l| l.1).sum();
    let n_neg: f64 = labels.iter().filter(|l| !l.0).map(|l| l.1).sum();
    let (hi, lo) = ((n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0));
    let mut a = -1.0;
    for _ in 0..100 {
        let (mut grad, mut hess) = (0.0, 1e-12);
        for (&f, &(pos, w)) in decisions.iter().zip(labels) {
            let t = if pos { hi } else { lo };
            let p = 1.0 / (1.0 + (a * f).exp());
            // d/dA of −[t ln p + (1 − t) ln(1 − p)] = (t − p) f; second derivative p(1 − p) f².
            grad += w * (t - p) * f;
            hess += w * p * (1.0 - p) * f * f;
        }
        let step = grad / hess;
        a -= step;
        if step.abs() < 1e-10 {
            break;
        }
    }
    a.min(-1e-6) // Larger decisions must mean "more positive".
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand08::{rngs::StdRng, Rng, SeedableRng};

    fn params(kernel: SvmKernel, c: f64) -> SvmParams {
        SvmParams {
            c,
            kernel,
            gamma: Gamma::Scale,
            epsilon: 0.1,
            tol: 1e-6,
            max_iter: None,
            solver: SvmSolver::Exact,
            n_components: 300,
            random_state: None,
        }
    }

    /// The dual objective and its constraints: the solver's answer must satisfy the KKT
    /// conditions, checked from scratch with the full kernel matrix.
    fn kkt_violation(pb: &Problem<'_>, kernel: Kernel, a: &[f64], rho: f64) -> f64 {
        let l = pb.len();
        let mut worst: f64 = (0..l).map(|t| pb.y[t] * a[t]).sum::<f64>().abs();
        for s in 0..l {
            let g: f64 = pb.p[s]
                + (0..l)
                    .map(|t| pb.y[s] * pb.y[t] * kernel.eval(pb.x.row(pb.row_of(s)), pb.x.row(pb.row_of(t))) * a[t])
                    .sum::<f64>();
            // At the optimum, y_s G_s = rho for free variables, ≥ or ≤ rho at the bounds.
            let yg = pb.y[s] * g - rho;
            let v = if a[s] <= 0.0 {
                if pb.y[s] > 0.0 {
                    (-yg).max(0.0)
                } else {
                    yg.max(0.0)
                }
            } else if a[s] >= pb.c[s] {
                if pb.y[s] > 0.0 {
                    yg.max(0.0)
                } else {
                    (-yg).max(0.0)
                }
            } else {
                yg.abs()
            };
            worst = worst.max(v);
        }
        worst
    }

    #[test]
    fn the_solution_meets_the_optimality_conditions() {
        let mut rng = StdRng::seed_from_u64(4);
        let x = Array2::from_shape_fn((80, 3), |_| rng.gen_range(-1.0..1.0));
        let signs: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| {
                if r[0] + r[1] * r[1] + rng.gen_range(-0.3..0.3) > 0.2 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let z: Vec<f64> = x.rows().into_iter().map(|r| r[0] * 2.0 - r[2]).collect();
        let mut w = vec![1.0; 80];
        w[3] = 2.0;
        w[7] = 0.0;
        for kernel in [Kernel::Linear, Kernel::Rbf { gamma: 0.7 }] {
            let pb = Problem::classification(x.view(), &signs, &w, 2.0);
            let solution = solve(&pb, kernel, 1e-8, None);
            let (a, rho) = (&solution.a, solution.rho);
            assert!(kkt_violation(&pb, kernel, a, rho) < 1e-6, "{kernel:?}");
            assert!(a.iter().zip(&pb.c).all(|(v, c)| (0.0..=*c).contains(v)));
            // The decisions read off the gradient are the machine's own.
            let machine = pb.machine(kernel, a, rho);
            for (t, f) in pb.training_decisions(&solution).iter().enumerate() {
                assert!(
                    (f - machine.decision(x.row(pb.rows[t]))).abs() < 1e-9,
                    "{kernel:?} row {t}"
                );
            }
            let pb = Problem::regression(x.view(), &z, &w, 5.0, 0.1);
            let Solution { a, rho, .. } = solve(&pb, kernel, 1e-8, None);
            assert!(kkt_violation(&pb, kernel, &a, rho) < 1e-6, "{kernel:?} regression");
        }
    }

    #[test]
    fn a_separable_problem_is_separated_with_confident_probabilities() {
        let x = ndarray::array![[0.0, 0.0], [0.2, 0.1], [0.1, 0.3], [2.0, 2.0], [2.2, 1.9], [1.8, 2.1]];
        let y = [0, 0, 0, 1, 1, 1];
        for kernel in [SvmKernel::Linear, SvmKernel::Rbf] {
            let svm = fit_classifier(&params(kernel, 10.0), x.view(), &y, 2, &[1.0; 6], 0);
            let p = svm.probabilities(x.view(), 2);
            for (i, &c) in y.iter().enumerate() {
                assert!(p[[i, c]] > 0.5, "{kernel:?} row {i}: {p:?}");
            }
            let far = svm.probabilities(ndarray::array![[5.0, 5.0]].view(), 2);
            assert!(far[[0, 1]] > 0.5, "{kernel:?}");
        }
    }

    #[test]
    fn a_linear_regression_is_recovered_within_epsilon() {
        let mut rng = StdRng::seed_from_u64(8);
        let x = Array2::from_shape_fn((60, 2), |_| rng.gen_range(-2.0..2.0));
        let z: Vec<f64> = x.rows().into_iter().map(|r| 3.0 * r[0] - r[1] + 0.5).collect();
        let svm = fit_regressor(&params(SvmKernel::Linear, 100.0), x.view(), &z, &[1.0; 60], 0);
        let pred = svm.values(x.view());
        for (p, t) in pred.iter().zip(&z) {
            assert!((p - t).abs() <= 0.1 + 1e-3, "{p} vs {t}");
        }
    }

    #[test]
    fn three_classes_get_normalized_probabilities() {
        let mut rng = StdRng::seed_from_u64(2);
        let centers = [[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]];
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for _ in 0..30 {
            for (c, m) in centers.iter().enumerate() {
                rows.push([m[0] + rng.gen_range(-0.5..0.5), m[1] + rng.gen_range(-0.5..0.5)]);
                y.push(c);
            }
        }
        let x = Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j]);
        let svm = fit_classifier(&params(SvmKernel::Rbf, 1.0), x.view(), &y, 3, &vec![1.0; y.len()], 0);
        let p = svm.probabilities(x.view(), 3);
        for (i, &c) in y.iter().enumerate() {
            assert!((p.row(i).sum() - 1.0).abs() < 1e-9);
            let best = (0..3).max_by(|&a, &b| p[[i, a]].total_cmp(&p[[i, b]])).unwrap();
            assert_eq!(best, c, "row {i}");
        }
    }
}
