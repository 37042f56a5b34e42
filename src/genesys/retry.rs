//! The retry policy, kept apart from the HTTP client: first classify a failed attempt (can it be
//! retried at all?), then decide how long to wait — and whether that wait still fits in the call.
//!
//! Short waits happen inside a call; a wait that would outlast the call's budget is handed back to
//! the caller as "retry at" so the durable queue, not a request, does the waiting.

use std::time::{Duration, SystemTime};

/// How hard one Genesys call tries before it gives up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included.
    pub max_attempts: u32,
    /// The most time one call may spend, waits included.
    pub max_elapsed: Duration,
    /// The cap of the first backoff; it doubles per retry up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The wait after a 429 that carries no `Retry-After` (the official SDKs use 3 s).
    pub default_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_elapsed: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            default_retry_after: Duration::from_secs(3),
        }
    }
}

/// What one failed attempt says about trying again, judged from the answer alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retryability {
    /// The request itself is wrong or not allowed (400, 403, 404, 409, 413, 501, …).
    Permanent,
    /// A passing fault: 408, 502, 503, 504, a connection error or a timeout.
    Transient,
    /// 429: wait at least `Retry-After`, never less.
    RateLimited { retry_after: Option<Duration> },
}

/// Classifies an HTTP status from the Genesys API (`genesys-api.md` §4).
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Retryability {
    match status {
        429 => Retryability::RateLimited { retry_after },
        408 | 502 | 503 | 504 => Retryability::Transient,
        _ => Retryability::Permanent,
    }
}

/// `Retry-After` is either whole seconds or an HTTP date; anything else is ignored (and the
/// policy's default wait applies).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    // A date in the past means "now"; it never means "sooner than now".
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Sleep this long, then try again within the same call.
    RetryIn(Duration),
    /// Give up now and report the failure as it is.
    GiveUp,
    /// Rate limited beyond this call's budget: tell the caller to come back after this long.
    RetryAfter(Duration),
}

impl RetryPolicy {
    /// Exponential backoff with full jitter: uniform in `[0, min(max, initial × 2^(n-1))]` for the
    /// n-th retry, so replicas that failed together do not retry together.
    pub fn backoff(&self, retry_number: u32) -> Duration {
        let exp = retry_number.saturating_sub(1).min(20);
        let cap = self
            .initial_backoff
            .saturating_mul(1 << exp)
            .min(self.max_backoff);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// Decides the next step after `attempts_made` attempts that took `elapsed` so far.
    pub fn next_step(
        &self,
        attempts_made: u32,
        elapsed: Duration,
        failure: Retryability,
    ) -> NextStep {
        let attempts_left = attempts_made < self.max_attempts;
        match failure {
            Retryability::Permanent => NextStep::GiveUp,
            Retryability::RateLimited { retry_after } => {
                let wait = retry_after.unwrap_or(self.default_retry_after);
                if attempts_left && elapsed.saturating_add(wait) <= self.max_elapsed {
                    NextStep::RetryIn(wait)
                } else {
                    NextStep::RetryAfter(wait)
                }
            }
            Retryability::Transient => {
                if !attempts_left {
                    return NextStep::GiveUp;
                }
                let wait = self.backoff(attempts_made);
                if elapsed.saturating_add(wait) <= self.max_elapsed {
                    NextStep::RetryIn(wait)
                } else {
                    NextStep::GiveUp
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_contract_table() {
        for status in [408, 502, 503, 504] {
            assert_eq!(classify_status(status, None), Retryability::Transient);
        }
        for status in [400, 401, 403, 404, 409, 413, 500, 501] {
            assert_eq!(classify_status(status, None), Retryability::Permanent);
        }
        assert_eq!(
            classify_status(429, Some(Duration::from_secs(42))),
            Retryability::RateLimited {
                retry_after: Some(Duration::from_secs(42))
            }
        );
    }

    #[test]
    fn parses_retry_after_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(" 42 ", now),
            Some(Duration::from_secs(42))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_is_jittered_under_a_doubling_cap() {
        let policy = RetryPolicy::default();
        for retry in 1..=10 {
            let cap = Duration::from_millis(200 * (1 << (retry - 1))).min(policy.max_backoff);
            for _ in 0..200 {
                assert!(policy.backoff(retry) <= cap);
            }
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| policy.backoff(3)).collect();
        assert!(spread.len() > 10, "full jitter spreads the waits");
    }

    #[test]
    fn rate_limit_waits_exactly_retry_after_within_budget_and_hands_back_beyond_it() {
        let policy = RetryPolicy::default();
        let limited = |secs| Retryability::RateLimited {
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            policy.next_step(1, Duration::ZERO, limited(4)),
            NextStep::RetryIn(Duration::from_secs(4))
        );
        assert_eq!(
            policy.next_step(1, Duration::ZERO, limited(600)),
            NextStep::RetryAfter(Duration::from_secs(600))
        );
        assert_eq!(
            policy.next_step(4, Duration::ZERO, limited(1)),
            NextStep::RetryAfter(Duration::from_secs(1)),
            "out of attempts: still never sooner than Retry-After"
        );
        assert_eq!(
            policy.next_step(
                1,
                Duration::ZERO,
                Retryability::RateLimited { retry_after: None }
            ),
            NextStep::RetryIn(Duration::from_secs(3))
        );
    }

    #[test]
    fn transient_failures_stop_at_the_attempt_cap_and_the_deadline() {
        let policy = RetryPolicy::default();
        assert!(matches!(
            policy.next_step(1, Duration::ZERO, Retryability::Transient),
            NextStep::RetryIn(_)
        ));
        assert_eq!(
            policy.next_step(4, Duration::ZERO, Retryability::Transient),
            NextStep::GiveUp
        );
        let tight = RetryPolicy {
            initial_backoff: Duration::from_secs(20),
            max_backoff: Duration::from_secs(20),
            ..RetryPolicy::default()
        };
        // A jittered wait can be anything up to 20 s; with 9.99 s spent only a tiny one fits.
        let late = Duration::from_millis(9_990);
        for _ in 0..50 {
            match tight.next_step(1, late, Retryability::Transient) {
                NextStep::RetryIn(wait) => assert!(late + wait <= tight.max_elapsed),
                NextStep::GiveUp => {}
                NextStep::RetryAfter(_) => panic!("only 429s hand back a retry time"),
            }
        }
        assert_eq!(
            policy.next_step(1, Duration::ZERO, Retryability::Permanent),
            NextStep::GiveUp
        );
    }
}
