//! Histogram split finding, as LightGBM and scikit-learn's `HistGradientBoosting*` do it.
//!
//! Each feature is cut once, when the data is loaded, into at most 256 bins at quantile edges
//! ([`Binned`]); a feature with at most 256 distinct values gets one bin per value, so on such
//! data the splits are the exact splitter's. A node then finds its split from per-bin sums
//! (weight, and class weights or weighted targets) instead of from sorted rows:
//!
//! - when a node tries most features (a single tree, boosting, a regression forest), a large
//!   node's histogram covers every feature. Of two children only the smaller is scanned: the
//!   larger one's histogram is the parent's minus the smaller's (sibling subtraction), so each
//!   level costs at most half the rows times the features;
//! - when it tries few (a classification forest's `sqrt`), a full histogram would be mostly
//!   unread, so the node builds one for each feature it tries, from its own rows;
//! - a node with fewer rows than bins marks the bins its rows fill and reads and clears only
//!   those, which is cheaper than clearing and scanning every bin;
//! - two classes with whole-number weights (a bootstrap's counts, or none) count both classes
//!   of a bin in one `u64`, one integer addition per row and feature; the sums are exact, so
//!   the trees are those of the `f64` sums;
//! - extremely randomized trees need no histogram at all: one pass finds the node's smallest
//!   and largest code, another sums the rows left of the drawn cut.
//!
//! Thresholds are the bin edges, midpoints between neighbouring values of the training data,
//! so a tree predicts on raw features like the exact one (`x <= threshold` goes left).

use super::{xlogx, BestFirst, Node, Targets, Tree, TreeParams};
use ndarray::ArrayView2;
use std::collections::BinaryHeap;

/// The most bins a feature gets: its codes fit in a byte.
pub const MAX_BINS: usize = 256;

/// The training matrix as bin codes, with each feature's edges.
#[derive(Debug, Clone)]
pub struct Binned {
    n: usize,
    d: usize,
    /// Row-major: row `i`'s codes are `codes[i * d .. (i + 1) * d]`, so scanning a node's rows
    /// reads one cache line per row.
    codes: Vec<u8>,
    /// Feature `j`'s bin `b` holds the values `<= edges[j][b]` (and above the previous edge);
    /// the last bin has no upper edge.
    edges: Vec<Vec<f64>>,
    /// Each bin's smallest and largest training value (extremely randomized trees draw their
    /// thresholds between them).
    low: Vec<Vec<f64>>,
    high: Vec<Vec<f64>>,
}

impl Binned {
    /// Bins every feature of `x` (samples × features): at quantile edges over the distinct
    /// values, at most [`MAX_BINS`] bins. Features are binned on every core.
    pub fn new(x: ArrayView2<'_, f64>) -> Binned {
        let (n, d) = x.dim();
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, d.max(1));
        let mut per_feature: Vec<(usize, FeatureBins)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        (t..d)
                            .step_by(threads)
                            .map(|j| (j, bin_feature(x.column(j))))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("binning never panics"))
                .collect()
        });
        per_feature.sort_by_key(|f| f.0);
        let mut codes = vec![0u8; n * d];
        let (mut edges, mut low, mut high) = (Vec::with_capacity(d), Vec::with_capacity(d), Vec::with_capacity(d));
        for (j, f) in per_feature {
            for (i, &code) in f.codes.iter().enumerate() {
                codes[i * d + j] = code;
            }
            edges.push(f.edges);
            low.push(f.low);
            high.push(f.high);
        }
        Binned {
            n,
            d,
            codes,
            edges,
            low,
            high,
        }
    }

    pub fn n_rows(&self) -> usize {
        self.n
    }

    pub fn n_features(&self) -> usize {
        self.d
    }

    /// How many bins feature `j` has.
    pub fn n_bins(&self, j: usize) -> usize {
        self.edges[j].len() + 1
    }

    #[cfg(test)]
    fn code(&self, row: usize, j: usize) -> u8 {
        self.codes[row * self.d + j]
    }
}

/// One feature's edges, each bin's value range, and every row's code.
struct FeatureBins {
    edges: Vec<f64>,
    low: Vec<f64>,
    high: Vec<f64>,
    codes: Vec<u8>,
}

fn bin_feature(col: ndarray::ArrayView1<'_, f64>) -> FeatureBins {
    let mut sorted: Vec<f64> = col.iter().copied().collect();
    sorted.sort_unstable_by(f64::total_cmp);
    // Distinct values and how many rows lie at or below each.
    let mut distinct: Vec<f64> = Vec::new();
    let mut at_or_below: Vec<usize> = Vec::new();
    for (k, &v) in sorted.iter().enumerate() {
        if distinct.last() == Some(&v) {
            *at_or_below.last_mut().expect("pushed together") = k + 1;
        } else {
            distinct.push(v);
            at_or_below.push(k + 1);
        }
    }
    // The cuts: after every distinct value when there are few, else after the value at each
    // 1/256 quantile (a value holding many rows takes one cut, so bins can be fewer).
    let cuts: Vec<usize> = if distinct.len() <= MAX_BINS {
        (0..distinct.len().saturating_sub(1)).collect()
    } else {
        let n = sorted.len();
        let mut cuts: Vec<usize> = (1..MAX_BINS)
            .map(|q| {
                let rank = q * n / MAX_BINS;
                at_or_below.partition_point(|&c| c < rank.max(1))
            })
            .filter(|&k| k + 1 < distinct.len())
            .collect();
        cuts.dedup();
        cuts
    };
    let edges: Vec<f64> = cuts
        .iter()
        .map(|&k| {
            let (here, next) = (distinct[k], distinct[k + 1]);
            let mid = here + (next - here) / 2.0;
            // A midpoint rounded up to `next` would send `next` left: keep it right.
            if mid >= next {
                here
            } else {
                mid
            }
        })
        .collect();
    let n_bins = edges.len() + 1;
    let (mut low, mut high) = (vec![f64::INFINITY; n_bins], vec![f64::NEG_INFINITY; n_bins]);
    let codes: Vec<u8> = col
        .iter()
        .map(|&v| {
            let b = edges.partition_point(|&e| e < v);
            low[b] = low[b].min(v);
            high[b] = high[b].max(v);
            u8::try_from(b).expect("at most 256 bins")
        })
        .collect();
    FeatureBins {
        edges,
        low,
        high,
        codes,
    }
}

/// A feature's bins in a node as the scalar scans read them: `codes[b]`'s sums start at
/// `sums[b * slots]`, bins before `first` are empty, and the last bin is the last filled one.
struct Bins<'a> {
    feature: usize,
    codes: &'a [u8],
    sums: &'a [f64],
    first: usize,
}

impl Bins<'_> {
    /// The candidate cuts: after each bin from the first filled one up to, not including, the
    /// last (a cut after the last bin leaves nothing on the right).
    fn cuts(&self) -> impl Iterator<Item = (usize, u8)> + '_ {
        self.codes
            .iter()
            .copied()
            .enumerate()
            .take(self.codes.len() - 1)
            .skip(self.first)
    }
}

/// A split on bin codes: rows with `code <= bin` of `feature` go left.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    bin: u8,
    improvement: f64,
}

