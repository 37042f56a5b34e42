//! A 429 from Genesys speaks for the whole org, so on a shared store every replica honours it:
//! this replica's 429s are recorded in the store, and the "not before" other replicas recorded
//! holds this replica's client too. (Claims also stop while it is ahead: see the store.)

use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::genesys::GenesysClient;
use crate::queue::Consumer;

/// How often a replica looks for a 429 another replica received. In-flight calls are the only
/// ones this matters for: claims check the store themselves.
const POLL: Duration = Duration::from_secs(1);

pub(super) async fn share(store: Consumer, genesys: GenesysClient, shutdown: CancellationToken) {
    let mut events = genesys.throttle_events();
    let mut held: Option<SystemTime> = None;
    loop {
        tokio::select! {
            changed = events.changed() => {
                if changed.is_err() {
                    return;
                }
                let until = *events.borrow_and_update();
                if let Some(until) = until
                    && let Err(err) = store.record_throttle(until).await
                {
                    tracing::warn!(error = %err, "cannot share Genesys' rate limit with the other replicas");
                }
            }
            () = tokio::time::sleep(POLL) => match store.throttled_until().await {
                Ok(Some(until)) if held.is_none_or(|h| until > h) => {
                    tracing::warn!(
                        wait_ms = until.duration_since(SystemTime::now()).map_or(0, |w| w.as_millis() as u64),
                        "Genesys rate limit reached by a replica: holding calls"
                    );
                    genesys.hold_until(until);
                    held = Some(until);
                }
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "cannot read the shared rate limit"),
            },
            () = shutdown.cancelled() => return,
        }
    }
}
