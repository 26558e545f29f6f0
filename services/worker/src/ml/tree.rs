//! A compact CART decision tree (classifier and regressor), as scikit-learn's
//! `DecisionTreeClassifier` / `DecisionTreeRegressor` with `splitter="best"`:
//! Gini impurity or squared error, thresholds at midpoints between distinct values, `x <= t`
//! goes left, `max_depth`, `max_leaf_nodes` (best-first growth, as scikit-learn does when it is
//! set), `min_samples_leaf`, `min_samples_split`, sample weights (how bootstrap counts enter),
//! and class probabilities from leaf frequencies.
//!
//! This file is the exact splitter (`splitter: exact`); [`hist`] is the histogram one, the
//! default. Both grow the same [`Tree`].
//!
//! Speed comes from sorting each feature once: every node owns the same `[start, end)` range in
//! each feature's sorted index list, and a split partitions those ranges stably, so no node ever
//! sorts or rescans rows outside itself. Finding a node's split is O(features × node rows).

mod hist;

pub use hist::{Binned, MAX_BINS};
use ndarray::{ArrayView1, ArrayView2};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, PartialEq)]
pub struct TreeParams {
    pub max_depth: Option<usize>,
    pub max_leaf_nodes: Option<usize>,
    pub min_samples_leaf: f64,
    pub min_samples_split: f64,
    /// Features drawn at random for each split (a forest's `max_features`); `None`: all of
    /// them, in order. As in scikit-learn, the search goes on past this many features until
    /// one valid split is found.
    pub max_features: Option<usize>,
    /// Extremely randomized trees: each drawn feature gets one threshold, drawn uniformly
    /// between its smallest and largest value in the node, instead of the best one.
    pub random_thresholds: bool,
    /// Seeds the feature draws and thresholds.
    pub seed: u64,
    /// Classification by information gain (entropy) instead of Gini impurity.
    pub entropy: bool,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            max_depth: None,
            max_leaf_nodes: None,
            min_samples_leaf: 1.0,
            min_samples_split: 2.0,
            max_features: None,
            random_thresholds: false,
            seed: 0,
            entropy: false,
        }
    }
}

/// What the tree predicts: class indices (`n_classes` of them) or a real value.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    Classes { y: &'a [usize], n_classes: usize },
    Values(&'a [f64]),
}

impl Targets<'_> {
    /// Leaf/statistics width: one slot per class, or (sum) for regression.
    fn width(&self) -> usize {
        match self {
            Targets::Classes { n_classes, .. } => *n_classes,
            Targets::Values(_) => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Node {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    /// `value` indexes `Tree::values` (width slots: class probabilities or the mean).
    Leaf { value: usize },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tree {
    nodes: Vec<Node>,
    values: Vec<f64>,
    width: usize,
    n_features: usize,
}

/// A node waiting to be split, with its best split already found.
struct Candidate {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    split: Option<Split>,
}

#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    threshold: f64,
    /// Rows `start..start + n_left` of every feature list go left.
    n_left: usize,
    improvement: f64,
}

/// An entry of best-first growth's queue (both splitters): the largest improvement first;
/// ties go to the node created first, so growth is deterministic. A node that cannot split
/// queues with `f64::NEG_INFINITY`.
struct BestFirst<T> {
    improvement: f64,
    node: usize,
    item: T,
}

impl<T> PartialEq for BestFirst<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for BestFirst<T> {}
impl<T> PartialOrd for BestFirst<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for BestFirst<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.improvement
            .total_cmp(&other.improvement)
            .then_with(|| other.node.cmp(&self.node))
    }
}

/// Every row's index, sorted by each feature in turn (`n` per feature).
pub struct Presorted(Vec<u32>);

impl Presorted {
    pub fn new(x: ArrayView2<'_, f64>) -> Presorted {
        let (n, d) = x.dim();
        let mut order = Vec::with_capacity(n * d);
        let mut pairs: Vec<(f64, u32)> = Vec::with_capacity(n);
        for j in 0..d {
            let col = x.column(j);
            pairs.clear();
            pairs.extend((0..n as u32).map(|i| (col[i as usize], i)));
            // Stable by index on ties, so the result never depends on the sort's internals.
            pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            order.extend(pairs.iter().map(|p| p.1));
        }
        Presorted(order)
    }
}