/// A node waiting to be split, with its best split already found.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    /// Which set of row buffers holds the node's rows (see [`Builder::codes`]).
    side: RowSet,
    /// Every feature's histogram, kept for the children's subtraction (large nodes only).
    hist: Option<Vec<f64>>,
    split: Option<Split>,
    /// Classification: the node's sums and its split's left sums, from the scan that found
    /// the split, so the children's sums need no pass over the rows (right = node − left, as
    /// scikit-learn's criterion does it).
    sums: Option<(Vec<f64>, Vec<f64>)>,
}

impl Pending {
    /// Queued for best-first growth by its split's improvement.
    fn queued(self) -> BestFirst<Pending> {
        BestFirst {
            improvement: self.split.map_or(f64::NEG_INFINITY, |s| s.improvement),
            node: self.node,
            item: self,
        }
    }
}

/// One of a tree builder's two sets of row buffers (see [`Builder::codes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowSet {
    First,
    Second,
}

impl RowSet {
    fn other(self) -> RowSet {
        match self {
            RowSet::First => RowSet::Second,
            RowSet::Second => RowSet::First,
        }
    }
}

/// Below this many rows a node finds its split without a full histogram.
const FULL_HIST_MIN_ROWS: usize = 128;

/// Histogram memory the pending nodes may hold; beyond it a node's histogram is rebuilt from
/// its rows when it splits (only best-first growth with a large `max_leaf_nodes` gets there).
const HIST_BUDGET_BYTES: usize = 256 << 20;

/// What a row adds to a histogram, kept beside its codes in node order (see
/// [`Builder::codes`]).
trait RowValue: Copy + Default {
    /// Whether the builder keeps packed-count histograms ([`Builder::split_from_counts`]): a
    /// row holds its packed increment only when counts are exact.
    const PACKED: bool;
    /// The row's weight and target (the class index as `f64`, or the value).
    fn weight_target(self) -> (f64, f64);
    /// What the row adds to a packed-count bin (two classes, whole-number weights): its
    /// weight in its class's 32-bit half, class 0 low (see [`Builder::split_from_counts`]).
    fn packed(self) -> u64;
}

/// A weight and a target.
impl RowValue for [f64; 2] {
    const PACKED: bool = false;
    #[inline]
    fn weight_target(self) -> (f64, f64) {
        (self[0], self[1])
    }
    #[inline]
    fn packed(self) -> u64 {
        u64::from(self[0] as u32) << if self[1] > 0.5 { 32 } else { 0 }
    }
}

/// Two classes and whole-number weights: the row's packed-count increment itself, so the
/// count histograms add it as it is, and a partition moves 8 bytes per row, not 16.
impl RowValue for u64 {
    const PACKED: bool = true;
    #[inline]
    fn weight_target(self) -> (f64, f64) {
        let [w, _, c1] = unpack_counts(self);
        (w, if c1 > 0.0 { 1.0 } else { 0.0 })
    }
    #[inline]
    fn packed(self) -> u64 {
        self
    }
}

struct Builder<'a, V: RowValue> {
    binned: &'a Binned,
    params: &'a TreeParams,
    /// Classification (class index in `target`) or regression (the value in `target`).
    classes: bool,
    entropy: bool,
    /// Slots per bin: the weight, then one per class (or the weighted target's sum).
    slots: usize,
    /// Feature `j`'s histogram starts at `offsets[j]`; `offsets[d]` is the full length.
    offsets: Vec<usize>,
    /// `(j, offsets[j])` for every feature: a full histogram's layout for [`Self::accumulate`].
    every_feature: Vec<(usize, usize)>,
    /// The rows with a weight, grouped by node: a node owns positions `start..end` of `codes`
    /// (by `stride`) and `values`, which a split partitions together. Keeping a node's codes
    /// and values contiguous (rather than indexing the whole data by row number) is what
    /// makes deep, scattered nodes fast: every scan is sequential. A row takes `stride`
    /// bytes (the features, padded to a multiple of 8), so moving one is a fixed-size copy.
    ///
    /// A split writes its node's rows, partitioned, into the same positions of the spare
    /// pair, and the two sets change names: the children's rows are then in `codes`, and
    /// nothing is copied back. Each pending node remembers which set holds its rows
    /// ([`Pending::side`]); [`Self::use_side`] names that set `codes` before the node is read.
    codes: Vec<u8>,
    stride: usize,
    values: Vec<V>,
    spare_codes: Vec<u8>,
    spare_values: Vec<V>,
    /// Which of the two sets is `codes` now.
    side: RowSet,
    left: Vec<f64>,
    right: Vec<f64>,
    /// A small node's filled bins of one feature, gathered from its histogram: codes and
    /// their sums ([`Self::gather_marked`]).
    small_codes: Vec<u8>,
    small_sums: Vec<f64>,
    /// With packed rows (`V::PACKED`): the packed-count histograms, one per feature of `batch`
    /// ([`Self::split_from_counts`]), all zeros between nodes.
    count_hist: Vec<[u64; MAX_BINS]>,
    /// For each feature of `batch`, the bins a small node's rows filled (a bit each).
    marks: Vec<[u64; MAX_BINS / 64]>,
    /// The two-class scan's scratch: the filled bins, and at each the left sums (as `f64`
    /// sums, or as packed counts) and the cut's improvement ([`Self::best_two_class_cut`]).
    filled: Vec<usize>,
    cut_sums: Vec<[f64; 3]>,
    cut_counts: Vec<u64>,
    cut_improvement: Vec<f64>,
    /// The features whose histograms a node builds together, with where each starts in
    /// `batch_sums` (all zeros between nodes: each node clears what it filled).
    batch: Vec<(usize, usize)>,
    batch_sums: Vec<f64>,
    /// The left sums at the best cut of the feature just scanned, and of the node's best
    /// split so far (classification).
    scan_left: Vec<f64>,
    node_left: Vec<f64>,
    held_bytes: usize,
    /// Whether nodes keep full histograms (they try most features), see the module comment.
    full_hists: bool,
    /// The features in the order a node tries them (shuffled in place for forests).
    features: Vec<usize>,
    rng: rand08::rngs::StdRng,
    tree: Tree,
}

/// The identity code list, so a full histogram scans like a compacted one.
static ALL_CODES: [u8; MAX_BINS] = {
    let mut codes = [0u8; MAX_BINS];
    let mut b = 0;
    while b < MAX_BINS {
        codes[b] = b as u8;
        b += 1;
    }
    codes
};

impl Tree {
    /// Grows a tree by histogram split finding on `binned` (the training matrix, binned when
    /// the data was loaded); `weights` as in [`Tree::fit`].
    pub fn fit_binned(binned: &Binned, targets: Targets<'_>, weights: &[f64], params: &TreeParams) -> Tree {
        Tree::grow_binned(binned, targets, weights, params, true)
    }

