//! Replay protection: a signature (or signed event id) seen again while its timestamp would still
//! be accepted is a replay.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Remembers replay keys per source. In memory: a restart forgets, which re-opens at most one
/// tolerance window; the durable idempotency store (issue 4) closes that gap.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<String, Instant>>,
}

/// Entries are swept when the map grows past this many, so memory follows the traffic of one
/// window rather than of the process's life.
const SWEEP_AT: usize = 100_000;

impl ReplayGuard {
    /// Records `key` for `window`; `false` when it was already there (a replay).
    pub fn remember(&self, source: &str, key: &str, window: Duration) -> bool {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, expires| *expires > now);
        }
        let entry = seen.entry(format!("{source}\u{0}{key}")).or_insert(now);
        if *entry > now {
            return false;
        }
        *entry = now + window;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_key_seen_inside_its_window_is_a_replay() {
        let guard = ReplayGuard::default();
        let window = Duration::from_secs(600);
        assert!(guard.remember("demo", "sig-1", window));
        assert!(!guard.remember("demo", "sig-1", window));
        assert!(
            guard.remember("other", "sig-1", window),
            "keys are per source"
        );
        tokio::time::sleep(window).await;
        assert!(
            guard.remember("demo", "sig-1", window),
            "forgotten after the window"
        );
    }
}
