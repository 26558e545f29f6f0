//! One parameter-server round as a pure step: the master gathers the workers' answers, and
//! [`Trainer::round`] combines them, checks for divergence, applies the update and decides
//! whether to go on. It owns everything that survives from round to round (weights, the
//! learning-rate schedule, `tol` and `epsilon` bookkeeping, the loss history), so the
//! master's fit is only orchestration and this part is tested without a socket.

use super::{penalty_value, weights_from_rows, PenaltySpec, Schedule};
use crate::api::FitStepResponse;
use crate::config::{LearningRate, ParameterServerSpec, SgdMode};
use ndarray::{Array1, Array2};

/// One worker's answer to a round, checked against the model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub n_samples: usize,
    /// The worker's mean data loss at the weights it was sent.
    pub loss: f64,
    /// `d × o`.
    pub grad_w: Array2<f64>,
    pub grad_b: Array1<f64>,
    /// Model averaging: the worker's weights after its local epochs.
    pub averaged: Option<(Array2<f64>, Array1<f64>)>,
}

impl Contribution {
    /// Checks a fit-step answer's shapes against a `d × o` model before anything uses it: a
    /// worker is a peer on the network, and a short vector must be an error, not a panic.
    pub fn from_answer(a: &FitStepResponse, d: usize, o: usize, mode: SgdMode) -> Result<Contribution, String> {
        let matrix = |rows: &[Vec<f64>], what: &str| {
            weights_from_rows(rows, d).filter(|m| m.ncols() == o).ok_or_else(|| {
                format!(
                    "{what} must be {o} row(s) of {d} numbers, got {} row(s) of {:?}",
                    rows.len(),
                    rows.iter().map(Vec::len).collect::<Vec<_>>()
                )
            })
        };
        let vector = |v: &[f64], what: &str| {
            if v.len() == o {
                Ok(Array1::from(v.to_vec()))
            } else {
                Err(format!("{what} must hold {o} number(s), got {}", v.len()))
            }
        };
        let averaged = match mode {
            SgdMode::ModelAveraging => Some((
                matrix(a.weights.as_deref().unwrap_or_default(), "weights")?,
                vector(a.bias.as_deref().unwrap_or_default(), "bias")?,
            )),
            SgdMode::Gradient => None,
        };
        Ok(Contribution {
            n_samples: a.n_samples,
            loss: a.loss,
            grad_w: matrix(&a.weights_gradients, "weights_gradients")?,
            grad_b: vector(&a.bias_gradient, "bias_gradient")?,
            averaged,
        })
    }
}

/// Why training stopped, as the fit answer and `/v1/chimera/status` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `max_iter` rounds ran.
    MaxIter,
    /// The seed's rule: every gradient component at most `epsilon`.
    Epsilon,
    /// scikit-learn's: `n_iter_no_change` rounds without improving the loss by `tol`.
    Tol,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::MaxIter => "max_iter",
            StopReason::Epsilon => "epsilon",
            StopReason::Tol => "tol",
        }
    }
}

/// What the master does after a round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RoundOutcome {
    Continue,
    Stop(StopReason),
    /// The loss or a gradient is not finite; the weights are left as they were.
    Diverged {
        loss: f64,
    },
    /// No answers to combine: the round did not count.
    NoAnswers,
}

/// The parameter server's model and its training state between rounds.
#[derive(Debug, Clone)]
pub struct Trainer {
    /// `d × o`.
    pub w: Array2<f64>,
    pub b: Array1<f64>,
    /// The objective (weighted data loss plus penalty) of each round, at the weights sent.
    pub history: Vec<f64>,
    mode: SgdMode,
    penalty: PenaltySpec,
    epsilon: f64,
    max_iter: u64,
    schedule: Schedule,
    /// `tol` in force: the spec's, or adaptive's 1e-3 for its rate decay.
    early_tol: Option<f64>,
    stop_on_tol: bool,
    adaptive: bool,
    n_iter_no_change: u64,
    best_loss: f64,
    no_improvement: u64,
    /// `mode: async`: each worker's latest answer, for the running objective and the
    /// `epsilon` rule (which look at every shard, not only the one that just answered).
    latest: Vec<Option<Contribution>>,
}