    /// [`Tree::fit_binned`]; `allow_counts: false` keeps two-class histograms in `f64` even
    /// for whole-number weights (a test compares the two).
    fn grow_binned(
        binned: &Binned,
        targets: Targets<'_>,
        weights: &[f64],
        params: &TreeParams,
        allow_counts: bool,
    ) -> Tree {
        let d = binned.d;
        assert_eq!(weights.len(), binned.n, "one weight per sample");
        let slots = targets.width() + 1;
        let mut offsets = Vec::with_capacity(d + 1);
        let mut at = 0;
        for j in 0..d {
            offsets.push(at);
            at += binned.n_bins(j) * slots;
        }
        offsets.push(at);
        let rows: Vec<usize> = (0..binned.n).filter(|&i| weights[i] > 0.0).collect();
        let stride = d.next_multiple_of(8);
        let mut codes = vec![0u8; rows.len() * stride];
        for (row, &i) in codes.chunks_exact_mut(stride).zip(&rows) {
            row[..d].copy_from_slice(&binned.codes[i * d..(i + 1) * d]);
        }
        let values: Vec<[f64; 2]> = match targets {
            Targets::Classes { y, .. } => rows.iter().map(|&i| [weights[i], y[i] as f64]).collect(),
            Targets::Values(y) => rows.iter().map(|&i| [weights[i], y[i]]).collect(),
        };
        // Each class's total weight must fit in 32 bits for the packed counts.
        let counted = allow_counts
            && slots == 3
            && matches!(targets, Targets::Classes { .. })
            && values
                .iter()
                .all(|&[w, _]| w.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&w))
            && values.iter().map(|v| v[0]).sum::<f64>() < f64::from(u32::MAX);
        let layout = Layout {
            codes,
            stride,
            offsets,
            slots,
        };
        if counted {
            let packed = values.iter().map(|v| v.packed()).collect();
            Builder::<u64>::new(binned, targets, params, layout, packed).grown()
        } else {
            Builder::new(binned, targets, params, layout, values).grown()
        }
    }
}

/// The rows' codes and the histograms' layout, as [`Builder::new`] takes them.
struct Layout {
    codes: Vec<u8>,
    stride: usize,
    offsets: Vec<usize>,
    slots: usize,
}

impl<'a, V: RowValue> Builder<'a, V> {
    fn new(binned: &'a Binned, targets: Targets<'_>, params: &'a TreeParams, layout: Layout, values: Vec<V>) -> Self {
        let Layout {
            codes,
            stride,
            offsets,
            slots,
        } = layout;
        let d = binned.d;
        Builder {
            binned,
            params,
            classes: matches!(targets, Targets::Classes { .. }),
            entropy: params.entropy && matches!(targets, Targets::Classes { .. }),
            slots,
            every_feature: (0..d).map(|j| (j, offsets[j])).collect(),
            offsets,
            stride,
            spare_codes: vec![0; codes.len()],
            spare_values: vec![V::default(); values.len()],
            codes,
            values,
            side: RowSet::First,
            left: vec![0.0; slots],
            right: vec![0.0; slots],
            small_codes: Vec::new(),
            small_sums: Vec::new(),
            marks: Vec::new(),
            count_hist: Vec::new(),
            filled: Vec::new(),
            cut_sums: Vec::new(),
            cut_counts: Vec::new(),
            cut_improvement: Vec::new(),
            batch: Vec::new(),
            batch_sums: Vec::new(),
            scan_left: vec![0.0; slots],
            node_left: vec![0.0; slots],
            held_bytes: 0,
            full_hists: params.max_features.is_none_or(|k| k * 4 >= d) && !params.random_thresholds,
            features: (0..d).collect(),
            rng: rand08::SeedableRng::seed_from_u64(params.seed),
            tree: Tree::empty(targets.width(), d),
        }
    }

    /// Grows the tree and hands it over.
    fn grown(mut self) -> Tree {
        self.grow();
        self.tree
    }

    fn grow(&mut self) {
        let m = self.values.len();
        let totals = self.totals(0, m);
        let root = self.new_leaf(&totals);
        let hist = self.is_large(m).then(|| self.histogram(0, m));
        let first = self.pending(root, 0, m, 0, &totals, hist);
        let best_first = self.params.max_leaf_nodes.is_some();
        let max_leaves = self.params.max_leaf_nodes.unwrap_or(usize::MAX);
        // Best-first growth needs the heap; otherwise every splittable node splits and a stack
        // (depth-first) keeps few histograms alive at once.
        let mut heap = BinaryHeap::new();
        let mut stack = Vec::new();
        if best_first {
            heap.push(first.queued());
        } else {
            stack.push(first);
        }
        let mut leaves = 1usize;
        loop {
            let next = if best_first {
                heap.pop().map(|q| q.item)
            } else {
                stack.pop()
            };
            let Some(mut c) = next else { break };
            if let Some(h) = &c.hist {
                self.held_bytes -= h.len() * 8;
            }
            if leaves >= max_leaves {
                break;
            }
            let Some(split) = c.split else { continue };
            self.use_side(c.side);
            let mid = self.partition(c.start, c.end, split);
            let (lt, rt) = match c.sums.take() {
                Some((node, left)) => {
                    let mut lt = node.clone();
                    lt[..left.len()].copy_from_slice(&left);
                    let rt = node.iter().zip(&lt).map(|(t, l)| t - l).collect();
                    (lt, rt)
                }
                None => (self.totals(c.start, mid), self.totals(mid, c.end)),
            };
            let left = self.new_leaf(&lt);
            let right = self.new_leaf(&rt);
            self.tree.nodes[c.node] = Node::Split {
                feature: split.feature,
                threshold: self.threshold(split),
                left,
                right,
            };
            leaves += 1;
            let (lh, rh) = self.children_histograms(c.start, mid, c.end, c.hist.take());
            let l = self.pending(left, c.start, mid, c.depth + 1, &lt, lh);
            let r = self.pending(right, mid, c.end, c.depth + 1, &rt, rh);
            if best_first {
                heap.push(l.queued());
                heap.push(r.queued());
            } else {
                stack.push(r);
                stack.push(l);
            }
        }
    }

    /// Whether a node of this many rows keeps a full histogram.
    fn is_large(&self, rows: usize) -> bool {
        self.full_hists && rows >= FULL_HIST_MIN_ROWS
    }

    /// The raw-value threshold of a split: the upper edge of its last left bin.
    fn threshold(&self, split: Split) -> f64 {
        self.binned.edges[split.feature][usize::from(split.bin)]
    }

    /// The children's histograms: the smaller child's from its rows, the larger's as the
    /// parent's minus it (reusing the parent's buffer). Small children get none.
    fn children_histograms(
        &mut self,
        start: usize,
        mid: usize,
        end: usize,
        parent: Option<Vec<f64>>,
    ) -> (Option<Vec<f64>>, Option<Vec<f64>>) {
        let (nl, nr) = (mid - start, end - mid);
        let (want_l, want_r) = (self.is_large(nl), self.is_large(nr));
        if !want_l && !want_r {
            return (None, None);
        }
        let Some(mut parent) = parent else {
            // Dropped for the memory budget (or never built): scan whoever needs one.
            return (
                want_l.then(|| self.histogram(start, mid)),
                want_r.then(|| self.histogram(mid, end)),
            );
        };
        let left_smaller = nl <= nr;
        let small = if left_smaller {
            self.histogram(start, mid)
        } else {
            self.histogram(mid, end)
        };
        for (p, s) in parent.iter_mut().zip(&small) {
            *p -= s;
        }
        let (small, large) = (Some(small), Some(parent));
        let (l, r) = if left_smaller { (small, large) } else { (large, small) };
        (l.filter(|_| want_l), r.filter(|_| want_r))
    }

    /// Adds row `k`'s weight and target to the bin whose sums start at `sums[at]`.
    #[inline]
    fn add(&self, sums: &mut [f64], at: usize, k: usize) {
        let (w, t) = self.values[k].weight_target();
        sums[at] += w;
        if self.classes {
            sums[at + 1 + t as usize] += w;
        } else {
            sums[at + 1] += w * t;
        }
    }

