//! One fit at a time, on the master and on every worker: [`FitLock::begin`] moves a node to
//! `Fitting` unless a fit already runs, and the guard it returns puts the state back however
//! the fit ends (an error, a panic, or a client that went away: actix then drops the handler).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Where a node is in its life, as `/v1/chimera/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitState {
    Idle,
    Fitting,
    Fitted,
    Failed,
}

#[derive(Debug)]
pub struct FitLock {
    state: Mutex<FitState>,
    /// Set by the first successful fit; predictions are served from then on, refits included.
    fitted_once: AtomicBool,
}

impl Default for FitLock {
    fn default() -> Self {
        FitLock {
            state: Mutex::new(FitState::Idle),
            fitted_once: AtomicBool::new(false),
        }
    }
}

impl FitLock {
    /// The lock of a node that starts from a saved state.
    pub fn restored(state: FitState, fitted_once: bool) -> FitLock {
        FitLock {
            state: Mutex::new(state),
            fitted_once: AtomicBool::new(fitted_once),
        }
    }

    pub fn state(&self) -> FitState {
        *self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a fit has ever succeeded.
    pub fn has_model(&self) -> bool {
        self.fitted_once.load(Ordering::SeqCst)
    }

    /// `None` while another fit runs.
    pub fn begin(&self) -> Option<FitGuard<'_>> {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *s == FitState::Fitting {
            return None;
        }
        *s = FitState::Fitting;
        Some(FitGuard {
            lock: self,
            succeeded: false,
        })
    }

    fn set(&self, s: FitState) {
        *self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = s;
    }
}

/// A fit in progress; see [`FitLock::begin`].
#[derive(Debug)]
pub struct FitGuard<'a> {
    lock: &'a FitLock,
    succeeded: bool,
}

impl FitGuard<'_> {
    /// The fit produced a model: predictions are served from now on.
    pub fn succeeded(mut self) {
        self.succeeded = true;
        self.lock.fitted_once.store(true, Ordering::SeqCst);
        self.lock.set(FitState::Fitted);
    }
}

impl Drop for FitGuard<'_> {
    fn drop(&mut self) {
        if !self.succeeded {
            // A model from an earlier fit stays usable: the node still holds it.
            self.lock.set(if self.lock.has_model() {
                FitState::Fitted
            } else {
                FitState::Failed
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fit_at_a_time_and_the_state_after_it() {
        let lock = FitLock::default();
        assert_eq!(lock.state(), FitState::Idle);
        let fit = lock.begin().unwrap();
        assert!(lock.begin().is_none(), "a second fit is refused while one runs");
        assert_eq!(lock.state(), FitState::Fitting);
        drop(fit);
        assert_eq!(
            lock.state(),
            FitState::Failed,
            "a fit that did not succeed, with no model before"
        );
        lock.begin().unwrap().succeeded();
        assert!(lock.has_model());
        drop(lock.begin().unwrap());
        assert_eq!(lock.state(), FitState::Fitted, "a failed refit keeps the earlier model");
    }
}