impl Trainer {
    /// A model of `d` features and `o` outputs at zero, as scikit-learn starts.
    pub fn new(spec: &ParameterServerSpec, d: usize, o: usize) -> Trainer {
        let adaptive = spec.learning_rate == LearningRate::Adaptive;
        Trainer {
            w: Array2::zeros((d, o)),
            b: Array1::zeros(o),
            history: Vec::new(),
            mode: spec.mode.worker_mode(),
            penalty: PenaltySpec {
                penalty: spec.penalty,
                alpha: spec.alpha,
                l1_ratio: spec.l1_ratio,
            },
            epsilon: spec.epsilon,
            max_iter: spec.max_iter,
            schedule: Schedule::new(spec.learning_rate, spec.eta0, spec.power_t, spec.alpha),
            early_tol: spec.tol.or(adaptive.then_some(1e-3)),
            stop_on_tol: spec.tol.is_some() || adaptive,
            adaptive,
            n_iter_no_change: spec.n_iter_no_change,
            best_loss: f64::INFINITY,
            no_improvement: 0,
            latest: Vec::new(),
        }
    }

    /// `mode: async`: applies one worker's gradient as it arrives, `w -= eta · share · g`, so
    /// one answer from every worker moves the weights about as far as one synchronous round.
    /// The rate follows the schedule per `workers` updates (a sweep), as a round would. The
    /// loss recorded per update is the one its gradient was computed at (that worker's shard,
    /// at the weights it read, so a stale gradient shows as a stale loss) plus the penalty;
    /// once per sweep, `epsilon` looks at every worker's latest gradient and `tol` at the
    /// sweep's mean loss.
    pub fn apply(&mut self, worker: usize, share: f64, workers: usize, answer: Contribution) -> RoundOutcome {
        let workers = workers.max(1);
        let sweep = self.history.len() as u64 / workers as u64 + 1;
        let eta = self.schedule.eta(sweep);
        let loss = answer.loss + penalty_value(&self.w, self.penalty);
        if !loss.is_finite() || answer.grad_w.iter().chain(answer.grad_b.iter()).any(|v| !v.is_finite()) {
            return RoundOutcome::Diverged { loss };
        }
        self.history.push(loss);
        self.w.scaled_add(-eta * share, &answer.grad_w);
        self.b.scaled_add(-eta * share, &answer.grad_b);
        if self.latest.len() <= worker {
            self.latest.resize(worker + 1, None);
        }
        self.latest[worker] = Some(answer);
        if self.history.len().is_multiple_of(workers) {
            let seen: Vec<&Contribution> = self.latest.iter().flatten().collect();
            let total = seen.iter().map(|a| a.n_samples).sum::<usize>().max(1) as f64;
            let (d, o) = self.w.dim();
            let mut g = Array2::<f64>::zeros((d, o));
            let mut gb = Array1::<f64>::zeros(o);
            for a in &seen {
                g.scaled_add(a.n_samples as f64 / total, &a.grad_w);
                gb.scaled_add(a.n_samples as f64 / total, &a.grad_b);
            }
            if seen.len() >= workers && g.iter().chain(gb.iter()).all(|v| v.abs() <= self.epsilon) {
                return RoundOutcome::Stop(StopReason::Epsilon);
            }
            let sweep_loss = self.history[self.history.len() - workers..].iter().sum::<f64>() / workers as f64;
            if self.tol_says_stop(sweep_loss) {
                return RoundOutcome::Stop(StopReason::Tol);
            }
        }
        if self.history.len() as u64 >= self.max_iter {
            return RoundOutcome::Stop(StopReason::MaxIter);
        }
        RoundOutcome::Continue
    }

    /// The round about to run, from 1 (the schedule's `t`).
    pub fn next_round(&self) -> u64 {
        self.history.len() as u64 + 1
    }

    /// The learning rate the workers are sent for the next round.
    pub fn eta(&self) -> f64 {
        self.schedule.eta(self.next_round())
    }

