//! The per-token rolling-window rate limit Genesys applies to client-credentials tokens.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The limit in force, as `PUT /sim/rate-limit` takes and answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitSetting {
    /// Requests per window per token; `None` lifts the limit.
    pub limit: Option<u32>,
    pub window_secs: u64,
}

/// Whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Allowed,
    /// Rejected; the caller may retry after this many whole seconds (at least 1).
    Limited {
        retry_after_secs: u64,
    },
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: Option<u32>,
    window: Duration,
    /// Arrival instants of admitted requests per token, oldest first.
    arrivals: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: Option<u32>, window: Duration) -> Self {
        Self {
            limit,
            window,
            arrivals: HashMap::new(),
        }
    }

    pub(crate) fn set(&mut self, limit: Option<u32>, window: Option<Duration>) {
        self.limit = limit;
        if let Some(window) = window {
            self.window = window;
        }
    }

    pub(crate) fn setting(&self) -> RateLimitSetting {
        RateLimitSetting {
            limit: self.limit,
            window_secs: self.window.as_secs(),
        }
    }

    /// Admits a request for `key` arriving at `now`. Rejected requests are not remembered, so a
    /// client that keeps retrying too early does not push its own wait further out.
    pub(crate) fn admit(&mut self, key: &str, now: Instant) -> Admission {
        let Some(limit) = self.limit else {
            return Admission::Allowed;
        };
        let window = self.window;
        let arrivals = self.arrivals.entry(key.to_owned()).or_default();
        while arrivals
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(*oldest) >= window)
        {
            arrivals.pop_front();
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if arrivals.len() < limit {
            arrivals.push_back(now);
            return Admission::Allowed;
        }
        // After a limit was lowered more than `limit` arrivals may be in the window: the caller
        // may go once all but `limit - 1` of them have left it.
        let wait = match arrivals
            .len()
            .checked_sub(limit)
            .and_then(|i| arrivals.get(i))
        {
            Some(blocking) if limit > 0 => {
                window.saturating_sub(now.saturating_duration_since(*blocking))
            }
            _ => window,
        };
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Admission::Limited {
            retry_after_secs: secs.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn fourth_request_in_window_waits_for_the_oldest_to_leave() {
        let mut limiter = RateLimiter::new(Some(3), MINUTE);
        for _ in 0..3 {
            assert_eq!(limiter.admit("t", Instant::now()), Admission::Allowed);
            tokio::time::advance(Duration::from_secs(10)).await;
        }
        // Oldest arrived 30 s ago: it leaves the window in 30 s.
        assert_eq!(
            limiter.admit("t", Instant::now()),
            Admission::Limited {
                retry_after_secs: 30
            }
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(limiter.admit("t", Instant::now()), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn partial_seconds_round_up_and_tokens_are_independent() {
        let mut limiter = RateLimiter::new(Some(1), MINUTE);
        assert_eq!(limiter.admit("a", Instant::now()), Admission::Allowed);
        tokio::time::advance(Duration::from_millis(59_500)).await;
        assert_eq!(
            limiter.admit("a", Instant::now()),
            Admission::Limited {
                retry_after_secs: 1
            }
        );
        assert_eq!(limiter.admit("b", Instant::now()), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn lifted_and_zero_limits() {
        let mut limiter = RateLimiter::new(None, MINUTE);
        for _ in 0..1_000 {
            assert_eq!(limiter.admit("t", Instant::now()), Admission::Allowed);
        }
        limiter.set(Some(0), Some(Duration::from_secs(5)));
        assert_eq!(
            limiter.admit("t", Instant::now()),
            Admission::Limited {
                retry_after_secs: 5
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lowering_the_limit_waits_for_enough_arrivals_to_leave() {
        let mut limiter = RateLimiter::new(Some(10), MINUTE);
        for _ in 0..4 {
            limiter.admit("t", Instant::now());
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        limiter.set(Some(2), None);
        // Arrivals at 0,1,2,3 s, now 4 s: three must leave, the third (2 s) at 62 s.
        assert_eq!(
            limiter.admit("t", Instant::now()),
            Admission::Limited {
                retry_after_secs: 58
            }
        );
    }
}
