//! Extraction: where in a source's payload the call, the participant and the sender's event id
//! are (per source, from config). The call is named by its conversation id, or — for a CRM that
//! knows only the caller — by the caller's number or a CRM key the call registered with.

use axum::http::{HeaderMap, HeaderName};
use serde_json::Value;

use super::mapping::FieldError;
use super::pointer::Pointer;
use super::signature::Verified;
use crate::genesys::address::MAX_KEY_VALUE_CHARS;
use crate::genesys::{
    CallAddress, ConversationId, CountryCode, ParticipantId, PhoneNumber, Several,
};

/// What a source's payload names the call by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallBy {
    /// The Genesys conversation id (the default).
    ConversationId,
    /// The caller's number, normalised to E.164 (national numbers take `default_country`).
    Ani {
        default_country: Option<CountryCode>,
    },
    /// A CRM key the call registered with (`name` as the flow sent it).
    Key { name: String },
}

/// The call a webhook is about, as its payload names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallRef {
    Conversation(ConversationId),
    Address(CallAddress),
}

/// Where the sender's event id comes from (used to de-duplicate retries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventIdSource {
    Header(HeaderName),
    Pointer(String),
}

/// Where the ids are in a source's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extraction {
    /// JSON pointer to what names the call (`call_by` says what it is).
    conversation_id: String,
    call_by: CallBy,
    several: Several,
    participant_id: Option<String>,
    event_id: Option<EventIdSource>,
}

/// What the payload says the update is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventIds {
    pub call: CallRef,
    pub participant_id: Option<ParticipantId>,
    pub event_id: Option<String>,
}

/// Event ids longer than this are refused: they are stored and compared on every request.
const MAX_EVENT_ID_CHARS: usize = 256;

impl Extraction {
    /// `conversation_id` and `participant_id` are JSON pointers (participant may be empty: the
    /// bridge chooses the participant); `event_id` is empty (the signature scheme's id header, if
    /// any), `header:<Name>` or a JSON pointer. Problems come back as (config key, message).
    pub fn new(
        conversation_id: &str,
        participant_id: &str,
        event_id: &str,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut pointer = |key: &str, value: &str| {
            if let Err(message) = Pointer::parse(value) {
                problems.push((key.to_owned(), message));
            }
            value.to_owned()
        };
        let conversation_id = pointer("conversation_id", conversation_id);
        let participant_id =
            (!participant_id.is_empty()).then(|| pointer("participant_id", participant_id));
        let event_id = match event_id.strip_prefix("header:") {
            _ if event_id.is_empty() => None,
            Some(name) => match HeaderName::try_from(name.trim()) {
                Ok(header) => Some(EventIdSource::Header(header)),
                Err(_) => {
                    problems.push((
                        "event_id".to_owned(),
                        format!("{name:?} is not a valid header name"),
                    ));
                    None
                }
            },
            None => Some(EventIdSource::Pointer(pointer("event_id", event_id))),
        };
        if problems.is_empty() {
            Ok(Self {
                conversation_id,
                call_by: CallBy::ConversationId,
                several: Several::Latest,
                participant_id,
                event_id,
            })
        } else {
            Err(problems)
        }
    }

    /// The call is named, at the conversation pointer, by `by` instead of its conversation id.
    pub fn named_by(mut self, by: CallBy, several: Several) -> Self {
        self.call_by = by;
        self.several = several;
        self
    }

    /// JSON pointer to what names the call.
    pub fn conversation_pointer(&self) -> &str {
        &self.conversation_id
    }

    pub fn call_by(&self) -> &CallBy {
        &self.call_by
    }

    pub fn several(&self) -> Several {
        self.several
    }

    pub fn participant_pointer(&self) -> Option<&str> {
        self.participant_id.as_deref()
    }

    /// Whether the idempotency key is made of signed bytes only: the body's hash, an id in the
    /// body, or the scheme's id where the scheme signs it (`proof.replay_key` is then that id).
    /// A captured request replayed under such a key is a duplicate of the original whatever
    /// else is changed, so its replay key need not be remembered. An id from a header, or a
    /// scheme id the signature does not cover, can be altered: then it must be.
    pub fn key_is_signed(&self, proof: &Verified) -> bool {
        match &self.event_id {
            None => proof.event_id.is_none() || proof.event_id == proof.replay_key,
            Some(EventIdSource::Pointer(_)) => true,
            Some(EventIdSource::Header(_)) => false,
        }
    }

