//! `Prefer: wait=N`: requests waiting for a delivery's final outcome.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::job::{DeliveryId, Status};

#[derive(Debug, Default)]
pub(super) struct Waiters {
    waiting: Mutex<HashMap<DeliveryId, Vec<oneshot::Sender<Status>>>>,
}

impl Waiters {
    /// Register before checking the current status, so an outcome in between is not missed.
    pub(super) fn register(&self, id: DeliveryId) -> oneshot::Receiver<Status> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.entry(id).or_default().push(tx);
        }
        rx
    }

    pub(super) fn notify(&self, ids: &[DeliveryId], status: Status) {
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        for id in ids {
            for tx in waiting.remove(id).unwrap_or_default() {
                let _ = tx.send(status);
            }
        }
    }

    /// Drops the senders of requests that stopped waiting (timed out).
    pub(super) fn forget(&self, id: DeliveryId) {
        if let Ok(mut waiting) = self.waiting.lock()
            && let Some(list) = waiting.get_mut(&id)
        {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiting.remove(&id);
            }
        }
    }
}