    /// Every feature's histogram over the node's rows.
    fn histogram(&self, start: usize, end: usize) -> Vec<f64> {
        let mut hist = vec![0.0; self.offsets[self.binned.d]];
        self.accumulate::<false>(&mut hist, &self.every_feature, &mut [], start, end);
        hist
    }

    /// Adds the node's rows to the histograms of `features`: feature `j`'s bins start at
    /// `sums[base]` for each `(j, base)`. One pass over the rows serves every feature, so a
    /// row's codes, weight and target are read once however many features a node tries; the
    /// task is tested once, outside the loop. Rows are added in order, so each bin's sum is
    /// the same number a per-feature pass would give. With `MARK`, the bit of each bin a row
    /// fills is set in `marks` (one bitmap per entry of `features`).
    fn accumulate<const MARK: bool>(
        &self,
        sums: &mut [f64],
        features: &[(usize, usize)],
        marks: &mut [[u64; MAX_BINS / 64]],
        start: usize,
        end: usize,
    ) {
        let s = self.slots;
        let rows = self.node_rows(start, end);
        if self.classes {
            for (codes, v) in rows {
                let (w, class) = v.weight_target();
                let slot = 1 + class as usize;
                for (f, &(j, base)) in features.iter().enumerate() {
                    let at = base + usize::from(codes[j]) * s;
                    sums[at] += w;
                    sums[at + slot] += w;
                    mark::<MARK>(marks, f, codes[j]);
                }
            }
        } else {
            for (codes, v) in rows {
                let (w, y) = v.weight_target();
                let wy = w * y;
                for (f, &(j, base)) in features.iter().enumerate() {
                    let at = base + usize::from(codes[j]) * s;
                    sums[at] += w;
                    sums[at + 1] += wy;
                    mark::<MARK>(marks, f, codes[j]);
                }
            }
        }
    }

