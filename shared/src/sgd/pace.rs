//! Who may start a step next, and how stale each step was, for the parameter server's
//! free-running modes. Pure bookkeeping: the master calls workers, this decides.
//!
//! - **`async`**: a worker starts again as soon as it answers. Its gradient is applied on
//!   arrival; its *staleness* is the number of updates other workers applied between its read
//!   of the weights and its push.
//! - **`ssp`** (stale synchronous parallel, Ho et al. 2013): each worker has a clock, the count
//!   of gradients it has pushed. Gradients of clock `c` are held until every worker still in
//!   the fit has pushed its own, then applied together as one update, exactly as a synchronous
//!   round is (same order, same arithmetic). A worker at clock `c` may start only while
//!   `c − applied ≤ s`: it runs at most `s` updates ahead of the slowest. Its staleness is that
//!   gap at the time it read the weights. With `s = 0` every worker reads the weights of the
//!   clock it computes for, which is synchronous SGD, bit for bit.

use super::trainer::Contribution;
use std::collections::BTreeMap;

/// The free-running modes' pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    Async,
    /// Bounded staleness `s`.
    Ssp(u64),
}

#[derive(Debug, Clone)]
pub struct Pace {
    pacing: Pacing,
    /// Gradients each worker has pushed (its clock).
    clocks: Vec<u64>,
    /// Whether a worker's step is under way.
    busy: Vec<bool>,
    /// The update count each busy worker read its weights at (async), or its gap (ssp).
    read: Vec<u64>,
    /// Updates applied so far (ssp: complete clocks; async: gradients).
    applied: u64,
    /// `ssp`: gradients waiting for their clock to complete, by clock, then worker.
    pending: BTreeMap<u64, BTreeMap<usize, Contribution>>,
    /// `histogram[s]`: how many gradients were computed `s` updates behind.
    histogram: Vec<u64>,
}

impl Pace {
    pub fn new(pacing: Pacing, workers: usize) -> Pace {
        Pace {
            pacing,
            clocks: vec![0; workers],
            busy: vec![false; workers],
            read: vec![0; workers],
            applied: 0,
            pending: BTreeMap::new(),
            histogram: Vec::new(),
        }
    }

    /// The round number the worker's next step is for (its clock, from 1), as a worker
    /// seeds its mini-batch with it.
    pub fn next_round(&self, worker: usize) -> u64 {
        self.clocks[worker] + 1
    }

    /// Whether `worker` (idle) may start a step now.
    pub fn may_start(&self, worker: usize) -> bool {
        !self.busy[worker]
            && match self.pacing {
                Pacing::Async => true,
                Pacing::Ssp(s) => self.clocks[worker] <= self.applied + s,
            }
    }

    /// `worker` read the current weights and started a step.
    pub fn started(&mut self, worker: usize) {
        self.busy[worker] = true;
        self.read[worker] = match self.pacing {
            Pacing::Async => self.applied,
            Pacing::Ssp(_) => self.clocks[worker].saturating_sub(self.applied),
        };
    }

    /// `worker`'s step failed or it left the fit: it is idle and its clock stays.
    pub fn abandoned(&mut self, worker: usize) {
        self.busy[worker] = false;
    }

    /// A worker that rejoins a fit starts at the current update, not where it left off.
    pub fn rejoined(&mut self, worker: usize) {
        self.busy[worker] = false;
        self.clocks[worker] = self.clocks[worker].max(self.applied);
    }

    /// `worker` answered: returns the answer's staleness. In `async` the caller applies the
    /// gradient at once (then calls [`Pace::applied_one`]); in `ssp` it is held until its
    /// clock completes (see [`Pace::complete`]).
    pub fn answered(&mut self, worker: usize, answer: Contribution) -> (u64, Option<Contribution>) {
        self.busy[worker] = false;
        let staleness = match self.pacing {
            Pacing::Async => self.applied - self.read[worker],
            Pacing::Ssp(_) => self.read[worker],
        };
        self.record(staleness);
        let clock = self.clocks[worker];
        self.clocks[worker] += 1;
        match self.pacing {
            Pacing::Async => (staleness, Some(answer)),
            Pacing::Ssp(_) => {
                self.pending.entry(clock).or_default().insert(worker, answer);
                (staleness, None)
            }
        }
    }

