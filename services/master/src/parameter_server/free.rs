//! `mode: async` and `mode: ssp`: every worker runs its own loop of steps instead of waiting
//! for a round. The master keeps one step in flight per worker: when a worker answers, its
//! gradient is applied (async) or held until its clock completes (ssp, see
//! [`chimera_shared::sgd::pace`]), and the worker is sent the current weights again as soon as
//! its pacing allows. The master stays the one owner of the weights, so no update is lost.

use super::{call_one, diverged, Participants, Run, Stage, Step};
use crate::pool::CallResult;
use chimera_shared::sgd::pace::{Pace, Pacing};
use chimera_shared::sgd::{RoundOutcome, StopReason, Trainer};
use chimera_shared::ApiError;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;

type InFlight<'a> = Pin<Box<dyn Future<Output = (usize, CallResult)> + 'a>>;

/// Runs a free-running fit until the trainer says stop. Returns why, and the staleness
/// histogram.
pub(super) async fn run(
    run: &Run<'_>,
    people: &mut Participants,
    trainer: &mut Trainer,
    pacing: Pacing,
) -> Result<(StopReason, Option<Vec<u64>>), ApiError> {
    let (pool, spec) = (run.pool, run.spec);
    let k = pool.len();
    let mut pace = Pace::new(pacing, k);
    let primed: Vec<AtomicBool> = (0..k).map(|_| AtomicBool::new(false)).collect();
    let mut inflight: FuturesUnordered<InFlight<'_>> = FuturesUnordered::new();
    let all_rows = run.rows.iter().sum::<usize>().max(1) as f64;
    loop {
        let update = pace.updates() + 1;
        let before = people.active();
        people.take_back(pool.list(), update);
        let active = people.active();
        for &i in active.iter().filter(|i| !before.contains(i)) {
            pace.rejoined(i);
        }
        if (active.len() as u64) < spec.min_workers {
            return Err(people.too_few(spec.min_workers, update));
        }
        // ssp: a worker that left may have been the last one a clock waited for.
        if let Some(stop) = apply_complete(run, trainer, &mut pace, &active)? {
            return Ok((stop, Some(pace.histogram().to_vec())));
        }
        for &i in &active {
            if pace.may_start(i) {
                let step = Step {
                    trainer,
                    round: pace.next_round(i),
                    fit_id: run.fit_id,
                    settings: &run.settings,
                };
                let (request, settings, compact) = (step.request(), &run.settings, run.compact[i]);
                pace.started(i);
                let primed = &primed[i];
                inflight.push(Box::pin(async move {
                    (i, call_one(pool, i, request, settings, compact, primed).await)
                }));
            }
        }
        let Some((i, call)) = inflight.next().await else {
            return Err(people.no_workers(&format!("compute update {update}")));
        };
        let round = pace.next_round(i);
        let answer = people
            .read_answers(&[i], vec![call], Stage::Round(round), |r| run.check(r))?
            .pop();
        let Some((_, answer)) = answer else {
            // Dropped from the fit (logged by `read_answers`); it may rejoin later.
            pace.abandoned(i);
            continue;
        };
        let (staleness, now) = pace.answered(i, answer);
        run.metrics.staleness.record(staleness as f64);
        if let Some(gradient) = now {
            let share = run.rows[i] as f64 / all_rows;
            let outcome = trainer.apply(i, share, active.len(), gradient);
            if let RoundOutcome::Diverged { loss } = outcome {
                return Err(diverged(update, loss));
            }
            pace.applied_one();
            run.record_update(trainer, None, Some(pace.histogram()));
            if let RoundOutcome::Stop(reason) = outcome {
                return Ok((reason, Some(pace.histogram().to_vec())));
            }
        }
    }
}

/// `ssp`: applies every clock that all of `active` have pushed, as a synchronous round.
fn apply_complete(
    run: &Run<'_>,
    trainer: &mut Trainer,
    pace: &mut Pace,
    active: &[usize],
) -> Result<Option<StopReason>, ApiError> {
    while let Some(gradients) = pace.complete(active) {
        let update = trainer.next_round();
        match trainer.round(&gradients) {
            RoundOutcome::Continue | RoundOutcome::NoAnswers => {}
            RoundOutcome::Stop(reason) => {
                run.record_update(trainer, None, Some(pace.histogram()));
                return Ok(Some(reason));
            }
            RoundOutcome::Diverged { loss } => return Err(diverged(update, loss)),
        }
        run.record_update(trainer, None, Some(pace.histogram()));
    }
    Ok(None)
}