    /// The rows of positions `start..end` of the current buffers: each one's codes and value.
    fn node_rows(&self, start: usize, end: usize) -> impl Iterator<Item = (&[u8], V)> + '_ {
        let st = self.stride;
        self.codes[start * st..end * st]
            .chunks_exact(st)
            .zip(self.values[start..end].iter().copied())
    }

    /// The node's sums: weight, then class weights or the weighted target; for regression one
    /// more slot with `Σ w y²` (only to tell a constant target).
    fn totals(&self, start: usize, end: usize) -> Vec<f64> {
        let mut t = vec![0.0; self.slots + 1];
        for k in start..end {
            self.add(&mut t, 0, k);
            if !self.classes {
                let (w, y) = self.values[k].weight_target();
                t[2] += w * y * y;
            }
        }
        t
    }

    fn new_leaf(&mut self, totals: &[f64]) -> usize {
        let offset = self.tree.values.len();
        let w = totals[0];
        self.tree.values.extend(
            totals[1..=self.tree.width]
                .iter()
                .map(|v| if w > 0.0 { v / w } else { 0.0 }),
        );
        self.tree.nodes.push(Node::Leaf { value: offset });
        self.tree.nodes.len() - 1
    }

    fn pending(
        &mut self,
        node: usize,
        start: usize,
        end: usize,
        depth: usize,
        totals: &[f64],
        hist: Option<Vec<f64>>,
    ) -> Pending {
        let can_split = self.params.max_depth.is_none_or(|d| depth < d);
        let split = if can_split {
            self.best_split(start, end, totals, hist.as_deref())
        } else {
            None
        };
        // Only a node that will split needs its histogram again.
        let hist = hist.filter(|h| split.is_some() && self.held_bytes + h.len() * 8 <= HIST_BUDGET_BYTES);
        if let Some(h) = &hist {
            self.held_bytes += h.len() * 8;
        }
        let sums = (self.classes && split.is_some()).then(|| (totals.to_vec(), self.node_left.clone()));
        Pending {
            node,
            start,
            end,
            depth,
            side: self.side,
            hist,
            split,
            sums,
        }
    }

    /// `score(L) + score(R) − score(parent)` is the weighted impurity decrease; see [`score`].
    fn score(&self, sums: &[f64]) -> f64 {
        score(sums, self.entropy)
    }

    fn best_split(&mut self, start: usize, end: usize, totals: &[f64], hist: Option<&[f64]>) -> Option<Split> {
        let p = self.params;
        let w_total = totals[0];
        if w_total < p.min_samples_split || w_total < 2.0 * p.min_samples_leaf {
            return None;
        }
        let sums = &totals[..self.slots];
        let parent = self.score(sums);
        let pure = if self.classes {
            sums[1..].iter().filter(|&&c| c > 0.0).count() <= 1
        } else {
            let sq = totals[self.slots];
            let explained = sums[1] * sums[1] / w_total;
            sq - explained <= 1e-12 * sq.abs().max(1e-300)
        };
        if pure {
            return None;
        }
        let d = self.binned.d;
        let s = self.slots;
        // Without draws, `features` stays in order: only draws shuffle it.
        let random = p.max_features.is_some_and(|k| k < d) || p.random_thresholds;
        let mut best: Option<Split> = None;
        let mut slot = 0;
        if hist.is_none() && !p.random_thresholds {
            // The features every node tries are drawn first (the same draws, in the same
            // order, as one at a time) and their histograms built in one pass over the rows.
            let first = p.max_features.map_or(d, |k| k.min(d));
            if random {
                for slot in 0..first {
                    let pick = rand08::Rng::gen_range(&mut self.rng, slot..d);
                    self.features.swap(slot, pick);
                }
            }
            best = self.split_from_rows(0..first, start, end, totals, parent);
            slot = first;
        }
        // A forest's node keeps drawing while none of its features splits (scikit-learn's rule).
        while slot < d {
            if random {
                let pick = rand08::Rng::gen_range(&mut self.rng, slot..d);
                self.features.swap(slot, pick);
                if best.is_some() && slot >= p.max_features.unwrap_or(d) {
                    break;
                }
            }
            let j = self.features[slot];
            let found = if let Some(h) = hist {
                let part = &h[self.offsets[j]..self.offsets[j + 1]];
                self.scan_feature(j, &ALL_CODES[..part.len() / s], part, totals, parent)
            } else if p.random_thresholds {
                self.random_cut(j, start, end, totals, parent)
            } else {
                self.split_from_rows(slot..slot + 1, start, end, totals, parent)
            };
            self.keep_better(&mut best, found);
            slot += 1;
        }
        best.filter(|b| b.improvement > 1e-12 * parent.abs().max(1e-300))
    }

    /// Makes `found` the node's `best` split if it improves more (ties go to the feature tried
    /// first), keeping its left sums from the scan that found it.
    fn keep_better(&mut self, best: &mut Option<Split>, found: Option<Split>) {
        if let Some(f) = found {
            if best.is_none_or(|b| f.improvement > b.improvement) {
                *best = Some(f);
                self.node_left.copy_from_slice(&self.scan_left);
            }
        }
    }

    /// The best split among the features at `slots` of [`Self::features`], from the node's
    /// rows (a node without a full histogram). The features' histograms are built together in
    /// one pass over the rows ([`Self::accumulate`]). Ties go to the feature tried first.
    ///
    /// Deep nodes have far fewer rows than bins, and clearing and scanning 256 bins per
    /// feature would then cost more than the rows: such a node marks the bins its rows fill
    /// (one bit each), and only those are read, gathered into a compact list and cleared. The
    /// histogram buffer is all zeros between nodes, so nothing else is cleared.
    fn split_from_rows(
        &mut self,
        slots: std::ops::Range<usize>,
        start: usize,
        end: usize,
        totals: &[f64],
        parent: f64,
    ) -> Option<Split> {
        let s = self.slots;
        let rows = end - start;
        // Where each feature's histogram starts in `batch_sums` (packed counts keep a
        // histogram per feature instead, and ignore it).
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        let mut len = 0;
        let mut few_rows = true;
        for &j in &self.features[slots] {
            let nb = self.binned.n_bins(j);
            few_rows &= rows < nb;
            batch.push((j, len));
            len += nb * s;
        }
        let mut marks = std::mem::take(&mut self.marks);
        marks.clear();
        if few_rows {
            marks.resize(batch.len(), [0; MAX_BINS / 64]);
        }
        if V::PACKED {
            let best = self.split_from_counts(&batch, few_rows.then_some(&mut marks[..]), start, end, totals, parent);
            self.batch = batch;
            self.marks = marks;
            return best;
        }
        let mut sums = std::mem::take(&mut self.batch_sums);
        if sums.len() < len {
            sums.resize(len, 0.0);
        }
        let mut best: Option<Split> = None;
        if few_rows {
            self.accumulate::<true>(&mut sums, &batch, &mut marks, start, end);
            for (&(j, base), marked) in batch.iter().zip(&marks) {
                self.gather_marked(&mut sums[base..base + self.binned.n_bins(j) * s], marked);
                let codes = std::mem::take(&mut self.small_codes);
                let small = std::mem::take(&mut self.small_sums);
                let found = self.scan_feature(j, &codes, &small, totals, parent);
                self.small_codes = codes;
                self.small_sums = small;
                self.keep_better(&mut best, found);
            }
        } else {
            self.accumulate::<false>(&mut sums, &batch, &mut marks, start, end);
            for &(j, base) in &batch {
                let hist = &mut sums[base..base + self.binned.n_bins(j) * s];
                let found = self.scan_feature(j, &ALL_CODES[..hist.len() / s], hist, totals, parent);
                hist.fill(0.0);
                self.keep_better(&mut best, found);
            }
        }
        self.batch = batch;
        self.batch_sums = sums;
        self.marks = marks;
        best
    }

    /// [`Self::split_from_rows`] for two classes and whole-number weights (a bootstrap's
    /// counts, or none): each bin holds the two classes' weights as two 32-bit counts in one
    /// `u64`, so a row adds to a bin with one integer addition, and a bin is 8 bytes, not 24.
    /// Whole numbers below 2^53 are exact in `f64`, so the sums, and the splits, are the ones
    /// the `f64` histograms give. `batch` as there (the `f`-th feature's histogram is
    /// `count_hist[f]`); `marks`, one per feature, for a node with fewer rows than bins.
    fn split_from_counts(
        &mut self,
        batch: &[(usize, usize)],
        mut marks: Option<&mut [[u64; MAX_BINS / 64]]>,
        start: usize,
        end: usize,
        totals: &[f64],
        parent: f64,
    ) -> Option<Split> {
        let mut hist = std::mem::take(&mut self.count_hist);
        if hist.len() < batch.len() {
            hist.resize(batch.len(), [0; MAX_BINS]);
        }
        match marks.as_deref_mut() {
            Some(marks) => self.accumulate_counts::<true>(&mut hist, batch, marks, start, end),
            None => self.accumulate_counts::<false>(&mut hist, batch, &mut [], start, end),
        }
        let mut best: Option<Split> = None;
        for (f, (&(j, _), h)) in batch.iter().zip(&mut hist).enumerate() {
            let h = &mut h[..self.binned.n_bins(j)];
            match marks.as_deref() {
                Some(marks) => self.cuts_from_marked_counts(h, &marks[f]),
                None => self.cuts_from_counts(h),
            }
            let left = std::mem::take(&mut self.cut_counts);
            let found = self.best_two_class_cut(j, &left, totals, parent);
            self.cut_counts = left;
            self.keep_better(&mut best, found);
        }
        self.count_hist = hist;
        best
    }

    /// [`Self::accumulate`] into two-class count histograms (see [`Self::split_from_counts`]),
    /// `hist[f]` for the `f`-th of `features`. A histogram of 256 bins is indexed by a code
    /// without a bounds check. Features go in groups of at most 8, each a pass over the rows
    /// with a loop over a fixed number of features, unrolled, each feature's column in a
    /// register. A forest's node (`sqrt` of up to 80 columns) is one group; integer counts do
    /// not depend on the order rows are added in, so more groups give the same histograms.
    fn accumulate_counts<const MARK: bool>(
        &self,
        hist: &mut [[u64; MAX_BINS]],
        features: &[(usize, usize)],
        marks: &mut [[u64; MAX_BINS / 64]],
        start: usize,
        end: usize,
    ) {
        const GROUP: usize = 8;
        for (g, (features, h)) in features.chunks(GROUP).zip(hist.chunks_mut(GROUP)).enumerate() {
            // Without `MARK`, `marks` is empty.
            let m = marks.get_mut(g * GROUP..).unwrap_or_default();
            match features.len() {
                1 => self.accumulate_counts_of::<MARK, 1>(h, features, m, start, end),
                2 => self.accumulate_counts_of::<MARK, 2>(h, features, m, start, end),
                3 => self.accumulate_counts_of::<MARK, 3>(h, features, m, start, end),
                4 => self.accumulate_counts_of::<MARK, 4>(h, features, m, start, end),
                5 => self.accumulate_counts_of::<MARK, 5>(h, features, m, start, end),
                6 => self.accumulate_counts_of::<MARK, 6>(h, features, m, start, end),
                7 => self.accumulate_counts_of::<MARK, 7>(h, features, m, start, end),
                _ => self.accumulate_counts_of::<MARK, GROUP>(h, features, m, start, end),
            }
        }
    }

    /// [`Self::accumulate_counts`] for exactly `K` features.
    fn accumulate_counts_of<const MARK: bool, const K: usize>(
        &self,
        hist: &mut [[u64; MAX_BINS]],
        features: &[(usize, usize)],
        marks: &mut [[u64; MAX_BINS / 64]],
        start: usize,
        end: usize,
    ) {
        let hist: &mut [[u64; MAX_BINS]; K] = (&mut hist[..K]).try_into().expect("K histograms");
        let columns: [usize; K] = std::array::from_fn(|f| features[f].0);
        for (codes, v) in self.node_rows(start, end) {
            let add = v.packed();
            for f in 0..K {
                let code = codes[columns[f]];
                hist[f][usize::from(code)] += add;
                mark::<MARK>(marks, f, code);
            }
        }
    }

    /// The candidate cuts of a dense count histogram `h` (which it clears) into
    /// [`Self::filled`] and [`Self::cut_counts`]: every filled bin but the last, with the
    /// left counts at it, still packed (only the scoring unpacks them). Bins are listed by a
    /// select, as in [`Self::scan_feature`].
    fn cuts_from_counts(&mut self, h: &mut [u64]) {
        let (filled, left) = (&mut self.filled, &mut self.cut_counts);
        filled.clear();
        filled.resize(h.len(), 0);
        left.clear();
        left.resize(h.len(), 0);
        let (mut sum, mut n) = (0u64, 0);
        for (b, &v) in h.iter().enumerate() {
            sum += v;
            filled[n] = b;
            left[n] = sum;
            n += usize::from(v != 0);
        }
        // The last filled bin is no cut: nothing would be left on the right.
        let cuts = n.saturating_sub(1);
        filled.truncate(cuts);
        left.truncate(cuts);
        h.fill(0);
    }

    /// [`Self::cuts_from_counts`] over a small node's marked bins only, clearing them.
    fn cuts_from_marked_counts(&mut self, h: &mut [u64], marked: &[u64; MAX_BINS / 64]) {
        let (filled, left) = (&mut self.filled, &mut self.cut_counts);
        filled.clear();
        left.clear();
        let mut sum = 0u64;
        for b in marked_bins(marked) {
            sum += h[b];
            h[b] = 0;
            filled.push(b);
            left.push(sum);
        }
        // The last filled bin is no cut: nothing would be left on the right.
        filled.pop();
        left.pop();
    }

    /// Moves a feature's marked bins, in code order, from its histogram `hist` (cleared as they
    /// are read) to [`Self::small_codes`] and [`Self::small_sums`].
    fn gather_marked(&mut self, hist: &mut [f64], marked: &[u64; MAX_BINS / 64]) {
        let s = self.slots;
        self.small_codes.clear();
        self.small_sums.clear();
        for b in marked_bins(marked) {
            self.small_codes.push(b as u8);
            // Slot by slot: a `memcpy` and a `memset` call per bin cost more than the copy.
            for v in &mut hist[b * s..(b + 1) * s] {
                self.small_sums.push(*v);
                *v = 0.0;
            }
        }
    }

    /// Extremely randomized trees: one cut of feature `j`, drawn uniformly between the node's
    /// smallest and largest values (as their bins bound them), scored from one pass of sums.
    fn random_cut(&mut self, j: usize, start: usize, end: usize, totals: &[f64], parent: f64) -> Option<Split> {
        let st = self.stride;
        let (mut first, mut last) = (u8::MAX, 0u8);
        for k in start..end {
            let c = self.codes[k * st + j];
            first = first.min(c);
            last = last.max(c);
        }
        if first >= last {
            return None; // Constant in this node.
        }
        let lo = self.binned.low[j][usize::from(first)];
        let hi = self.binned.high[j][usize::from(last)];
        let t = rand08::Rng::gen_range(&mut self.rng, lo..hi);
        let at = self.binned.edges[j].partition_point(|&e| e < t);
        let cut = u8::try_from(at).unwrap_or(u8::MAX).clamp(first, last - 1);
        let mut left = std::mem::take(&mut self.left);
        left.fill(0.0);
        for k in start..end {
            if self.codes[k * st + j] <= cut {
                self.add(&mut left, 0, k);
            }
        }
        self.left = left;
        let p = self.params;
        let (w_left, w_right) = (self.left[0], totals[0] - self.left[0]);
        if w_left < p.min_samples_leaf || w_right < p.min_samples_leaf {
            return None;
        }
        for ((r, t), l) in self.right.iter_mut().zip(&totals[..self.slots]).zip(&self.left) {
            *r = t - l;
        }
        self.scan_left.copy_from_slice(&self.left);
        Some(Split {
            feature: j,
            bin: cut,
            improvement: self.score(&self.left) + self.score(&self.right) - parent,
        })
    }

    /// The best cut of feature `j` over its bins (`codes[b]`'s sums at `sums[b * slots..]`,
    /// codes ascending; empty bins are skipped).
    fn scan_feature(&mut self, j: usize, codes: &[u8], sums: &[f64], totals: &[f64], parent: f64) -> Option<Split> {
        let s = self.slots;
        let p = self.params;
        let filled = |b: usize| sums[b * s] > 0.0;
        let first = (0..codes.len()).find(|&b| filled(b))?;
        let last = (0..codes.len()).rev().find(|&b| filled(b))?;
        if first == last {
            return None; // Constant in this node.
        }
        let w_total = totals[0];
        let bins = Bins {
            feature: j,
            codes: &codes[..=last],
            sums: &sums[..(last + 1) * s],
            first,
        };
        if !self.classes {
            return self.scan_values(&bins, totals, parent);
        }
        if s == 3 {
            let mut filled = std::mem::take(&mut self.filled);
            filled.clear();
            filled.resize(last - first, 0);
            let mut n = 0;
            for (b, _) in bins.cuts() {
                filled[n] = b;
                n += usize::from(sums[3 * b] > 0.0);
            }
            filled.truncate(n);
            self.filled = filled;
            // The scan names a cut by its bin's place in `sums`; the split wants its code.
            return self.scan_two_classes(j, bins.sums, totals, parent).map(|split| Split {
                bin: bins.codes[usize::from(split.bin)],
                ..split
            });
        }
        self.left.fill(0.0);
        let mut best: Option<Split> = None;
        for b in first..last {
            if !filled(b) {
                continue;
            }
            for (l, v) in self.left.iter_mut().zip(&sums[b * s..(b + 1) * s]) {
                *l += v;
            }
            let w_left = self.left[0];
            let w_right = w_total - w_left;
            if w_left < p.min_samples_leaf || w_right < p.min_samples_leaf {
                continue;
            }
            for ((r, t), l) in self.right.iter_mut().zip(&totals[..s]).zip(&self.left) {
                *r = t - l;
            }
            let improvement = self.score(&self.left) + self.score(&self.right) - parent;
            if best.is_none_or(|x| improvement > x.improvement) {
                best = Some(Split {
                    feature: j,
                    bin: codes[b],
                    improvement,
                });
                self.scan_left.copy_from_slice(&self.left);
            }
        }
        best
    }

    /// [`Self::scan_feature`] for two classes (the common case), over the cuts listed in
    /// [`Self::filled`]: the filled bins, ascending, but the last (bin `b`'s sums at
    /// `sums[3 b..]`; the split found names its bin by that `b`). The same arithmetic in the
    /// same order as the general loop, so the same splits.
    ///
    /// Deep nodes have few rows in 256 bins, so most bins are empty and whether the next one
    /// is filled is as good as random: a loop that skips empty bins by a branch mispredicts
    /// often, and its two divisions per cut run one at a time. So it goes in passes: the
    /// caller lists the filled bins (by a select), this sums the
    /// left side at each, scores every cut (a branch-free loop the compiler vectorizes), then
    /// takes the first best valid cut.
    fn scan_two_classes(&mut self, feature: usize, sums: &[f64], totals: &[f64], parent: f64) -> Option<Split> {
        let mut left = std::mem::take(&mut self.cut_sums);
        left.clear();
        // `extend` from a mapped slice writes without a capacity check per cut.
        let mut sum = [0.0; 3];
        left.extend(self.filled.iter().map(|&b| {
            let bin = &sums[3 * b..3 * b + 3];
            sum = [sum[0] + bin[0], sum[1] + bin[1], sum[2] + bin[2]];
            sum
        }));
        let found = self.best_two_class_cut(feature, &left, totals, parent);
        self.cut_sums = left;
        found
    }

    /// The best of the two-class cuts listed in [`Self::filled`], with the left sums at each
    /// in `left` (`[w, c0, c1]`, or packed counts): each is scored (a branch-free loop the
    /// compiler vectorizes; a cut leaving a side under `min_samples_leaf` scores minus
    /// infinity), then the first best one is taken.
    fn best_two_class_cut<L: LeftSums>(
        &mut self,
        feature: usize,
        left: &[L],
        totals: &[f64],
        parent: f64,
    ) -> Option<Split> {
        let filled = std::mem::take(&mut self.filled);
        let mut improvement = std::mem::take(&mut self.cut_improvement);
        improvement.clear();
        let min_leaf = self.params.min_samples_leaf;
        if self.entropy {
            score_cuts::<true, L>(left, &mut improvement, &totals[..3], parent, min_leaf);
        } else {
            score_cuts::<false, L>(left, &mut improvement, &totals[..3], parent, min_leaf);
        }
        // The first best cut, by selects: whether a cut is better is as good as random in a
        // deep node, and a branch on it is often mispredicted.
        let (mut best, mut best_improvement) = (usize::MAX, f64::NEG_INFINITY);
        for (k, &i) in improvement.iter().enumerate() {
            let better = i > best_improvement;
            best = if better { k } else { best };
            best_improvement = if better { i } else { best_improvement };
        }
        let found = (best != usize::MAX).then(|| {
            self.scan_left.copy_from_slice(&left[best].sums());
            Split {
                feature,
                bin: u8::try_from(filled[best]).expect("at most 256 bins"),
                improvement: best_improvement,
            }
        });
        self.filled = filled;
        self.cut_improvement = improvement;
        found
    }

    /// [`Self::scan_feature`] for regression, on plain scalars: the hot loop of deep
    /// regression trees, where the generic per-slot loops cost more than the arithmetic.
    fn scan_values(&self, bins: &Bins<'_>, totals: &[f64], parent: f64) -> Option<Split> {
        let min_leaf = self.params.min_samples_leaf;
        let (w_total, s_total) = (totals[0], totals[1]);
        let (mut w_left, mut s_left) = (0.0, 0.0);
        let mut best: Option<Split> = None;
        let sums = bins.sums;
        for (b, code) in bins.cuts() {
            let w = sums[2 * b];
            if w <= 0.0 {
                continue;
            }
            w_left += w;
            s_left += sums[2 * b + 1];
            let w_right = w_total - w_left;
            if w_left < min_leaf || w_right < min_leaf {
                continue;
            }
            let s_right = s_total - s_left;
            let improvement = s_left * s_left / w_left + s_right * s_right / w_right - parent;
            if best.is_none_or(|x| improvement > x.improvement) {
                best = Some(Split {
                    feature: bins.feature,
                    bin: code,
                    improvement,
                });
            }
        }
        best
    }

    /// Splits the node's rows into left rows then right rows, stably, into the same positions
    /// of the spare buffers, which then become the current ones; returns the middle.
    ///
    /// The row width is matched once here, not once per row: the usual widths get a loop
    /// whose row copy is a few moves of a size known when compiling.
    fn partition(&mut self, start: usize, end: usize, split: Split) -> usize {
        match self.stride {
            8 => self.partition_rows::<8>(start, end, split),
            16 => self.partition_rows::<16>(start, end, split),
            24 => self.partition_rows::<24>(start, end, split),
            32 => self.partition_rows::<32>(start, end, split),
            40 => self.partition_rows::<40>(start, end, split),
            48 => self.partition_rows::<48>(start, end, split),
            56 => self.partition_rows::<56>(start, end, split),
            64 => self.partition_rows::<64>(start, end, split),
            _ => self.partition_rows::<0>(start, end, split),
        }
    }

    /// [`Self::partition`] for rows of `N` bytes (`N = 0`: any width, copied by `memcpy`).
    fn partition_rows<const N: usize>(&mut self, start: usize, end: usize, split: Split) -> usize {
        let st = if N == 0 { self.stride } else { N };
        let (feature, bin) = (split.feature, split.bin);
        let node = &self.codes[start * st..end * st];
        let n_left = node.chunks_exact(st).filter(|row| row[feature] <= bin).count();
        let spare_codes = &mut self.spare_codes[start * st..end * st];
        let spare_values = &mut self.spare_values[start..end];
        let values = &self.values[start..end];
        if N > 0 {
            // Rows as arrays: a row is copied by a few moves, and placed with one bounds check.
            let (rows, _) = node.as_chunks::<N>();
            let (spare_rows, _) = spare_codes.as_chunks_mut::<N>();
            let places = stable_places(rows.iter().map(|row| row[feature] <= bin), n_left);
            for ((row, &v), at) in rows.iter().zip(values).zip(places) {
                spare_rows[at] = *row;
                spare_values[at] = v;
            }
        } else {
            let places = stable_places(node.chunks_exact(st).map(|row| row[feature] <= bin), n_left);
            for ((row, &v), at) in node.chunks_exact(st).zip(values).zip(places) {
                spare_codes[at * st..(at + 1) * st].copy_from_slice(row);
                spare_values[at] = v;
            }
        }
        self.use_side(self.side.other());
        start + n_left
    }

    /// Names the row buffers of set `side` the current ones (`codes`, `values`).
    fn use_side(&mut self, side: RowSet) {
        if self.side != side {
            std::mem::swap(&mut self.codes, &mut self.spare_codes);
            std::mem::swap(&mut self.values, &mut self.spare_values);
            self.side = side;
        }
    }
}

