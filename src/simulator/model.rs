//! Conversation shapes as Genesys serialises them, and the spec the control API accepts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// Genesys timestamps carry milliseconds and a literal `Z`; RFC 3339 formatting in `time` would
/// print nanoseconds, which a strict client parser might reject.
const GENESYS_TIMESTAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The current wall-clock time in the Genesys timestamp format.
pub(crate) fn now_timestamp() -> String {
    // Formatting a UTC time with this description cannot fail for any year `time` supports;
    // an empty string is still better than a panic in a fake.
    OffsetDateTime::now_utc()
        .format(GENESYS_TIMESTAMP)
        .unwrap_or_default()
}

/// What to create: the body of `POST /sim/conversations` and the argument of
/// [`Simulator::create_conversation`](super::Simulator::create_conversation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// The conversation id; a random uuid v4 when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// The participants; an active `ivr` and an active `customer` when absent.
    #[serde(default)]
    pub participants: Option<Vec<NewParticipant>>,
}

impl NewConversation {
    /// The demo call: an IVR leg `demo-ivr` and the caller `demo-customer`, with fixed ids so the
    /// README's commands can name them, calling from `ani` (`+E164`) when given.
    pub fn demo(id: impl Into<String>, ani: Option<&str>) -> Self {
        let participant = |id: &str, purpose: &str| NewParticipant {
            id: Some(id.to_owned()),
            ani: ani.map(|a| format!("tel:{a}")),
            ..NewParticipant::active(purpose)
        };
        Self {
            id: Some(id.into()),
            participants: Some(vec![
                participant("demo-ivr", "ivr"),
                participant("demo-customer", "customer"),
            ]),
        }
    }

    /// A conversation with a fixed id and the default participants.
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            participants: None,
        }
    }
}

/// One participant of a [`NewConversation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewParticipant {
    /// The participant id; a random uuid v4 when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// `customer`, `agent`, `acd`, `ivr`, `external`, ... (free text, as in Genesys).
    pub purpose: String,
    /// Participant data already present, e.g. what the flow set before the bridge writes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Whether the participant has already left (its `endTime` is set).
    #[serde(default)]
    pub ended: bool,
    /// The number the participant calls from, as Genesys shows it (`tel:+15551234567`).
    #[serde(default)]
    pub ani: Option<String>,
    /// The number called.
    #[serde(default)]
    pub dnis: Option<String>,
}

impl NewParticipant {
    /// An active participant with the given purpose and no attributes.
    pub fn active(purpose: impl Into<String>) -> Self {
        Self {
            id: None,
            purpose: purpose.into(),
            attributes: BTreeMap::new(),
            ended: false,
            ani: None,
            dnis: None,
        }
    }
}

/// An inbound voice call as it reaches the IVR: the body of `POST /sim/calls`. It becomes a
/// conversation with an `ivr` and a `customer` participant, the caller's number on both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InboundCall {
    /// The conversation id; a random uuid v4 when absent.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The customer participant's id; a random uuid v4 when absent.
    #[serde(default)]
    pub participant_id: Option<String>,
    /// The caller's number; written `tel:+E164` as Genesys does when given as `+E164`.
    pub ani: String,
    /// The number called.
    #[serde(default)]
    pub dnis: Option<String>,
}

impl InboundCall {
    pub(crate) fn into_conversation(self) -> NewConversation {
        let ani = if self.ani.starts_with('+') {
            format!("tel:{}", self.ani)
        } else {
            self.ani
        };
        let dnis = self.dnis.map(|d| {
            if d.starts_with('+') {
                format!("tel:{d}")
            } else {
                d
            }
        });
        let leg = |id: Option<String>, purpose: &str| NewParticipant {
            id,
            ani: Some(ani.clone()),
            dnis: dnis.clone(),
            ..NewParticipant::active(purpose)
        };
        NewConversation {
            id: self.conversation_id,
            participants: Some(vec![leg(None, "ivr"), leg(self.participant_id, "customer")]),
        }
    }
}

