//! Which participant gets the data: the one whose data the Architect flow reads with *Get
//! Participant Data* — on an inbound call the caller (`purpose == "customer"`, still present).

use super::error::GenesysError;
use super::ids::{ConversationId, ParticipantId};
use super::models::{Conversation, Participant};

/// The participant a write goes to, and the rule that chose it (shown by dry runs and logs).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    pub conversation_id: ConversationId,
    pub participant_id: ParticipantId,
    pub purpose: String,
}

/// Tries `purposes` in order; within a purpose, the most recently joined present participant
/// wins (Genesys lists participants in the order they joined, so after a transfer the new leg is
/// last). With `include_ended`, an ended conversation is no error and participants who left
/// count too (for writing data after the call, where that is wanted).
pub fn choose_participant<'c>(
    conversation: &'c Conversation,
    purposes: &[String],
    include_ended: bool,
) -> Result<&'c Participant, GenesysError> {
    if conversation.is_ended() && !include_ended {
        return Err(GenesysError::ConversationEnded {
            conversation_id: conversation.id.clone(),
        });
    }
    purposes
        .iter()
        .find_map(|purpose| {
            conversation.participants.iter().rev().find(|p| {
                (include_ended || p.is_present()) && p.purpose.as_deref() == Some(purpose.as_str())
            })
        })
        .ok_or_else(|| GenesysError::NoParticipant {
            conversation_id: conversation.id.clone(),
            purposes: purposes.to_vec(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(ended: bool, participants: &[(&str, &str, bool)]) -> Conversation {
        let participants = participants
            .iter()
            .map(|(id, purpose, present)| {
                serde_json::json!({"id": id, "purpose": purpose,
                    "endTime": (!present).then_some("2026-11-21T05:00:00.000Z")})
            })
            .collect::<Vec<_>>();
        serde_json::from_value(serde_json::json!({"id": "c1",
            "endTime": ended.then_some("2026-11-21T05:00:00.000Z"), "participants": participants}))
        .unwrap()
    }

    fn purposes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn picks_the_present_customer() {
        let c = conversation(
            false,
            &[
                ("ivr", "ivr", true),
                ("old", "customer", false),
                ("cust", "customer", true),
            ],
        );
        assert_eq!(
            choose_participant(&c, &purposes(&["customer"]), false)
                .unwrap()
                .id,
            "cust"
        );
    }

    #[test]
    fn tries_purposes_in_order() {
        let c = conversation(
            false,
            &[("ext", "external", true), ("agent", "agent", true)],
        );
        let chosen = choose_participant(&c, &purposes(&["customer", "external"]), false).unwrap();
        assert_eq!(chosen.id, "ext");
    }

    #[test]
    fn the_latest_leg_wins_after_a_transfer() {
        let c = conversation(
            false,
            &[("first", "customer", true), ("second", "customer", true)],
        );
        assert_eq!(
            choose_participant(&c, &purposes(&["customer"]), false)
                .unwrap()
                .id,
            "second"
        );
    }

    #[test]
    fn reports_an_ended_conversation_and_a_missing_participant() {
        let ended = conversation(true, &[("cust", "customer", false)]);
        assert!(matches!(
            choose_participant(&ended, &purposes(&["customer"]), false),
            Err(GenesysError::ConversationEnded { .. })
        ));
        let agents_only = conversation(
            false,
            &[("agent", "agent", true), ("gone", "customer", false)],
        );
        let err = choose_participant(&agents_only, &purposes(&["customer", "external"]), false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "conversation c1 has no present participant with purpose customer or external"
        );
        let chosen = choose_participant(&ended, &purposes(&["customer"]), true).unwrap();
        assert_eq!(chosen.id, "cust", "after the call, when asked to");
    }
}