/// Each two-class cut's impurity decrease, `score(left) + score(right) - parent` (see
/// [`score`]), appended to `improvement`: `left` the running sums `[w, c0, c1]` at the cut,
/// `right` the node's `totals` less them; minus infinity where a side weighs less than
/// `min_leaf`. One branch-free pass, compiled once per criterion, so the divisions of
/// neighbouring cuts overlap.
fn score_cuts<const ENTROPY: bool, L: LeftSums>(
    left: &[L],
    improvement: &mut Vec<f64>,
    totals: &[f64],
    parent: f64,
    min_leaf: f64,
) {
    let (w_total, t0, t1) = (totals[0], totals[1], totals[2]);
    let score = |w: f64, c0: f64, c1: f64| {
        if w <= 0.0 {
            0.0
        } else if ENTROPY {
            xlogx(c0) + xlogx(c1) - xlogx(w)
        } else {
            (c0 * c0 + c1 * c1) / w
        }
    };
    improvement.extend(left.iter().map(|l| {
        let [w, c0, c1] = l.sums();
        let valid = w >= min_leaf && w_total - w >= min_leaf;
        let improvement = score(w, c0, c1) + score(w_total - w, t0 - c0, t1 - c1) - parent;
        if valid {
            improvement
        } else {
            f64::NEG_INFINITY
        }
    }));
}

