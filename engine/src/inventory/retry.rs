//! Retrying a source's call when — and only when — the platform says "slow down".

use std::future::Future;
use std::time::Duration;

use super::source::SourceError;

/// How rate-limited calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (default 5).
    pub max_attempts: u32,
    /// The first wait when the platform gives no `Retry-After` (default 1 s); doubled per retry.
    pub base_delay: Duration,
    /// The longest wait (default 30 s), also for a platform's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` after a rate-limited answer.
    pub(crate) fn delay(&self, attempt: u32, retry_after_ms: u32) -> Duration {
        let wait = if retry_after_ms > 0 {
            Duration::from_millis(u64::from(retry_after_ms))
        } else {
            self.base_delay
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        };
        wait.min(self.max_delay)
    }
}

/// What a call cost.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Attempts {
    pub calls: u64,
    pub rate_limited: u64,
}

/// Runs `call` until it succeeds, fails with anything but rate limiting, or runs out of
/// attempts (then the last rate-limited error is returned).
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    mut call: F,
) -> (Result<T, SourceError>, Attempts)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SourceError>>,
{
    let mut attempts = Attempts::default();
    loop {
        attempts.calls += 1;
        match call().await {
            Err(SourceError::RateLimited(after))
                if attempts.calls < u64::from(policy.max_attempts.max(1)) =>
            {
                attempts.rate_limited += 1;
                let attempt = u32::try_from(attempts.calls).unwrap_or(u32::MAX);
                tokio::time::sleep(policy.delay(attempt, after)).await;
            }
            Err(error @ SourceError::RateLimited(_)) => {
                attempts.rate_limited += 1;
                return (Err(error), attempts);
            }
            other => return (other, attempts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_wins_else_doubling_from_the_base() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 250), Duration::from_millis(250));
        assert_eq!(p.delay(1, 0), Duration::from_secs(1));
        assert_eq!(p.delay(2, 0), Duration::from_secs(2));
        assert_eq!(p.delay(3, 0), Duration::from_secs(4));
        assert_eq!(p.delay(10, 0), Duration::from_secs(30));
        assert_eq!(p.delay(1, 600_000), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn only_rate_limiting_is_retried() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        let (r, a) = with_retries(&p, || async { Err::<(), _>(SourceError::RateLimited(0)) }).await;
        assert_eq!(r, Err(SourceError::RateLimited(0)));
        assert_eq!(a.calls, 3);
        let (r, a) = with_retries(&p, || async {
            Err::<(), _>(SourceError::QuotaExceeded("q".into()))
        })
        .await;
        assert!(matches!(r, Err(SourceError::QuotaExceeded(_))));
        assert_eq!(a.calls, 1);
    }
}
