//! Requests waiting on the store: `Prefer: wait=N` for a delivery's final outcome, and the IVR's
//! pulls for a webhook for their call to be committed.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::job::{DeliveryId, Status};
use crate::genesys::ConversationId;

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

/// Pulls waiting for a webhook for their call, in this process.
#[derive(Debug, Default)]
pub(super) struct CallWaiters {
    waiting: Mutex<HashMap<ConversationId, Vec<oneshot::Sender<()>>>>,
}

impl CallWaiters {
    /// Register before reading what is stored, so a commit in between is not missed.
    pub(super) fn register(&self, conversation: &ConversationId) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.entry(conversation.clone()).or_default().push(tx);
        }
        rx
    }

    /// A job for `conversation` was committed.
    pub(super) fn notify(&self, conversation: &ConversationId) {
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        if waiting.is_empty() {
            return;
        }
        for tx in waiting.remove(conversation).unwrap_or_default() {
            let _ = tx.send(());
        }
    }

    /// Drops the senders of pulls that stopped waiting.
    pub(super) fn forget(&self, conversation: &ConversationId) {
        if let Ok(mut waiting) = self.waiting.lock()
            && let Some(list) = waiting.get_mut(conversation)
        {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiting.remove(conversation);
            }
        }
    }
}