    /// Pulls the ids out of the body; `scheme_event_id` is the id the signature scheme's header
    /// carried, used when the source names no other. Every problem is reported, not only the first.
    pub fn extract(
        &self,
        body: &Value,
        headers: &HeaderMap,
        scheme_event_id: Option<&str>,
    ) -> Result<EventIds, Vec<FieldError>> {
        let mut problems = Vec::new();
        let call = self.call(body).map_err(|p| problems.push(p)).ok();
        let participant_id = match &self.participant_id {
            None => None,
            Some(pointer) => match body.pointer(pointer) {
                None | Some(Value::Null) => None,
                Some(Value::String(raw)) => ParticipantId::parse(raw.clone())
                    .map_err(|e| problems.push(invalid(pointer, e.to_string())))
                    .ok(),
                Some(other) => {
                    problems.push(not_a_string(pointer, other));
                    None
                }
            },
        };
        let event_id = match &self.event_id {
            None => scheme_event_id.map(str::to_owned),
            Some(EventIdSource::Header(name)) => headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            Some(EventIdSource::Pointer(pointer)) => match body.pointer(pointer) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                // Numeric ids (HubSpot's eventId) are ids all the same, as written.
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    problems.push(not_a_string(pointer, other));
                    None
                }
            },
        };
        if let Some(id) = &event_id
            && id.chars().count() > MAX_EVENT_ID_CHARS
        {
            problems.push(FieldError {
                pointer: self.event_id_location(),
                code: "event_id_too_long",
                message: format!("the event id is longer than {MAX_EVENT_ID_CHARS} characters"),
            });
        }
        match (call, problems.is_empty()) {
            (Some(call), true) => Ok(EventIds {
                call,
                participant_id,
                event_id,
            }),
            _ => Err(problems),
        }
    }

    fn call(&self, body: &Value) -> Result<CallRef, FieldError> {
        let pointer = &self.conversation_id;
        match &self.call_by {
            CallBy::ConversationId => {
                let raw = required_string(body, pointer, "the conversation id")?;
                ConversationId::parse(raw)
                    .map(CallRef::Conversation)
                    .map_err(|e| invalid(pointer, e.to_string()))
            }
            CallBy::Ani { default_country } => {
                // CRMs store numbers as numbers too: 15551234567 is a number all the same.
                let raw = match body.pointer(pointer) {
                    Some(Value::Number(n)) => n.to_string(),
                    _ => required_string(body, pointer, "the caller's number")?.to_owned(),
                };
                PhoneNumber::parse(&raw, default_country.as_ref())
                    .map(|n| CallRef::Address(CallAddress::Ani(n)))
                    .map_err(|e| FieldError {
                        pointer: pointer.clone(),
                        code: "invalid_phone_number",
                        message: e.to_string(),
                    })
            }
            CallBy::Key { name } => {
                let value = match body.pointer(pointer) {
                    Some(Value::Number(n)) => n.to_string(),
                    _ => required_string(body, pointer, &format!("the {name} of the call"))?
                        .trim()
                        .to_owned(),
                };
                if value.is_empty() || value.chars().count() > MAX_KEY_VALUE_CHARS {
                    return Err(invalid(
                        pointer,
                        format!("the {name} must be 1 to {MAX_KEY_VALUE_CHARS} characters"),
                    ));
                }
                Ok(CallRef::Address(CallAddress::Key {
                    name: name.clone(),
                    value,
                }))
            }
        }
    }

    fn event_id_location(&self) -> String {
        match &self.event_id {
            Some(EventIdSource::Pointer(p)) => p.clone(),
            Some(EventIdSource::Header(h)) => format!("header:{h}"),
            None => "header".to_owned(),
        }
    }
}

fn required_string<'v>(body: &'v Value, pointer: &str, what: &str) -> Result<&'v str, FieldError> {
    match body.pointer(pointer) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(FieldError {
            pointer: pointer.to_owned(),
            code: "missing",
            message: format!("{what} is required at {pointer}"),
        }),
        Some(other) => Err(not_a_string(pointer, other)),
    }
}

fn invalid(pointer: &str, message: String) -> FieldError {
    FieldError {
        pointer: pointer.to_owned(),
        code: "invalid_id",
        message,
    }
}

