//! When to try a master -> worker call again, and how long to wait first. Small and pure, so
//! the policy is tested apart from any socket.

use std::time::Duration;

/// How one attempt ended, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The worker answered with this HTTP status.
    Answered(u16),
    /// No answer: the connection failed or the request timed out.
    NoAnswer,
}

/// Retry what may pass on its own (no answer, 502/503/504) but never a client mistake (4xx):
/// sending the same bad request again cannot fix it.
pub fn should_retry(attempt: Attempt, tries_so_far: u32, max_retries: u32) -> bool {
    if tries_so_far > max_retries {
        return false;
    }
    match attempt {
        Attempt::NoAnswer => true,
        Attempt::Answered(status) => matches!(status, 502..=504),
    }
}

/// Exponential backoff from 50 ms, doubling, capped at 2 s.
pub fn backoff(retry: u32) -> Duration {
    let ms = 50u64.saturating_mul(1u64 << retry.min(16));
    Duration::from_millis(ms.min(2_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_at_the_limit() {
        assert!(!should_retry(Attempt::NoAnswer, 1, 0), "the seed's default is no retry");
        assert!(should_retry(Attempt::NoAnswer, 1, 2));
        assert!(should_retry(Attempt::NoAnswer, 2, 2));
        assert!(!should_retry(Attempt::NoAnswer, 3, 2));
    }

    #[test]
    fn client_mistakes_and_successes_are_not_retried() {
        assert!(!should_retry(Attempt::Answered(200), 1, 5));
        assert!(!should_retry(Attempt::Answered(400), 1, 5));
        assert!(!should_retry(Attempt::Answered(409), 1, 5));
        assert!(!should_retry(Attempt::Answered(500), 1, 5));
        assert!(should_retry(Attempt::Answered(503), 1, 5));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(50));
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(400));
        assert_eq!(backoff(10), Duration::from_secs(2));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(2));
    }
}
