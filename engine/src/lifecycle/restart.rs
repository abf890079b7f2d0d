//! The restart policy: whether a container that exited is started again, and after how long.
//!
//! Delays grow exponentially from `initial` by `factor` up to `max`, with ±`jitter` so that
//! many containers failing together do not restart in lockstep. A run that lasted at least
//! `reset_after` counts as stable: the next failure starts again from `initial`.

use std::time::Duration;

/// When a container that exited is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart.
    Never,
    /// Restart after a non-zero exit, at most `max_restarts` times in a row.
    OnFailure {
        /// Consecutive restarts before giving up.
        max_restarts: u32,
    },
    /// Restart whatever the exit code.
    Always,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self::OnFailure { max_restarts: 5 }
    }
}

/// The shape of the delays between restarts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The growth factor per consecutive restart.
    pub factor: f64,
    /// The longest delay.
    pub max: Duration,
    /// The relative jitter: 0.2 spreads each delay over ±20 %.
    pub jitter: f64,
    /// A run at least this long resets the count of consecutive restarts.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            factor: 2.0,
            max: Duration::from_secs(60),
            jitter: 0.2,
            reset_after: Duration::from_secs(30),
        }
    }
}

/// What the policy decides for a container that exited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RestartDecision {
    /// Start it again after this delay; `attempt` is the consecutive restart it will be (1-based).
    Restart {
        /// The delay before the restart.
        after: Duration,
        /// Which consecutive restart this is.
        attempt: u32,
    },
    /// Leave it stopped: the policy does not restart this exit.
    Stay,
    /// Give up: too many consecutive restarts.
    GiveUp {
        /// The restarts made before giving up.
        restarts: u32,
    },
}

impl Backoff {
    /// The delay before the `attempt`-th consecutive restart (1-based), before jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let secs = self.initial.as_secs_f64() * self.factor.powi(exponent);
        Duration::from_secs_f64(secs.min(self.max.as_secs_f64()))
    }

    /// The delay with jitter applied; `unit` is a uniform random number in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(attempt).as_secs_f64();
        let spread = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * spread).clamp(0.0, self.max.as_secs_f64()))
    }
}

impl RestartPolicy {
    /// Decides what follows an exit with `exit_code` after a run of `ran_for`, given the
    /// consecutive restarts so far. `unit` is a uniform random number in [0, 1) for jitter.
    pub fn decide(
        &self,
        backoff: &Backoff,
        exit_code: i64,
        ran_for: Duration,
        restarts_so_far: u32,
        unit: f64,
    ) -> RestartDecision {
        let restarts = if ran_for >= backoff.reset_after {
            0
        } else {
            restarts_so_far
        };
        match *self {
            Self::Never => RestartDecision::Stay,
            Self::OnFailure { .. } if exit_code == 0 => RestartDecision::Stay,
            Self::OnFailure { max_restarts } if restarts >= max_restarts => {
                RestartDecision::GiveUp { restarts }
            }
            Self::OnFailure { .. } | Self::Always => {
                let attempt = restarts + 1;
                RestartDecision::Restart {
                    after: backoff.delay(attempt, unit),
                    attempt,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_secs(1);

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        let backoff = Backoff::default();
        let delays: Vec<u128> = (1..=9).map(|a| backoff.base_delay(a).as_millis()).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
        );
        assert_eq!(backoff.base_delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let backoff = Backoff::default();
        for i in 0..100 {
            let unit = f64::from(i) / 100.0;
            let delay = backoff.delay(3, unit).as_millis();
            assert!((1600..=2400).contains(&delay), "{delay}");
        }
        assert!(backoff.delay(20, 0.99) <= backoff.max);
    }

    #[test]
    fn on_failure_restarts_failures_only_and_gives_up() {
        let policy = RestartPolicy::OnFailure { max_restarts: 2 };
        let b = Backoff::default();
        assert_eq!(policy.decide(&b, 0, QUICK, 0, 0.5), RestartDecision::Stay);
        assert!(matches!(
            policy.decide(&b, 1, QUICK, 0, 0.5),
            RestartDecision::Restart { attempt: 1, .. }
        ));
        assert!(matches!(
            policy.decide(&b, 1, QUICK, 1, 0.5),
            RestartDecision::Restart { attempt: 2, .. }
        ));
        assert_eq!(
            policy.decide(&b, 1, QUICK, 2, 0.5),
            RestartDecision::GiveUp { restarts: 2 }
        );
    }

    #[test]
    fn a_stable_run_resets_the_count() {
        let policy = RestartPolicy::OnFailure { max_restarts: 2 };
        let b = Backoff::default();
        let decision = policy.decide(&b, 1, Duration::from_secs(31), 2, 0.5);
        assert_eq!(
            decision,
            RestartDecision::Restart {
                after: Duration::from_millis(500),
                attempt: 1
            }
        );
    }

    #[test]
    fn always_restarts_clean_exits_and_never_never_does() {
        let b = Backoff::default();
        assert!(matches!(
            RestartPolicy::Always.decide(&b, 0, QUICK, 10, 0.5),
            RestartDecision::Restart { .. }
        ));
        assert_eq!(
            RestartPolicy::Never.decide(&b, 1, QUICK, 0, 0.5),
            RestartDecision::Stay
        );
    }
}
