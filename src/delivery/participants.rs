//! Conversation → participant, remembered for the conversation's life: a second webhook for the
//! same call costs one PATCH, not a GET and a PATCH. Forgotten when Genesys says it changed.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::genesys::{ConversationId, ParticipantId};

#[derive(Debug)]
pub(super) struct ParticipantCache {
    entries: Mutex<HashMap<ConversationId, ParticipantId>>,
    capacity: usize,
}

impl ParticipantCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    pub(super) fn get(&self, conversation_id: &ConversationId) -> Option<ParticipantId> {
        self.entries.lock().ok()?.get(conversation_id).cloned()
    }

    pub(super) fn insert(&self, conversation_id: &ConversationId, participant: ParticipantId) {
        if let Ok(mut entries) = self.entries.lock() {
            // Calls end; an arbitrary old entry is as good as any to let go when full.
            if entries.len() >= self.capacity
                && let Some(victim) = entries.keys().next().cloned()
            {
                entries.remove(&victim);
            }
            entries.insert(conversation_id.clone(), participant);
        }
    }

    pub(super) fn forget(&self, conversation_id: &ConversationId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(conversation_id);
        }
    }
}