fn not_a_string(pointer: &str, value: &Value) -> FieldError {
    let kind = match value {
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Null | Value::String(_) => "not a string",
    };
    FieldError {
        pointer: pointer.to_owned(),
        code: "not_a_string",
        message: format!("expected a string at {pointer}, found {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn defaults() -> Extraction {
        Extraction::new("/conversationId", "", "").unwrap()
    }

    #[test]
    fn finds_the_conversation_and_falls_back_to_the_scheme_event_id() {
        let ids = defaults()
            .extract(
                &json!({"conversationId": "c-1"}),
                &HeaderMap::new(),
                Some("msg_1"),
            )
            .unwrap();
        assert_eq!(
            ids.call,
            CallRef::Conversation(ConversationId::parse("c-1").unwrap())
        );
        assert_eq!(ids.participant_id, None);
        assert_eq!(ids.event_id.as_deref(), Some("msg_1"));
    }

    #[test]
    fn only_keys_made_of_unsigned_bytes_need_their_replay_key_remembered() {
        let signed_id = Verified {
            event_id: Some("msg_1".into()),
            replay_key: Some("msg_1".into()),
            ..Verified::default()
        };
        let unsigned_id = Verified {
            event_id: Some("delivery-1".into()),
            replay_key: Some("9f86d081".into()),
            ..Verified::default()
        };
        let no_id = Verified {
            replay_key: Some("9f86d081".into()),
            ..Verified::default()
        };
        // The scheme's id: signed by Standard Webhooks, a bare header elsewhere (GitHub's).
        assert!(defaults().key_is_signed(&signed_id));
        assert!(!defaults().key_is_signed(&unsigned_id));
        // No id at all: the key is the body's hash.
        assert!(defaults().key_is_signed(&no_id));
        // An id in the (signed) body, or in a header the sender could change.
        let by_pointer = Extraction::new("/conversationId", "", "/eventId").unwrap();
        assert!(by_pointer.key_is_signed(&unsigned_id));
        let by_header = Extraction::new("/conversationId", "", "header:X-Event-Id").unwrap();
        assert!(!by_header.key_is_signed(&signed_id));
    }

    #[test]
    fn reads_nested_pointers_headers_and_numeric_event_ids() {
        let extraction = Extraction::new("/call/id", "/call/participant", "/eventId").unwrap();
        let body = json!({"call": {"id": "c-2", "participant": "p-9"}, "eventId": 4211});
        let ids = extraction.extract(&body, &HeaderMap::new(), None).unwrap();
        assert_eq!(ids.participant_id.unwrap().as_str(), "p-9");
        assert_eq!(ids.event_id.as_deref(), Some("4211"));

        let by_header = Extraction::new("/conversationId", "", "header:X-Event-Id").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-event-id", " evt-7 ".parse().unwrap());
        let ids = by_header
            .extract(&json!({"conversationId": "c"}), &headers, Some("ignored"))
            .unwrap();
        assert_eq!(ids.event_id.as_deref(), Some("evt-7"));
    }

    #[test]
    fn reports_every_problem_with_its_pointer() {
        let extraction = Extraction::new("/conversationId", "/participantId", "/eventId").unwrap();
        let body = json!({"participantId": 12, "eventId": {"nested": true}});
        let problems = extraction
            .extract(&body, &HeaderMap::new(), None)
            .unwrap_err();
        let found: Vec<_> = problems
            .iter()
            .map(|p| (p.pointer.as_str(), p.code))
            .collect();
        assert_eq!(
            found,
            vec![
                ("/conversationId", "missing"),
                ("/participantId", "not_a_string"),
                ("/eventId", "not_a_string")
            ]
        );
        let bad_id = defaults()
            .extract(&json!({"conversationId": "a/b"}), &HeaderMap::new(), None)
            .unwrap_err();
        assert_eq!(bad_id[0].code, "invalid_id");
    }

    #[test]
    fn a_call_named_by_number_or_key_is_an_address_and_a_bad_number_says_why() {
        let by_ani = Extraction::new("/phone", "", "").unwrap().named_by(
            CallBy::Ani {
                default_country: CountryCode::parse("1").ok(),
            },
            Several::Latest,
        );
        let ids = by_ani
            .extract(&json!({"phone": "(555) 123-4567"}), &HeaderMap::new(), None)
            .unwrap();
        assert_eq!(
            ids.call,
            CallRef::Address(CallAddress::Ani(
                PhoneNumber::parse("+15551234567", None).unwrap()
            ))
        );
        let numeric = by_ani
            .extract(&json!({"phone": 15551234567u64}), &HeaderMap::new(), None)
            .unwrap();
        assert_eq!(ids.call, numeric.call);
        let bad = by_ani
            .extract(&json!({"phone": "call me"}), &HeaderMap::new(), None)
            .unwrap_err();
        assert_eq!(
            (bad[0].pointer.as_str(), bad[0].code),
            ("/phone", "invalid_phone_number")
        );

        let by_key = Extraction::new("/account", "", "").unwrap().named_by(
            CallBy::Key {
                name: "accountNumber".into(),
            },
            Several::Refuse,
        );
        let ids = by_key
            .extract(&json!({"account": 12345}), &HeaderMap::new(), None)
            .unwrap();
        assert_eq!(
            ids.call,
            CallRef::Address(CallAddress::Key {
                name: "accountNumber".into(),
                value: "12345".into()
            })
        );
        let missing = by_key
            .extract(&json!({}), &HeaderMap::new(), None)
            .unwrap_err();
        assert!(
            missing[0].message.contains("accountNumber"),
            "{}",
            missing[0].message
        );
    }

    #[test]
    fn configuration_is_checked_up_front() {
        let problems = Extraction::new("conversationId", "/p~2", "header:bad header").unwrap_err();
        let keys: Vec<_> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["conversation_id", "participant_id", "event_id"]);
    }
}
