//! Commits of other replicas, as they happen: the insert that keeps a registered call's values
//! also sends `pg_notify` on [`CALL_DATA_CHANNEL`] with the conversation id (delivered by
//! PostgreSQL at commit, once per conversation per transaction), and each replica listens on a
//! connection of its own, so a pull waiting on one replica wakes when a webhook lands on another.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::PgStore;

/// Names the notifications of call data commits. Channels are per database, not per schema:
/// a deployment in another schema of the same database wakes our pulls for its conversation
/// ids, which costs them one read of our own store and finds nothing new.
pub(super) const CALL_DATA_CHANNEL: &str = "genesys_bridge_call_data";

impl PgStore {
    /// Hands every conversation id a replica committed call data for to `on_commit`, until
    /// `shutdown`. `listening` is true while subscribed: notifications sent while it is false
    /// are lost, so waiting pulls then look at the store often instead.
    pub(in crate::queue) async fn relay_call_data(
        &self,
        listening: &AtomicBool,
        on_commit: impl Fn(&str),
        shutdown: CancellationToken,
    ) {
        let mut delay = Duration::from_millis(250);
        while !shutdown.is_cancelled() {
            let subscribed = async {
                let mut listener = PgListener::connect_with(&self.listen_pool).await?;
                listener.listen(CALL_DATA_CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = tokio::select! {
                () = shutdown.cancelled() => break,
                subscribed = subscribed => match subscribed {
                    Ok(listener) => listener,
                    Err(err) => {
                        tracing::debug!(error = %err, retry_in_ms = delay.as_millis() as u64, "cannot listen for other replicas' commits yet");
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            () = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(5));
                        continue;
                    }
                },
            };
            listening.store(true, Ordering::Release);
            delay = Duration::from_millis(250);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    received = listener.try_recv() => match received {
                        Ok(Some(notification)) => on_commit(notification.payload()),
                        // The connection was lost: whatever was sent meanwhile is gone.
                        Ok(None) | Err(_) => break,
                    },
                }
            }
            listening.store(false, Ordering::Release);
            if !shutdown.is_cancelled() {
                tracing::warn!(
                    "lost the subscription to other replicas' commits; pulls poll the store until it is back"
                );
            }
        }
        listening.store(false, Ordering::Release);
    }
}
