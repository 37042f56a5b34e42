//! Replay protection: a signature (or signed event id) seen again while its timestamp would still
//! be accepted, for a *different* event, is a replay. The same signature for the same event is a
//! sender's retry (or a harmless copy): the durable store answers it as a duplicate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Remembers replay keys per source. In memory: a restart forgets, which re-opens at most one
/// tolerance window; the durable idempotency store (issue 4) closes that gap.
#[derive(Debug, Default)]
pub(super) struct ReplayGuard {
    /// replay key → (until when, the idempotency key of the event it was accepted for)
    seen: Mutex<HashMap<String, (Instant, String)>>,
}

/// What a replay key says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    /// Not seen inside the window (now remembered).
    First,
    /// Seen, for the same event: a copy or a retry.
    SameEvent,
    /// Seen, for another event: someone re-used a captured signature.
    OtherEvent,
}

/// Entries are swept when the map grows past this many, so memory follows the traffic of one
/// window rather than of the process's life.
const SWEEP_AT: usize = 100_000;

impl ReplayGuard {
    /// Checks `key` and remembers it for `window` against the event (`idempotency_key`).
    pub(super) fn check(
        &self,
        source: &str,
        key: &str,
        idempotency_key: &str,
        window: Duration,
    ) -> Seen {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return Seen::First;
        };
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, (expires, _)| *expires > now);
        }
        let entry = seen
            .entry(format!("{source}\u{0}{key}"))
            .or_insert((now, String::new()));
        if entry.0 > now {
            return if entry.1 == idempotency_key {
                Seen::SameEvent
            } else {
                Seen::OtherEvent
            };
        }
        *entry = (now + window, idempotency_key.to_owned());
        Seen::First
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_key_seen_inside_its_window_is_a_replay() {
        let guard = ReplayGuard::default();
        let window = Duration::from_secs(600);
        assert_eq!(guard.check("demo", "sig-1", "evt-1", window), Seen::First);
        assert_eq!(
            guard.check("demo", "sig-1", "evt-1", window),
            Seen::SameEvent
        );
        assert_eq!(
            guard.check("demo", "sig-1", "evt-2", window),
            Seen::OtherEvent
        );
        assert_eq!(
            guard.check("other", "sig-1", "evt-9", window),
            Seen::First,
            "keys are per source"
        );
        tokio::time::sleep(window).await;
        assert_eq!(
            guard.check("demo", "sig-1", "evt-3", window),
            Seen::First,
            "forgotten after the window"
        );
    }
}