/// The growing state: sorted index lists and scratch buffers, reused across nodes.
struct Builder<'a> {
    x: ArrayView2<'a, f64>,
    targets: Targets<'a>,
    weights: &'a [f64],
    params: &'a TreeParams,
    /// Feature `j`'s sorted sample indices live at `order[j * m .. (j + 1) * m]`.
    order: Vec<u32>,
    m: usize,
    goes_left: Vec<bool>,
    scratch: Vec<u32>,
    tree: Tree,
    /// Draws for random feature subsets and thresholds (only when the params ask for them).
    rng: std::cell::RefCell<rand08::rngs::StdRng>,
}

impl Tree {
    /// Grows a tree. `x` is samples × features (any layout; column-major scans fastest);
    /// `weights[i]` is how often sample `i` counts (0 leaves it out, 2 counts it twice).
    pub fn fit<'a>(x: ArrayView2<'a, f64>, targets: Targets<'a>, weights: &'a [f64], params: &'a TreeParams) -> Tree {
        Self::fit_presorted(x, targets, weights, params, &Presorted::new(x))
    }

    /// As [`Tree::fit`], with every feature already sorted: a forest sorts once for all its
    /// trees, and each tree only drops the rows its bootstrap sample left out.
    pub fn fit_presorted<'a>(
        x: ArrayView2<'a, f64>,
        targets: Targets<'a>,
        weights: &'a [f64],
        params: &'a TreeParams,
        presorted: &Presorted,
    ) -> Tree {
        let (n, d) = x.dim();
        assert_eq!(weights.len(), n, "one weight per sample");
        assert_eq!(presorted.0.len(), n * d, "presorted for this matrix");
        let m = weights.iter().filter(|&&w| w > 0.0).count();
        let mut order = Vec::with_capacity(m * d);
        for j in 0..d {
            order.extend(
                presorted.0[j * n..(j + 1) * n]
                    .iter()
                    .copied()
                    .filter(|&i| weights[i as usize] > 0.0),
            );
        }
        let mut b = Builder {
            x,
            targets,
            weights,
            params,
            order,
            m,
            goes_left: vec![false; n],
            scratch: Vec::with_capacity(m),
            rng: std::cell::RefCell::new(rand08::SeedableRng::seed_from_u64(params.seed)),
            tree: Tree::empty(targets.width(), d),
        };
        b.grow();
        b.tree
    }

    /// A tree with no nodes yet, for a builder to grow.
    fn empty(width: usize, n_features: usize) -> Tree {
        Tree {
            nodes: Vec::new(),
            values: Vec::new(),
            width,
            n_features,
        }
    }

    /// Values per leaf: one per class, or one (the mean).
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn n_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| matches!(n, Node::Leaf { .. })).count()
    }

    pub fn depth(&self) -> usize {
        fn walk(nodes: &[Node], at: usize) -> usize {
            match nodes[at] {
                Node::Leaf { .. } => 0,
                Node::Split { left, right, .. } => 1 + walk(nodes, left).max(walk(nodes, right)),
            }
        }
        if self.nodes.is_empty() {
            0
        } else {
            walk(&self.nodes, 0)
        }
    }

    /// The leaf's values for one row: class probabilities, or `[mean]`.
    pub fn leaf_values(&self, row: ArrayView1<'_, f64>) -> &[f64] {
        let mut at = 0;
        loop {
            match self.nodes[at] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    at = if row[feature] <= threshold { left } else { right };
                }
                Node::Leaf { value } => return &self.values[value..value + self.width],
            }
        }
    }
}

