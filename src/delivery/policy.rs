//! What a failed delivery means for its jobs: try again (when), or a dead letter (why). Pure, so
//! every branch is a unit test.

use std::time::{Duration, SystemTime};

use crate::genesys::GenesysError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Transient failures are retried until this long after the webhook was received.
    pub horizon: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A conversation or participant Genesys does not show yet (404, none present, 409) is
    /// re-checked this many times before the job becomes a dead letter.
    pub rechecks: u32,
    pub recheck_delay: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            horizon: Duration::from_secs(24 * 3600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            rechecks: 3,
            recheck_delay: Duration::from_secs(2),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    Retry { at: SystemTime },
    Dead { reason: String },
}

/// Decides after the `attempts`-th failed attempt (1 = the first).
pub(super) fn decide(
    err: &GenesysError,
    attempts: u32,
    received_at: SystemTime,
    now: SystemTime,
    schedule: &RetrySchedule,
) -> Decision {
    let give_up_at = received_at + schedule.horizon;
    let within_horizon = |at: SystemTime| {
        if at <= give_up_at {
            Decision::Retry { at }
        } else {
            Decision::Dead {
                reason: format!(
                    "still failing {}h after it was received: {err}",
                    schedule.horizon.as_secs() / 3600
                ),
            }
        }
    };
    let recheck = |what: &str| recheck(what, attempts, now, schedule).explained(err);
    match err {
        // Genesys said when: never sooner.
        GenesysError::RetryAt { at, .. } => within_horizon((*at).max(now)),
        GenesysError::ConversationNotFound { .. } => recheck("conversation not found"),
        GenesysError::NoParticipant { .. } => recheck("no participant to write to"),
        GenesysError::Api { failure, .. } if failure.status == 404 => recheck("participant not found"),
        GenesysError::Api { failure, .. } if failure.status == 409 => recheck("conversation kept changing (409)"),
        GenesysError::ConversationEnded { .. } => Decision::Dead {
            reason: "the conversation ended before the data could be written (queue.write_ended_conversations = false)"
                .to_owned(),
        },
        // Refused credentials are a configuration problem: keep the job until it is fixed.
        GenesysError::BadCredentials(_) | GenesysError::InvalidResponse { .. } => within_horizon(now + backoff(attempts, schedule)),
        other if other.is_transient() => within_horizon(now + backoff(attempts, schedule)),
        other => Decision::Dead { reason: other.to_string() },
    }
}

/// Something Genesys (or the registry of calls) does not show yet: looked at again after
/// `recheck_delay` × attempts, `rechecks` times, then a dead letter saying `what`.
pub(super) fn recheck(
    what: &str,
    attempts: u32,
    now: SystemTime,
    schedule: &RetrySchedule,
) -> Decision {
    if attempts <= schedule.rechecks {
        Decision::Retry {
            at: now + schedule.recheck_delay * attempts,
        }
    } else {
        Decision::Dead {
            reason: format!("{what} after {attempts} attempts"),
        }
    }
}

impl Decision {
    /// A dead letter's reason with the error that caused it.
    fn explained(self, err: &GenesysError) -> Self {
        match self {
            Decision::Dead { reason } => Decision::Dead {
                reason: format!("{reason}: {err}"),
            },
            retry => retry,
        }
    }
}

/// Exponential, capped, with "equal jitter": half fixed, half random, so retries neither
/// synchronise nor come back at once.
pub(super) fn backoff(attempts: u32, schedule: &RetrySchedule) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let cap = schedule
        .initial_backoff
        .saturating_mul(1 << exp)
        .min(schedule.max_backoff);
    let half = cap / 2;
    half + Duration::from_millis(fastrand::u64(
        0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesys::{ApiFailure, Operation};

    fn api(status: u16) -> GenesysError {
        GenesysError::Api {
            operation: Operation::PatchAttributes,
            failure: ApiFailure {
                status,
                code: None,
                message: String::new(),
                correlation_id: Some("c".into()),
                retry_after: None,
            },
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn transient_failures_back_off_within_the_horizon_then_die() {
        let s = RetrySchedule::default();
        match decide(&api(503), 1, at(0), at(0), &s) {
            Decision::Retry { at: when } => {
                let wait = when.duration_since(at(0)).unwrap();
                assert!(
                    wait >= Duration::from_millis(500) && wait <= Duration::from_secs(1),
                    "{wait:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        let late = at(24 * 3600 - 1);
        assert!(matches!(
            decide(&api(503), 20, at(0), late, &s),
            Decision::Dead { .. }
        ));
    }

    #[test]
    fn retry_after_becomes_the_next_run_time() {
        let err = GenesysError::RetryAt {
            operation: Operation::PatchAttributes,
            after: Duration::from_secs(600),
            at: at(600),
            failure: Box::new(ApiFailure {
                status: 429,
                code: None,
                message: String::new(),
                correlation_id: None,
                retry_after: None,
            }),
        };
        assert_eq!(
            decide(&err, 1, at(0), at(0), &RetrySchedule::default()),
            Decision::Retry { at: at(600) }
        );
    }

    #[test]
    fn payload_and_permission_errors_are_dead_letters_at_once() {
        for status in [400, 403, 413, 501] {
            assert!(
                matches!(
                    decide(&api(status), 1, at(0), at(0), &RetrySchedule::default()),
                    Decision::Dead { .. }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn not_found_is_rechecked_briefly_then_dead() {
        let s = RetrySchedule::default();
        assert_eq!(
            decide(&api(404), 1, at(0), at(0), &s),
            Decision::Retry { at: at(2) }
        );
        assert_eq!(
            decide(&api(404), 3, at(0), at(0), &s),
            Decision::Retry { at: at(6) }
        );
        assert!(matches!(
            decide(&api(404), 4, at(0), at(0), &s),
            Decision::Dead { .. }
        ));
        let ended = GenesysError::ConversationEnded {
            conversation_id: "c".into(),
        };
        assert!(matches!(
            decide(&ended, 1, at(0), at(0), &s),
            Decision::Dead { .. }
        ));
    }
}
