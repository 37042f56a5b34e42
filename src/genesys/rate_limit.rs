//! The client-side rate budget: at most `limit` requests in any `window`, so steady traffic never
//! draws a 429 from Genesys (300 requests per minute per token by default).
//!
//! Each request holds one of `limit` slots; a slot comes back one full window after its request
//! *finished*. Measured from the finish (not the start), the budget holds at the server's end too,
//! whatever the network delay, for any server that counts arrivals in a rolling window. Waiters are
//! served first come, first served (tokio's semaphore is fair): callers wait their turn, they do
//! not fail.
//!
//! Requests are also *paced*: after a burst of `burst`, one per `window / limit` (GCRA). A budget
//! spent evenly keeps work waiting in the durable queue, where a participant's updates merge
//! into one PATCH, instead of spending the whole minute's budget in the first second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// `None` lifts the limit (a simulator without one, or an org with a raised budget).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateBudgetSettings {
    pub limit: Option<u32>,
    pub window: Duration,
    /// Requests that may start at once before pacing applies (at most `limit`).
    pub burst: u32,
}

impl Default for RateBudgetSettings {
    fn default() -> Self {
        Self {
            limit: Some(300),
            window: Duration::from_secs(60),
            burst: 10,
        }
    }
}

/// GCRA state: the theoretical arrival time of the next request.
#[derive(Debug)]
struct Pace {
    tat: tokio::sync::Mutex<Instant>,
    interval: Duration,
    tolerance: Duration,
}

#[derive(Clone, Debug)]
pub struct RateBudget {
    slots: Option<Arc<Semaphore>>,
    pace: Option<Arc<Pace>>,
    window: Duration,
    waited_nanos: Arc<AtomicU64>,
    /// Genesys said "not before" (a 429): no request starts until then, whatever the budget.
    hold: Arc<std::sync::Mutex<Option<Instant>>>,
}

/// Held for the duration of one request; dropping it starts the slot's window.
#[derive(Debug)]
pub struct BudgetPermit {
    slot: Option<OwnedSemaphorePermit>,
    window: Duration,
    waited: Duration,
}

impl BudgetPermit {
    /// How long the caller waited for it: the time in which what it is for may have changed.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl RateBudget {
    pub fn new(settings: RateBudgetSettings) -> Self {
        Self {
            slots: settings
                .limit
                .map(|n| Arc::new(Semaphore::new(n.max(1) as usize))),
            pace: settings.limit.map(|n| {
                let n = n.max(1);
                let interval = settings.window / n;
                Arc::new(Pace {
                    tat: tokio::sync::Mutex::new(Instant::now()),
                    interval,
                    tolerance: interval * (settings.burst.clamp(1, n) - 1),
                })
            }),
            window: settings.window,
            waited_nanos: Arc::new(AtomicU64::new(0)),
            hold: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// Holds every request until `until` (a later hold wins; an earlier one changes nothing).
    pub fn hold_until(&self, until: Instant) {
        if let Ok(mut hold) = self.hold.lock() {
            *hold = Some(hold.map_or(until, |h| h.max(until)));
        }
    }

    fn held_until(&self) -> Option<Instant> {
        self.hold
            .lock()
            .ok()
            .and_then(|h| *h)
            .filter(|h| *h > Instant::now())
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) -> BudgetPermit {
        let asked = Instant::now();
        // A hold can be extended while we sleep (another 429): look again after waking.
        while let Some(until) = self.held_until() {
            tokio::time::sleep_until(until).await;
        }
        let Some(slots) = &self.slots else {
            return BudgetPermit {
                slot: None,
                window: self.window,
                waited: asked.elapsed(),
            };
        };
        let started = Instant::now();
        // The semaphore is never closed, so acquiring only fails if it were; treat that as "no limit".
        let slot = Arc::clone(slots).acquire_owned().await.ok();
        if let Some(pace) = &self.pace {
            // Held while sleeping, so paced callers keep their order.
            let mut tat = pace.tat.lock().await;
            let now = Instant::now();
            let allowed_at = tat
                .checked_sub(pace.tolerance)
                .map_or(now, |at| at.max(now));
            tokio::time::sleep_until(allowed_at).await;
            *tat = (*tat).max(allowed_at) + pace.interval;
        }
        ::metrics::histogram!(crate::telemetry::metrics::RATE_BUDGET_WAIT)
            .record(started.elapsed().as_secs_f64());
        let waited = started.elapsed();
        self.waited_nanos.fetch_add(
            u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        BudgetPermit {
            slot,
            window: self.window,
            waited: asked.elapsed(),
        }
    }

    /// Total time callers have spent waiting for the budget (for metrics).
    pub fn total_wait(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed))
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let window = self.window;
        // Outside a runtime (process teardown) the slot simply comes back at once.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(window).await;
                drop(slot);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_limit_requests_in_any_window() {
        let budget = RateBudget::new(RateBudgetSettings {
            limit: Some(3),
            window: Duration::from_secs(60),
            burst: 3,
        });
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..7 {
            let permit = budget.acquire().await;
            starts.push(start.elapsed().as_secs());
            drop(permit);
        }
        assert_eq!(starts, vec![0, 0, 0, 60, 60, 60, 120]);
        // The 4th caller waited from 0 s to 60 s, the 7th from 60 s to 120 s.
        assert_eq!(budget.total_wait(), Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_returns_one_window_after_its_request_finished() {
        let budget = RateBudget::new(RateBudgetSettings {
            limit: Some(1),
            window: Duration::from_secs(10),
            burst: 1,
        });
        let start = Instant::now();
        let permit = budget.acquire().await;
        tokio::time::sleep(Duration::from_secs(5)).await; // a slow request
        drop(permit);
        let _next = budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(15));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_burst_requests_are_paced_evenly() {
        let budget = RateBudget::new(RateBudgetSettings {
            limit: Some(300),
            window: Duration::from_secs(60),
            burst: 10,
        });
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..15 {
            drop(budget.acquire().await);
            starts.push(start.elapsed().as_millis());
        }
        assert_eq!(&starts[..10], &[0; 10], "the burst goes at once");
        assert_eq!(
            &starts[10..],
            &[200, 400, 600, 800, 1000],
            "then one per 60 s / 300"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lifted_limit_never_waits() {
        let budget = RateBudget::new(RateBudgetSettings {
            limit: None,
            window: Duration::from_secs(60),
            burst: 10,
        });
        let start = Instant::now();
        for _ in 0..10_000 {
            drop(budget.acquire().await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