    /// Combines the answers to the round at the current weights (weighted by sample count, so
    /// k shards step exactly as one worker holding their union), steps, and says what's next.
    pub fn round(&mut self, answers: &[Contribution]) -> RoundOutcome {
        if answers.is_empty() {
            return RoundOutcome::NoAnswers;
        }
        let eta = self.eta();
        let n_total = answers.iter().map(|a| a.n_samples).sum::<usize>().max(1) as f64;
        let (d, o) = self.w.dim();
        let mut g = Array2::<f64>::zeros((d, o));
        let mut gb = Array1::<f64>::zeros(o);
        let mut averaged = (Array2::<f64>::zeros((d, o)), Array1::<f64>::zeros(o));
        let mut data_loss = 0.0;
        for a in answers {
            let share = a.n_samples as f64 / n_total;
            data_loss += share * a.loss;
            g.scaled_add(share, &a.grad_w);
            gb.scaled_add(share, &a.grad_b);
            if let Some((w, b)) = &a.averaged {
                averaged.0.scaled_add(share, w);
                averaged.1.scaled_add(share, b);
            }
        }
        let loss = data_loss + penalty_value(&self.w, self.penalty);
        if !loss.is_finite() || g.iter().chain(gb.iter()).any(|v| !v.is_finite()) {
            return RoundOutcome::Diverged { loss };
        }
        self.history.push(loss);

        // The seed's stop rule. In model averaging the answers carry a weight change per unit
        // of rate, so it is scaled back to a gradient.
        let scale = if self.mode == SgdMode::ModelAveraging {
            1.0 / eta
        } else {
            1.0
        };
        if g.iter().chain(gb.iter()).all(|v| (v * scale).abs() <= self.epsilon) {
            return RoundOutcome::Stop(StopReason::Epsilon);
        }
        match self.mode {
            SgdMode::Gradient => {
                self.w.scaled_add(-eta, &g);
                self.b.scaled_add(-eta, &gb);
            }
            SgdMode::ModelAveraging => (self.w, self.b) = averaged,
        }
        if self.tol_says_stop(loss) {
            return RoundOutcome::Stop(StopReason::Tol);
        }
        if self.history.len() as u64 >= self.max_iter {
            return RoundOutcome::Stop(StopReason::MaxIter);
        }
        RoundOutcome::Continue
    }

    /// scikit-learn's early stopping and adaptive rate: after `n_iter_no_change` rounds without
    /// an improvement of `tol`, adaptive divides its rate by 5 (down to 1e-6), else training stops.
    fn tol_says_stop(&mut self, loss: f64) -> bool {
        let Some(tol) = self.early_tol else {
            return false;
        };
        if loss > self.best_loss - tol {
            self.no_improvement += 1;
        } else {
            self.no_improvement = 0;
        }
        self.best_loss = self.best_loss.min(loss);
        if self.no_improvement < self.n_iter_no_change {
            return false;
        }
        if self.adaptive && self.schedule.current > 1e-6 {
            self.schedule.current /= 5.0;
            self.no_improvement = 0;
            return false;
        }
        self.stop_on_tol
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Loss, Penalty};
    use crate::sgd::{add_penalty_gradient, data_gradient, LossSpec, Targets};

    fn spec(yaml: &str) -> ParameterServerSpec {
        serde_yaml::from_str(&format!("model_type: regressor\n{yaml}")).unwrap()
    }