/// A two-class cut's left side as a scan keeps it: `[w, c0, c1]` in `f64`, or the two class
/// counts packed in a `u64` (see [`Builder::split_from_counts`]), unpacked only to be scored.
trait LeftSums: Copy {
    fn sums(self) -> [f64; 3];
}

impl LeftSums for [f64; 3] {
    #[inline]
    fn sums(self) -> [f64; 3] {
        self
    }
}

impl LeftSums for u64 {
    #[inline]
    fn sums(self) -> [f64; 3] {
        unpack_counts(self)
    }
}

/// A whole number below 2^52 as `f64`, exactly: its bits under the exponent of 2^52, less
/// 2^52. The same as `as f64`, but made of an integer OR and a float subtraction, which the
/// compiler vectorizes (x86 before AVX-512 has no vector conversion from 64-bit integers).
#[inline]
fn count_to_f64(n: u64) -> f64 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    debug_assert!(n < 1 << 52);
    f64::from_bits(n | TWO_52.to_bits()) - TWO_52
}

/// The bins whose bits are set in `marked`, in ascending order.
#[inline]
fn marked_bins(marked: &[u64; MAX_BINS / 64]) -> impl Iterator<Item = usize> + '_ {
    marked.iter().enumerate().flat_map(|(word, &bits)| {
        let mut bits = bits;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let b = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                b
            })
        })
    })
}