impl Builder<'_> {
    fn grow(&mut self) {
        let root = self.new_leaf(0, self.m);
        let mut heap = BinaryHeap::new();
        heap.push(self.candidate(root, 0, self.m, 0));
        let mut leaves = 1usize;
        let max_leaves = self.params.max_leaf_nodes.unwrap_or(usize::MAX);
        while let Some(BestFirst { item: c, .. }) = heap.pop() {
            if leaves >= max_leaves {
                break;
            }
            let Some(split) = c.split else { continue };
            self.partition(c.start, c.end, split);
            let mid = c.start + split.n_left;
            let left = self.new_leaf(c.start, mid);
            let right = self.new_leaf(mid, c.end);
            self.tree.nodes[c.node] = Node::Split {
                feature: split.feature,
                threshold: split.threshold,
                left,
                right,
            };
            leaves += 1;
            heap.push(self.candidate(left, c.start, mid, c.depth + 1));
            heap.push(self.candidate(right, mid, c.end, c.depth + 1));
        }
    }

    /// Adds a leaf holding the node's class frequencies (or mean) and returns its index.
    fn new_leaf(&mut self, start: usize, end: usize) -> usize {
        let width = self.tree.width;
        let offset = self.tree.values.len();
        self.tree.values.resize(offset + width, 0.0);
        let rows = &self.order[start..end];
        let slot = &mut self.tree.values[offset..offset + width];
        let mut total = 0.0;
        match self.targets {
            Targets::Classes { y, .. } => {
                for &i in rows {
                    let w = self.weights[i as usize];
                    slot[y[i as usize]] += w;
                    total += w;
                }
                if total > 0.0 {
                    for v in slot.iter_mut() {
                        *v /= total;
                    }
                }
            }
            Targets::Values(y) => {
                for &i in rows {
                    let w = self.weights[i as usize];
                    slot[0] += w * y[i as usize];
                    total += w;
                }
                if total > 0.0 {
                    slot[0] /= total;
                }
            }
        }
        self.tree.nodes.push(Node::Leaf { value: offset });
        self.tree.nodes.len() - 1
    }

    /// The node, queued by its best split's improvement.
    fn candidate(&self, node: usize, start: usize, end: usize, depth: usize) -> BestFirst<Candidate> {
        let can_split = self.params.max_depth.is_none_or(|d| depth < d);
        let split = if can_split { self.best_split(start, end) } else { None };
        BestFirst {
            improvement: split.map_or(f64::NEG_INFINITY, |s| s.improvement),
            node,
            item: Candidate {
                node,
                start,
                end,
                depth,
                split,
            },
        }
    }

    /// The split maximizing the impurity decrease `Σl²/wl + Σr²/wr − Σ²/w` (for Gini the sums
    /// run over class weights, for squared error over weighted targets).
    fn best_split(&self, start: usize, end: usize) -> Option<Split> {
        let width = self.tree.width;
        let p = self.params;
        // Totals of the node.
        let mut total = vec![0.0; width];
        let mut w_total = 0.0;
        let mut sq_total = 0.0;
        let first = &self.order[start..end];
        for &i in first {
            let w = self.weights[i as usize];
            w_total += w;
            match self.targets {
                Targets::Classes { y, .. } => total[y[i as usize]] += w,
                Targets::Values(y) => {
                    total[0] += w * y[i as usize];
                    sq_total += w * y[i as usize] * y[i as usize];
                }
            }
        }
        if w_total < p.min_samples_split || w_total < 2.0 * p.min_samples_leaf {
            return None;
        }
        let entropy = p.entropy && matches!(self.targets, Targets::Classes { .. });
        let parent = if entropy {
            total.iter().map(|&c| xlogx(c)).sum::<f64>() - xlogx(w_total)
        } else {
            score(&total, w_total)
        };
        // A pure node cannot improve.
        let pure = match self.targets {
            Targets::Classes { .. } => total.iter().filter(|&&c| c > 0.0).count() <= 1,
            Targets::Values(_) => sq_total - parent <= 1e-12 * sq_total.abs().max(1e-300),
        };
        if pure {
            return None;
        }

        let mut best: Option<Split> = None;
        let mut left = vec![0.0; width];
        let d = self.tree.n_features;
        let random = p.max_features.is_some_and(|k| k < d) || p.random_thresholds;
        let mut features: Vec<usize> = (0..d).collect();
        for (visited, slot) in (0..d).enumerate() {
            // Forests: features in a random order, stopping after `max_features` once a valid
            // split exists (a Fisher-Yates shuffle drawn one step at a time).
            if random {
                let mut rng = self.rng.borrow_mut();
                let pick = rand08::Rng::gen_range(&mut *rng, slot..d);
                features.swap(slot, pick);
                if best.is_some() && visited >= p.max_features.unwrap_or(d) {
                    break;
                }
            }
            let j = features[slot];
            let col = self.x.column(j);
            let rows = &self.order[j * self.m + start..j * self.m + end];
            let (lo, hi) = (col[rows[0] as usize], col[rows[rows.len() - 1] as usize]);
            if lo >= hi {
                continue; // Constant in this node.
            }
            // Extra trees: one threshold in [lo, hi), and only the cut at it is scored.
            let drawn = p.random_thresholds.then(|| {
                let mut rng = self.rng.borrow_mut();
                let t = rand08::Rng::gen_range(&mut *rng, lo..hi);
                t.max(lo)
            });
            left.fill(0.0);
            let mut w_left = 0.0;
            // Incremental Σ over classes of left² and right²: O(1) per row.
            // For entropy the same two sums hold Σ c ln c instead.
            let (mut sq_left, mut sq_right) = match self.targets {
                Targets::Classes { .. } if entropy => (0.0, total.iter().map(|&c| xlogx(c)).sum::<f64>()),
                Targets::Classes { .. } => (0.0, total.iter().map(|c| c * c).sum::<f64>()),
                Targets::Values(_) => (0.0, total[0] * total[0]),
            };
            for k in 0..rows.len() - 1 {
                let i = rows[k] as usize;
                let w = self.weights[i];
                w_left += w;
                match self.targets {
                    Targets::Classes { y, .. } => {
                        let c = y[i];
                        let l = left[c];
                        let r = total[c] - l;
                        left[c] = l + w;
                        if entropy {
                            // Recomputed, not updated: running sums of logs drift, and a
                            // drifted tie would choose differently from the histogram splitter.
                            sq_left = left.iter().map(|&v| xlogx(v)).sum();
                            sq_right = total.iter().zip(&left).map(|(&t, &v)| xlogx(t - v)).sum();
                        } else {
                            sq_left += 2.0 * l * w + w * w;
                            sq_right += -2.0 * r * w + w * w;
                        }
                    }
                    Targets::Values(y) => {
                        left[0] += w * y[i];
                        let r = total[0] - left[0];
                        sq_left = left[0] * left[0];
                        sq_right = r * r;
                    }
                }
                let (here, next) = (col[i], col[rows[k + 1] as usize]);
                if here >= next {
                    continue; // Equal values cannot be separated.
                }
                if let Some(t) = drawn {
                    if !(here <= t && t < next) {
                        continue;
                    }
                }
                let w_right = w_total - w_left;
                if w_left < p.min_samples_leaf || w_right < p.min_samples_leaf {
                    continue;
                }
                let improvement = if entropy {
                    (sq_left - xlogx(w_left)) + (sq_right - xlogx(w_right)) - parent
                } else {
                    sq_left / w_left + sq_right / w_right - parent
                };
                if best.is_none_or(|b| improvement > b.improvement) {
                    let mut threshold = drawn.unwrap_or(here + (next - here) / 2.0);
                    if threshold >= next {
                        threshold = here; // Midpoint rounded up to `next`: keep `next` on the right.
                    }
                    best = Some(Split {
                        feature: j,
                        threshold,
                        n_left: k + 1,
                        improvement,
                    });
                }
            }
        }
        best.filter(|b| b.improvement > 1e-12 * parent.abs().max(1e-300))
    }

    /// Splits `[start, end)` of every feature list into left rows then right rows, stably.
    fn partition(&mut self, start: usize, end: usize, split: Split) {
        let j = split.feature;
        let base = j * self.m;
        for k in start..end {
            let i = self.order[base + k] as usize;
            self.goes_left[i] = k < start + split.n_left;
        }
        for f in 0..self.tree.n_features {
            if f == j {
                continue; // Already in order: its first n_left rows are the left ones.
            }
            let seg = &mut self.order[f * self.m + start..f * self.m + end];
            self.scratch.clear();
            let mut w = 0;
            for r in 0..seg.len() {
                let i = seg[r];
                if self.goes_left[i as usize] {
                    seg[w] = i;
                    w += 1;
                } else {
                    self.scratch.push(i);
                }
            }
            seg[w..].copy_from_slice(&self.scratch);
        }
    }
}