    /// y = 2·x0 - x1 + 0.5 on a seeded grid, split in three uneven shards.
    fn problem() -> (Array2<f64>, Vec<f64>, Vec<Vec<usize>>) {
        let n = 60;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| ((i * (j + 3)) % 17) as f64 / 8.0 - 1.0);
        let y = (0..n).map(|i| 2.0 * x[[i, 0]] - x[[i, 1]] + 0.5).collect();
        let shards = vec![(0..7).collect(), (7..31).collect(), (31..n).collect()];
        (x, y, shards)
    }

    /// What an SGD worker answers: its shard's mean loss and full gradient, penalty included.
    fn answer(x: &Array2<f64>, y: &[f64], rows: &[usize], t: &Trainer, p: PenaltySpec) -> Contribution {
        let l = LossSpec {
            loss: Loss::SquaredError,
            huber_delta: 1.0,
        };
        let (loss, mut gw, gb) = data_gradient(x.view(), Targets::Values(y), Some(rows), &t.w, &t.b, l);
        add_penalty_gradient(&mut gw, &t.w, p);
        Contribution {
            n_samples: rows.len(),
            loss,
            grad_w: gw,
            grad_b: gb,
            averaged: None,
        }
    }

    #[test]
    fn sharded_rounds_equal_single_node_gradient_descent() {
        let (x, y, shards) = problem();
        let s = spec("max_iter: 50\neta0: 0.2");
        let p = PenaltySpec {
            penalty: Penalty::L2,
            alpha: 1e-4,
            l1_ratio: 0.15,
        };
        let mut distributed = Trainer::new(&s, 2, 1);
        let mut single = Trainer::new(&s, 2, 1);
        let all: Vec<usize> = (0..x.nrows()).collect();
        loop {
            let answers: Vec<_> = shards.iter().map(|r| answer(&x, &y, r, &distributed, p)).collect();
            let one = [answer(&x, &y, &all, &single, p)];
            let (a, b) = (distributed.round(&answers), single.round(&one));
            assert_eq!(a, b);
            assert!((&distributed.w - &single.w).iter().all(|v| v.abs() < 1e-12));
            if a != RoundOutcome::Continue {
                assert_eq!(a, RoundOutcome::Stop(StopReason::MaxIter));
                break;
            }
        }
        assert_eq!(distributed.history.len(), 50);
        assert!(distributed.history.windows(2).all(|w| w[1] <= w[0]), "the loss falls");
        assert!((distributed.w[[0, 0]] - 2.0).abs() < 0.2 && (distributed.b[0] - 0.5).abs() < 0.1);
    }

    #[test]
    fn epsilon_stops_before_stepping() {
        let s = spec("epsilon: 0.01");
        let mut t = Trainer::new(&s, 2, 1);
        let tiny = Contribution {
            n_samples: 5,
            loss: 0.1,
            grad_w: Array2::from_elem((2, 1), 0.005),
            grad_b: Array1::from_elem(1, -0.01),
            averaged: None,
        };
        assert_eq!(t.round(&[tiny]), RoundOutcome::Stop(StopReason::Epsilon));
        assert!(t.w.iter().all(|v| *v == 0.0), "a stop at epsilon keeps the weights");
        assert_eq!(t.history, vec![0.1]);
    }

    #[test]
    fn a_non_finite_answer_is_divergence_and_changes_nothing() {
        let mut t = Trainer::new(&spec(""), 1, 1);
        let bad = Contribution {
            n_samples: 3,
            loss: f64::INFINITY,
            grad_w: Array2::from_elem((1, 1), 1.0),
            grad_b: Array1::zeros(1),
            averaged: None,
        };
        assert!(matches!(t.round(&[bad]), RoundOutcome::Diverged { .. }));
        assert!(t.history.is_empty() && t.w[[0, 0]] == 0.0);
        assert_eq!(t.round(&[]), RoundOutcome::NoAnswers);
        assert_eq!(t.next_round(), 1);
    }

    #[test]
    fn tol_stops_after_n_iter_no_change_and_adaptive_decays_first() {
        let flat = |t: &Trainer| Contribution {
            n_samples: 1,
            loss: 1.0,
            grad_w: Array2::from_elem(t.w.dim(), 1.0),
            grad_b: Array1::zeros(1),
            averaged: None,
        };
        let mut t = Trainer::new(&spec("tol: 0.001\nn_iter_no_change: 3\npenalty: none"), 1, 1);
        let mut outcomes = Vec::new();
        for _ in 0..4 {
            let a = flat(&t);
            outcomes.push(t.round(&[a]));
        }
        // Round 1 improves on infinity; rounds 2, 3 and 4 do not: stop at the third of them.
        assert_eq!(outcomes[3], RoundOutcome::Stop(StopReason::Tol));
        assert_eq!(&outcomes[..3], &[RoundOutcome::Continue; 3]);

        let mut t = Trainer::new(
            &spec("learning_rate: adaptive\neta0: 0.5\nn_iter_no_change: 2\npenalty: none"),
            1,
            1,
        );
        let mut rates = Vec::new();
        for _ in 0..5 {
            rates.push(t.eta());
            let a = flat(&t);
            t.round(&[a]);
        }
        assert_eq!(rates[..3], [0.5, 0.5, 0.5]);
        assert!(
            (rates[3] - 0.1).abs() < 1e-15,
            "divided by 5 after 2 rounds without improvement: {rates:?}"
        );
    }

    #[test]
    fn model_averaging_takes_the_weighted_mean_of_the_workers_weights() {
        let mut t = Trainer::new(&spec("mode: model-averaging\nmax_iter: 5"), 1, 1);
        let worker = |n: usize, w: f64| Contribution {
            n_samples: n,
            loss: 1.0,
            grad_w: Array2::from_elem((1, 1), -w),
            grad_b: Array1::zeros(1),
            averaged: Some((Array2::from_elem((1, 1), w), Array1::from_elem(1, w / 2.0))),
        };
        assert_eq!(t.round(&[worker(1, 1.0), worker(3, 3.0)]), RoundOutcome::Continue);
        assert!((t.w[[0, 0]] - 2.5).abs() < 1e-12 && (t.b[0] - 1.25).abs() < 1e-12);
    }

    #[test]
    fn answers_of_the_wrong_shape_are_refused_by_name() {
        let a = FitStepResponse {
            weights_gradients: vec![vec![0.1, 0.2]],
            bias_gradient: vec![],
            n_samples: 4,
            loss: 0.5,
            weights: None,
            bias: None,
        };
        let e = Contribution::from_answer(&a, 2, 1, SgdMode::Gradient).unwrap_err();
        assert!(e.contains("bias_gradient"), "{e}");
        let e = Contribution::from_answer(&a, 3, 1, SgdMode::Gradient).unwrap_err();
        assert!(e.contains("weights_gradients"), "{e}");
        let ok = FitStepResponse {
            bias_gradient: vec![0.0],
            ..a
        };
        assert!(Contribution::from_answer(&ok, 2, 1, SgdMode::Gradient).is_ok());
        let e = Contribution::from_answer(&ok, 2, 1, SgdMode::ModelAveraging).unwrap_err();
        assert!(e.contains("weights"), "model averaging needs the new weights: {e}");
    }

    #[test]
    fn async_applies_each_gradient_at_its_share_and_counts_updates() {
        let (x, y, shards) = problem();
        let s = spec("max_iter: 6\neta0: 0.2\npenalty: none\nmode: async");
        let p = PenaltySpec {
            penalty: Penalty::None,
            alpha: 0.0,
            l1_ratio: 0.0,
        };
        let mut sync = Trainer::new(&spec("max_iter: 2\neta0: 0.2\npenalty: none"), 2, 1);
        let mut free = Trainer::new(&s, 2, 1);
        let n = x.nrows() as f64;
        for round in 0..2 {
            // Every worker's gradient at the same weights, applied one by one at its share:
            // one synchronous round, up to rounding.
            let answers: Vec<_> = shards.iter().map(|r| answer(&x, &y, r, &free, p)).collect();
            for (i, a) in answers.into_iter().enumerate() {
                let outcome = free.apply(i, shards[i].len() as f64 / n, 3, a);
                let last = round == 1 && i == 2;
                let expected = if last {
                    RoundOutcome::Stop(StopReason::MaxIter)
                } else {
                    RoundOutcome::Continue
                };
                assert_eq!(outcome, expected, "round {round} worker {i}");
            }
            let answers: Vec<_> = shards.iter().map(|r| answer(&x, &y, r, &sync, p)).collect();
            sync.round(&answers);
            assert!((&free.w - &sync.w).iter().all(|v| v.abs() < 1e-12));
            assert!((&free.b - &sync.b).iter().all(|v| v.abs() < 1e-12));
        }
        assert_eq!(free.history.len(), 6, "an update per gradient");
        // max_iter counts updates, not sweeps.
        let mut capped = Trainer::new(&spec("max_iter: 1\nmode: async"), 2, 1);
        let a = answer(&x, &y, &shards[0], &capped, p);
        assert_eq!(capped.apply(0, 0.5, 2, a), RoundOutcome::Stop(StopReason::MaxIter));
        // A non-finite gradient changes nothing.
        let mut bad = answer(&x, &y, &shards[1], &free, p);
        bad.grad_w[[0, 0]] = f64::NAN;
        let before = free.w.clone();
        assert!(matches!(free.apply(1, 0.5, 3, bad), RoundOutcome::Diverged { .. }));
        assert_eq!(free.w, before);
        assert_eq!(free.history.len(), 6);
    }
}