    /// `async`: the gradient just answered was applied.
    pub fn applied_one(&mut self) {
        self.applied += 1;
    }

    /// `ssp`: the gradients of the oldest unapplied clock, in worker order, once every worker
    /// in `active` has pushed its own; the caller applies them as one update.
    pub fn complete(&mut self, active: &[usize]) -> Option<Vec<Contribution>> {
        let clock = self.applied;
        let ready = self
            .pending
            .get(&clock)
            .is_some_and(|p| !p.is_empty() && active.iter().all(|i| p.contains_key(i)));
        if !ready {
            return None;
        }
        self.applied += 1;
        self.pending.remove(&clock).map(|p| p.into_values().collect())
    }

    /// Updates applied so far.
    pub fn updates(&self) -> u64 {
        self.applied
    }

    fn record(&mut self, staleness: u64) {
        let at = usize::try_from(staleness).unwrap_or(usize::MAX).min(MAX_HISTOGRAM - 1);
        if self.histogram.len() <= at {
            self.histogram.resize(at + 1, 0);
        }
        self.histogram[at] += 1;
    }

    /// `histogram[s]`: how many gradients were computed `s` updates behind (the last entry
    /// also counts anything staler).
    pub fn histogram(&self) -> &[u64] {
        &self.histogram
    }
}

/// Entries in the staleness histogram; staler gradients count in the last.
pub const MAX_HISTOGRAM: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    fn g(v: f64) -> Contribution {
        Contribution {
            n_samples: 1,
            loss: v,
            grad_w: Array2::from_elem((1, 1), v),
            grad_b: Array1::zeros(1),
            averaged: None,
        }
    }

    #[test]
    fn ssp_zero_is_lockstep() {
        let mut p = Pace::new(Pacing::Ssp(0), 2);
        p.started(0);
        p.started(1);
        assert_eq!(p.answered(0, g(1.0)).0, 0);
        // Worker 0 is one clock ahead of the applied weights: it must wait.
        assert!(!p.may_start(0));
        assert!(p.complete(&[0, 1]).is_none(), "worker 1 has not pushed clock 0");
        assert_eq!(p.answered(1, g(2.0)).0, 0);
        let update = p.complete(&[0, 1]).unwrap();
        assert_eq!(
            update.iter().map(|c| c.loss).collect::<Vec<_>>(),
            [1.0, 2.0],
            "worker order"
        );
        assert!(p.may_start(0) && p.may_start(1));
        assert_eq!((p.updates(), p.histogram()), (1, [2].as_slice()));
    }

    #[test]
    fn ssp_lets_a_worker_run_ahead_by_at_most_s() {
        let mut p = Pace::new(Pacing::Ssp(2), 2);
        p.started(1); // the straggler, busy throughout
        let mut ahead = 0;
        while p.may_start(0) {
            p.started(0);
            let (staleness, held) = p.answered(0, g(0.0));
            assert!(held.is_none() && staleness == ahead);
            ahead += 1;
        }
        assert_eq!(ahead, 3, "clocks 0, 1 and 2 run; clock 3 would be 3 ahead");
        assert!(p.complete(&[0, 1]).is_none());
        p.answered(1, g(0.0));
        assert!(p.complete(&[0, 1]).is_some() && p.may_start(0));
        // The straggler left: the clocks it never pushed complete without it.
        assert!(p.complete(&[0]).is_some() && p.complete(&[0]).is_some());
        assert!(p.complete(&[0]).is_none(), "nothing pending");
    }

    #[test]
    fn async_staleness_counts_the_updates_in_between() {
        let mut p = Pace::new(Pacing::Async, 2);
        p.started(0);
        p.started(1);
        for _ in 0..3 {
            let (s, now) = p.answered(0, g(0.0));
            assert!(now.is_some());
            p.applied_one();
            assert!(p.may_start(0));
            p.started(0);
            assert_eq!(s, 0);
        }
        assert_eq!(p.answered(1, g(0.0)).0, 3, "three updates landed while worker 1 worked");
        assert_eq!(p.histogram(), [3, 0, 0, 1]);
    }
}