/// `Σ total² / w`: the impurity-free part of the node's score.
fn score(total: &[f64], w: f64) -> f64 {
    total.iter().map(|c| c * c).sum::<f64>() / w
}

/// `x ln x`, with its limit 0 at 0 (an empty class adds no entropy).
fn xlogx(x: f64) -> f64 {
    if x > 0.0 {
        x * x.ln()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};
    use rand08::{rngs::StdRng, Rng, SeedableRng};

    fn random_data(n: usize, d: usize, seed: u64) -> (Array2<f64>, Vec<usize>, Vec<f64>) {
        let mut rng = StdRng::seed_from_u64(seed);
        // Few distinct values per feature, so ties are exercised.
        let x = Array2::from_shape_fn((n, d), |_| f64::from(rng.gen_range(0..12)));
        let y_class: Vec<usize> = (0..n)
            .map(|i| usize::from(x[[i, 0]] + x[[i, 1 % d]] > 11.0 + rng.gen_range(-2.0..2.0)))
            .collect();
        let y_value: Vec<f64> = (0..n)
            .map(|i| x[[i, 0]] * 2.0 - x[[i, d - 1]] + rng.gen::<f64>())
            .collect();
        (x, y_class, y_value)
    }

    /// The reference: try every feature and every threshold between distinct values, by brute
    /// force with plain impurity formulas, and return the best weighted impurity decrease.
    fn brute_force_best(x: &Array2<f64>, t: Targets<'_>, w: &[f64], min_leaf: f64) -> Option<(usize, f64, f64)> {
        let impurity = |rows: &[usize]| -> f64 {
            let wt: f64 = rows.iter().map(|&i| w[i]).sum();
            match t {
                Targets::Classes { y, n_classes } => {
                    let mut c = vec![0.0; n_classes];
                    for &i in rows {
                        c[y[i]] += w[i];
                    }
                    wt * (1.0 - c.iter().map(|v| (v / wt) * (v / wt)).sum::<f64>())
                }
                Targets::Values(y) => {
                    let mean = rows.iter().map(|&i| w[i] * y[i]).sum::<f64>() / wt;
                    rows.iter().map(|&i| w[i] * (y[i] - mean).powi(2)).sum()
                }
            }
        };
        let all: Vec<usize> = (0..x.nrows()).filter(|&i| w[i] > 0.0).collect();
        let parent = impurity(&all);
        let mut best: Option<(usize, f64, f64)> = None;
        for j in 0..x.ncols() {
            let mut values: Vec<f64> = all.iter().map(|&i| x[[i, j]]).collect();
            values.sort_by(f64::total_cmp);
            values.dedup();
            for pair in values.windows(2) {
                let thr = f64::midpoint(pair[0], pair[1]);
                let (l, r): (Vec<usize>, Vec<usize>) = all.iter().partition(|&&i| x[[i, j]] <= thr);
                let wl: f64 = l.iter().map(|&i| w[i]).sum();
                let wr: f64 = r.iter().map(|&i| w[i]).sum();
                if wl < min_leaf || wr < min_leaf {
                    continue;
                }
                let dec = parent - impurity(&l) - impurity(&r);
                if best.is_none_or(|b| dec > b.2 + 1e-9) {
                    best = Some((j, thr, dec));
                }
            }
        }
        best
    }

    fn root_split(tree: &Tree) -> (usize, f64) {
        match tree.nodes[0] {
            Node::Split { feature, threshold, .. } => (feature, threshold),
            Node::Leaf { .. } => panic!("root did not split"),
        }
    }

    #[test]
    fn root_split_matches_brute_force_for_gini_and_squared_error() {
        for seed in 0..20 {
            let (x, yc, yv) = random_data(60, 4, seed);
            let mut rng = StdRng::seed_from_u64(seed + 100);
            let w: Vec<f64> = (0..60).map(|_| f64::from(rng.gen_range(0..3))).collect();
            for targets in [Targets::Classes { y: &yc, n_classes: 2 }, Targets::Values(&yv)] {
                for min_leaf in [1.0, 5.0] {
                    let params = TreeParams {
                        max_depth: Some(1),
                        min_samples_leaf: min_leaf,
                        ..Default::default()
                    };
                    let tree = Tree::fit(x.view(), targets, &w, &params);
                    let Some((bj, bt, _)) = brute_force_best(&x, targets, &w, min_leaf) else {
                        continue;
                    };
                    assert_eq!(root_split(&tree), (bj, bt), "seed {seed}, min_leaf {min_leaf}");
                }
            }
        }
    }

    #[test]
    fn entropy_root_split_matches_brute_force() {
        // Information gain by plain formulas: w·H(node) − wl·H(left) − wr·H(right).
        let entropy = |rows: &[usize], y: &[usize], w: &[f64]| -> f64 {
            let wt: f64 = rows.iter().map(|&i| w[i]).sum();
            let mut c = [0.0; 3];
            for &i in rows {
                c[y[i]] += w[i];
            }
            -c.iter().filter(|&&v| v > 0.0).map(|v| v * (v / wt).ln()).sum::<f64>()
        };
        for seed in 0..20 {
            let (x, _, yv) = random_data(60, 4, seed);
            let y: Vec<usize> = yv.iter().map(|v| (v.rem_euclid(3.0)) as usize).collect();
            let w = vec![1.0; 60];
            let all: Vec<usize> = (0..60).collect();
            let mut best: Option<(usize, f64, f64)> = None;
            for j in 0..4 {
                let mut values: Vec<f64> = x.column(j).to_vec();
                values.sort_by(f64::total_cmp);
                values.dedup();
                for pair in values.windows(2) {
                    let thr = f64::midpoint(pair[0], pair[1]);
                    let (l, r): (Vec<usize>, Vec<usize>) = all.iter().partition(|&&i| x[[i, j]] <= thr);
                    let gain = entropy(&all, &y, &w) - entropy(&l, &y, &w) - entropy(&r, &y, &w);
                    if best.is_none_or(|b| gain > b.2 + 1e-9) {
                        best = Some((j, thr, gain));
                    }
                }
            }
            let params = TreeParams {
                max_depth: Some(1),
                entropy: true,
                ..Default::default()
            };
            let t = Targets::Classes { y: &y, n_classes: 3 };
            let (bj, bt, _) = best.expect("a split exists");
            assert_eq!(
                root_split(&Tree::fit(x.view(), t, &w, &params)),
                (bj, bt),
                "exact, seed {seed}"
            );
            let binned = Binned::new(x.view());
            assert_eq!(
                root_split(&Tree::fit_binned(&binned, t, &w, &params)),
                (bj, bt),
                "hist, seed {seed}"
            );
        }
    }

    /// With at most 256 distinct values per feature every value has its own bin, so the
    /// histogram splitter must grow the exact splitter's tree: the same partition of the
    /// training rows. (Thresholds may differ: the exact one is a midpoint between values in
    /// the node, a bin edge one between values in the whole data, so an unseen value between
    /// them may go either way.)
    #[test]
    fn on_few_distinct_values_the_histogram_tree_is_the_exact_tree() {
        for seed in 0..12 {
            let (x, yc, yv) = random_data(400, 5, seed);
            let mut rng = StdRng::seed_from_u64(seed);
            let w: Vec<f64> = (0..400).map(|_| f64::from(rng.gen_range(0..3))).collect();
            let binned = Binned::new(x.view());
            for (targets, entropy) in [
                (Targets::Classes { y: &yc, n_classes: 2 }, false),
                (Targets::Classes { y: &yc, n_classes: 2 }, true),
                (Targets::Values(&yv), false),
            ] {
                for (max_depth, max_leaf_nodes, min_samples_leaf) in [(None, None, 1.0), (Some(4), Some(9), 3.0)] {
                    let params = TreeParams {
                        max_depth,
                        max_leaf_nodes,
                        min_samples_leaf,
                        entropy,
                        ..Default::default()
                    };
                    let exact = Tree::fit(x.view(), targets, &w, &params);
                    let hist = Tree::fit_binned(&binned, targets, &w, &params);
                    assert_eq!(exact.n_leaves(), hist.n_leaves(), "seed {seed} {params:?}");
                    for i in (0..400).filter(|&i| w[i] > 0.0) {
                        let (a, b) = (exact.leaf_values(x.row(i)), hist.leaf_values(x.row(i)));
                        assert!(
                            a.iter().zip(b).all(|(u, v)| (u - v).abs() < 1e-9),
                            "seed {seed} row {i} {params:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_unlimited_tree_fits_distinct_rows_exactly() {
        let (x, yc, yv) = random_data(200, 3, 7);
        // Make rows distinct by adding a unique column.
        let mut x2 = Array2::zeros((200, 4));
        x2.slice_mut(ndarray::s![.., ..3]).assign(&x);
        x2.column_mut(3).assign(&Array1::from_iter((0..200).map(f64::from)));
        let w = vec![1.0; 200];
        let clf = Tree::fit(
            x2.view(),
            Targets::Classes { y: &yc, n_classes: 2 },
            &w,
            &TreeParams::default(),
        );
        let reg = Tree::fit(x2.view(), Targets::Values(&yv), &w, &TreeParams::default());
        for i in 0..200 {
            assert_eq!(clf.leaf_values(x2.row(i))[yc[i]], 1.0);
            assert!((reg.leaf_values(x2.row(i))[0] - yv[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn limits_are_respected() {
        let (x, yc, _) = random_data(500, 5, 3);
        let w = vec![1.0; 500];
        let t = Targets::Classes { y: &yc, n_classes: 2 };
        let deep = Tree::fit(
            x.view(),
            t,
            &w,
            &TreeParams {
                max_depth: Some(3),
                ..Default::default()
            },
        );
        assert!(deep.depth() <= 3 && deep.n_leaves() <= 8);
        let few = Tree::fit(
            x.view(),
            t,
            &w,
            &TreeParams {
                max_leaf_nodes: Some(5),
                ..Default::default()
            },
        );
        assert_eq!(few.n_leaves(), 5);
        let fat = Tree::fit(
            x.view(),
            t,
            &w,
            &TreeParams {
                min_samples_leaf: 50.0,
                ..Default::default()
            },
        );
        // Every leaf holds at least 50 samples: count them.
        let mut counts = std::collections::HashMap::new();
        for i in 0..500 {
            *counts.entry(fat.leaf_values(x.row(i)).as_ptr() as usize).or_insert(0) += 1;
        }
        assert!(counts.values().all(|&c| c >= 50), "{counts:?}");
    }

    #[test]
    fn probabilities_are_leaf_frequencies() {
        let x = ndarray::array![[0.0], [0.0], [0.0], [1.0]];
        let y = [0, 0, 1, 1];
        let tree = Tree::fit(
            x.view(),
            Targets::Classes { y: &y, n_classes: 2 },
            &[1.0; 4],
            &TreeParams::default(),
        );
        let p = tree.leaf_values(ndarray::array![0.0].view());
        assert!((p[0] - 2.0 / 3.0).abs() < 1e-12 && (p[1] - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(tree.leaf_values(ndarray::array![5.0].view()), &[0.0, 1.0]);
    }

    #[test]
    fn weights_act_like_repeated_rows() {
        let (x, _, yv) = random_data(80, 3, 11);
        let mut rng = StdRng::seed_from_u64(5);
        let w: Vec<f64> = (0..80).map(|_| f64::from(rng.gen_range(0..3))).collect();
        let weighted = Tree::fit(
            x.view(),
            Targets::Values(&yv),
            &w,
            &TreeParams {
                max_depth: Some(4),
                ..Default::default()
            },
        );
        // The same data with each row repeated w times.
        let rows: Vec<usize> = (0..80).flat_map(|i| std::iter::repeat_n(i, w[i] as usize)).collect();
        let xr = x.select(ndarray::Axis(0), &rows);
        let yr: Vec<f64> = rows.iter().map(|&i| yv[i]).collect();
        let repeated = Tree::fit(
            xr.view(),
            Targets::Values(&yr),
            &vec![1.0; rows.len()],
            &TreeParams {
                max_depth: Some(4),
                ..Default::default()
            },
        );
        for i in 0..80 {
            assert!((weighted.leaf_values(x.row(i))[0] - repeated.leaf_values(x.row(i))[0]).abs() < 1e-9);
        }
    }
}