/// With `MARK`, sets the bit of bin `code` in the `f`-th bitmap of `marks`.
#[inline]
fn mark<const MARK: bool>(marks: &mut [[u64; MAX_BINS / 64]], f: usize, code: u8) {
    if MARK {
        marks[f][usize::from(code >> 6)] |= 1 << (code & 63);
    }
}

/// A two-class count bin's `[w, c0, c1]` (see [`Builder::split_from_counts`]).
#[inline]
fn unpack_counts(packed: u64) -> [f64; 3] {
    let (c0, c1) = (count_to_f64(packed & 0xFFFF_FFFF), count_to_f64(packed >> 32));
    [c0 + c1, c0, c1]
}

/// Where a stable partition puts each row, given whether it goes left: the left rows in order
/// from 0, the right rows in order from `n_left`.
///
/// Which side a row goes to is as good as random, so a branch on it is mispredicted half the
/// time: the place is chosen by a select, not a branch.
fn stable_places(goes_left: impl Iterator<Item = bool>, n_left: usize) -> impl Iterator<Item = usize> {
    let (mut l, mut r) = (0, n_left);
    goes_left.map(move |left| {
        let at = if left { l } else { r };
        l += usize::from(left);
        r += usize::from(!left);
        at
    })
}

/// A node's score from its sums `[w, s_1, ...]`, such that a split's weighted impurity
/// decrease is `score(left) + score(right) − score(node)`:
/// - Gini and squared error: `Σ s² / w` (class weights, or the weighted target's sum);
/// - entropy: `Σ c ln c − w ln w`, which is `−w` times the node's entropy.
pub(super) fn score(sums: &[f64], entropy: bool) -> f64 {
    let w = sums[0];
    if w <= 0.0 {
        return 0.0;
    }
    if entropy {
        sums[1..].iter().map(|&c| xlogx(c)).sum::<f64>() - xlogx(w)
    } else {
        sums[1..].iter().map(|c| c * c).sum::<f64>() / w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand08::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn few_distinct_values_get_a_bin_each_and_many_get_256_quantile_bins() {
        let mut rng = StdRng::seed_from_u64(1);
        let x = Array2::from_shape_fn((5000, 2), |(_, j)| {
            if j == 0 {
                f64::from(rng.gen_range(0..10))
            } else {
                rng.gen::<f64>()
            }
        });
        let b = Binned::new(x.view());
        assert_eq!(b.n_bins(0), 10);
        assert_eq!(b.edges[0][0], 0.5);
        assert_eq!(b.n_bins(1), MAX_BINS);
        // Quantile bins hold about n / 256 rows each.
        let mut counts = vec![0usize; MAX_BINS];
        for i in 0..5000 {
            counts[usize::from(b.code(i, 1))] += 1;
        }
        assert!(counts.iter().all(|&c| (10..=30).contains(&c)), "{counts:?}");
        // A row's code agrees with the edges: value <= edge[code], value > edge[code - 1].
        for i in 0..5000 {
            for j in 0..2 {
                let (v, c) = (x[[i, j]], usize::from(b.code(i, j)));
                assert!(c == b.edges[j].len() || v <= b.edges[j][c]);
                assert!(c == 0 || v > b.edges[j][c - 1]);
            }
        }
    }

    #[test]
    fn packed_counts_grow_the_trees_f64_sums_grow() {
        // Two overlapping classes, a bootstrap's whole-number weights, forest and single-tree
        // settings, Gini and entropy: small and large nodes, marked and dense histograms, and
        // nodes trying 3 features (an unrolled count loop) or 10 and 12 (the general one).
        let mut rng = StdRng::seed_from_u64(3);
        let (n, d) = (4000, 12);
        let x = Array2::from_shape_fn((n, d), |_| rng.gen_range(-1.0..1.0));
        let y: Vec<usize> = (0..n)
            .map(|i| usize::from(x[[i, 0]] + x[[i, 1]] * x[[i, 2]] > 0.0) ^ usize::from(rng.gen_bool(0.15)))
            .collect();
        let weights: Vec<f64> = (0..n).map(|_| f64::from(rng.gen_range(0u8..4))).collect();
        let binned = Binned::new(x.view());
        let targets = Targets::Classes { y: &y, n_classes: 2 };
        for (max_features, entropy, max_leaf_nodes) in [
            (Some(3), false, None),
            (Some(3), true, None),
            (Some(10), false, None),
            (None, false, None),
            (None, false, Some(40)),
        ] {
            let params = TreeParams {
                max_features,
                entropy,
                max_leaf_nodes,
                seed: 7,
                ..Default::default()
            };
            let counted = Tree::grow_binned(&binned, targets, &weights, &params, true);
            let summed = Tree::grow_binned(&binned, targets, &weights, &params, false);
            assert!(counted.n_leaves() > 30, "a tree deep enough to test");
            assert_eq!(counted, summed, "{params:?}");
        }
    }

    #[test]
    fn rows_wider_than_64_codes_split_as_narrow_ones_do() {
        // 8 informative columns, then 62 constant ones that never split: the rows are 72
        // bytes (the partition's general width) instead of 8, and the tree must not change.
        let mut rng = StdRng::seed_from_u64(5);
        let n = 3000;
        let narrow = Array2::from_shape_fn((n, 8), |_| rng.gen_range(-1.0..1.0));
        let wide = Array2::from_shape_fn((n, 70), |(i, j)| if j < 8 { narrow[[i, j]] } else { 0.0 });
        let y: Vec<usize> = (0..n)
            .map(|i| usize::from(narrow[[i, 0]] * narrow[[i, 3]] > 0.1) ^ usize::from(rng.gen_bool(0.1)))
            .collect();
        let weights: Vec<f64> = (0..n).map(|_| f64::from(rng.gen_range(0u8..3))).collect();
        let targets = Targets::Classes { y: &y, n_classes: 2 };
        let params = TreeParams::default();
        let a = Tree::fit_binned(&Binned::new(narrow.view()), targets, &weights, &params);
        let b = Tree::fit_binned(&Binned::new(wide.view()), targets, &weights, &params);
        assert!(a.n_leaves() > 30, "a tree deep enough to test");
        assert_eq!((&a.nodes, &a.values), (&b.nodes, &b.values));
    }

    #[test]
    fn a_value_holding_most_rows_takes_one_bin() {
        let x = Array2::from_shape_fn((3000, 1), |(i, _)| if i < 2500 { 0.0 } else { i as f64 });
        let b = Binned::new(x.view());
        assert!(b.n_bins(0) <= MAX_BINS);
        let zeros = (0..2500).filter(|&i| b.code(i, 0) == 0).count();
        assert_eq!(zeros, 2500);
        assert!((2500..3000).all(|i| b.code(i, 0) > 0));
    }
}
