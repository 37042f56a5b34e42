//! The conversation store: the state the Genesys conversation endpoints read and write.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::errors::SimError;
use super::model::{Conversation, NewConversation, Participant, now_timestamp};

/// What `PATCH .../secureattributes` stored for one conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecureAttributes {
    pub attributes: BTreeMap<String, String>,
    /// The `version` of the last write; `None` until the first write.
    pub version: Option<i64>,
}

#[derive(Debug)]
struct Entry {
    /// Creation order, so listings are stable without an ordered map keyed by id.
    seq: u64,
    conversation: Conversation,
    secure: SecureAttributes,
}

#[derive(Debug, Default)]
pub(crate) struct ConversationStore {
    entries: HashMap<String, Entry>,
    next_seq: u64,
}

impl ConversationStore {
    /// Creates a conversation; an existing one with the same id is replaced, so a test fixture
    /// can be set up again without a reset.
    pub(crate) fn create(&mut self, spec: NewConversation) -> Conversation {
        let conversation = Conversation::from_spec(spec);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            conversation.id.clone(),
            Entry {
                seq,
                conversation: conversation.clone(),
                secure: SecureAttributes::default(),
            },
        );
        conversation
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Conversation> {
        self.entries.get(id).map(|entry| &entry.conversation)
    }

    pub(crate) fn list(&self) -> Vec<Conversation> {
        let mut entries: Vec<&Entry> = self.entries.values().collect();
        entries.sort_by_key(|entry| entry.seq);
        entries
            .into_iter()
            .map(|entry| entry.conversation.clone())
            .collect()
    }

    /// Ends the conversation and every participant still present; ending twice keeps the first
    /// `endTime`, like a call that has already been hung up.
    pub(crate) fn end(&mut self, id: &str) -> Result<Conversation, SimError> {
        let conversation = &mut self.entry_mut(id)?.conversation;
        let now = now_timestamp();
        if conversation.end_time.is_none() {
            conversation.end_time = Some(now.clone());
        }
        for participant in &mut conversation.participants {
            participant.end(&now);
        }
        Ok(conversation.clone())
    }

    pub(crate) fn end_participant(
        &mut self,
        conversation_id: &str,
        participant_id: &str,
    ) -> Result<Participant, SimError> {
        let participant = self.participant_mut(conversation_id, participant_id)?;
        participant.end(&now_timestamp());
        Ok(participant.clone())
    }

    /// Merges into the participant's attributes: later values win, absent keys are kept.
    /// Ended participants accept writes too, as the real behaviour is unconfirmed.
    pub(crate) fn merge_attributes(
        &mut self,
        conversation_id: &str,
        participant_id: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<(), SimError> {
        let participant = self.participant_mut(conversation_id, participant_id)?;
        participant.attributes.extend(attributes);
        Ok(())
    }

    pub(crate) fn participant_attributes(
        &self,
        conversation_id: &str,
        participant_id: &str,
    ) -> Option<BTreeMap<String, String>> {
        self.get(conversation_id)?
            .participants
            .iter()
            .find(|p| p.id == participant_id)
            .map(|p| p.attributes.clone())
    }

    /// Merges secure attributes the same way as participant attributes and keeps the last
    /// `version`; the version is not enforced, since Genesys' use of it is unconfirmed.
    pub(crate) fn merge_secure(
        &mut self,
        conversation_id: &str,
        attributes: BTreeMap<String, String>,
        version: i64,
    ) -> Result<(), SimError> {
        let secure = &mut self.entry_mut(conversation_id)?.secure;
        secure.attributes.extend(attributes);
        secure.version = Some(version);
        Ok(())
    }

    pub(crate) fn secure(&self, conversation_id: &str) -> Option<SecureAttributes> {
        self.entries
            .get(conversation_id)
            .map(|entry| entry.secure.clone())
    }

    fn entry_mut(&mut self, id: &str) -> Result<&mut Entry, SimError> {
        self.entries
            .get_mut(id)
            .ok_or_else(|| SimError::ConversationNotFound(id.to_owned()))
    }

    fn participant_mut(
        &mut self,
        conversation_id: &str,
        participant_id: &str,
    ) -> Result<&mut Participant, SimError> {
        self.entry_mut(conversation_id)?
            .conversation
            .participant_mut(participant_id)
            .ok_or_else(|| SimError::ParticipantNotFound {
                conversation_id: conversation_id.to_owned(),
                participant_id: participant_id.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn merge_keeps_old_keys_and_later_values_win() {
        let mut store = ConversationStore::default();
        let conversation = store.create(NewConversation::with_id("c"));
        let pid = conversation.participants[1].id.clone();
        store
            .merge_attributes("c", &pid, attrs(&[("a", "1"), ("b", "1")]))
            .unwrap();
        store
            .merge_attributes("c", &pid, attrs(&[("b", "2"), ("B", "3")]))
            .unwrap();
        assert_eq!(
            store.participant_attributes("c", &pid).unwrap(),
            attrs(&[("a", "1"), ("b", "2"), ("B", "3")])
        );
    }

    #[test]
    fn ending_twice_keeps_the_first_end_time() {
        let mut store = ConversationStore::default();
        store.create(NewConversation::with_id("c"));
        let first = store.end("c").unwrap();
        let second = store.end("c").unwrap();
        assert_eq!(first.end_time, second.end_time);
        assert!(first.participants.iter().all(|p| p.end_time.is_some()));
    }

    #[test]
    fn unknown_ids_are_typed_errors() {
        let mut store = ConversationStore::default();
        store.create(NewConversation::with_id("c"));
        assert!(matches!(
            store.end("nope"),
            Err(SimError::ConversationNotFound(_))
        ));
        assert!(matches!(
            store.end_participant("c", "nope"),
            Err(SimError::ParticipantNotFound { .. })
        ));
    }

    #[test]
    fn listing_follows_creation_order() {
        let mut store = ConversationStore::default();
        for id in ["z", "a", "m"] {
            store.create(NewConversation::with_id(id));
        }
        let ids: Vec<_> = store.list().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["z", "a", "m"]);
    }
}