/// `GET /api/v2/conversations/{conversationId}` as Genesys answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub start_time: String,
    /// Genesys omits nulls, so a live conversation has no `endTime` key at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub participants: Vec<Participant>,
    pub self_uri: String,
}

/// One participant inside a [`Conversation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub id: String,
    pub purpose: String,
    pub attributes: BTreeMap<String, String>,
    pub start_time: String,
    pub connected_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ani: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnis: Option<String>,
    pub calls: Vec<Call>,
}

/// A voice leg of a participant; the simulator models every participant as one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub id: String,
    pub state: CallState,
}

/// The subset of Genesys call states the simulator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    Connected,
    Disconnected,
}

impl Participant {
    /// Marks the participant as gone; a participant that already left keeps its first `endTime`.
    pub(crate) fn end(&mut self, at: &str) {
        if self.end_time.is_none() {
            self.end_time = Some(at.to_owned());
        }
        for call in &mut self.calls {
            call.state = CallState::Disconnected;
        }
    }

    fn from_spec(spec: NewParticipant, now: &str) -> Self {
        let mut participant = Self {
            id: spec.id.unwrap_or_else(new_id),
            purpose: spec.purpose,
            attributes: spec.attributes,
            start_time: now.to_owned(),
            connected_time: now.to_owned(),
            end_time: None,
            ani: spec.ani,
            dnis: spec.dnis,
            calls: vec![Call {
                id: new_id(),
                state: CallState::Connected,
            }],
        };
        if spec.ended {
            participant.end(now);
        }
        participant
    }
}

impl Conversation {
    /// Builds a live conversation from a spec, filling in ids, timestamps and default participants.
    pub(crate) fn from_spec(spec: NewConversation) -> Self {
        let now = now_timestamp();
        let id = spec.id.unwrap_or_else(new_id);
        let participants = spec.participants.unwrap_or_else(|| {
            vec![
                NewParticipant::active("ivr"),
                NewParticipant::active("customer"),
            ]
        });
        Self {
            self_uri: format!("/api/v2/conversations/{id}"),
            id,
            start_time: now.clone(),
            end_time: None,
            participants: participants
                .into_iter()
                .map(|p| Participant::from_spec(p, &now))
                .collect(),
        }
    }

    pub(crate) fn participant_mut(&mut self, participant_id: &str) -> Option<&mut Participant> {
        self.participants
            .iter_mut()
            .find(|p| p.id == participant_id)
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let ts = now_timestamp();
        // 2026-11-21T05:12:47.123Z
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z'));
        assert_eq!(&ts[19..20], ".");
    }

    #[test]
    fn default_participants_are_an_active_ivr_and_customer() {
        let conversation = Conversation::from_spec(NewConversation::with_id("c-1"));
        let purposes: Vec<_> = conversation
            .participants
            .iter()
            .map(|p| p.purpose.as_str())
            .collect();
        assert_eq!(purposes, ["ivr", "customer"]);
        assert!(
            conversation
                .participants
                .iter()
                .all(|p| p.end_time.is_none())
        );
        assert_eq!(conversation.self_uri, "/api/v2/conversations/c-1");
    }

    #[test]
    fn live_conversation_serialises_without_end_time() {
        let json =
            serde_json::to_value(Conversation::from_spec(NewConversation::default())).unwrap();
        assert!(json.get("endTime").is_none());
        assert!(json["participants"][0].get("endTime").is_none());
        assert_eq!(json["participants"][0]["calls"][0]["state"], "connected");
        assert!(json["participants"][0]["connectedTime"].is_string());
    }

    #[test]
    fn participant_created_ended_is_disconnected() {
        let mut gone = NewParticipant::active("agent");
        gone.ended = true;
        let conversation = Conversation::from_spec(NewConversation {
            id: None,
            participants: Some(vec![gone]),
        });
        let participant = &conversation.participants[0];
        assert!(participant.end_time.is_some());
        assert_eq!(participant.calls[0].state, CallState::Disconnected);
    }

    #[test]
    fn spec_rejects_unknown_fields() {
        let err = serde_json::from_str::<NewConversation>(r#"{"participant": []}"#);
        assert!(err.is_err());
    }
}
