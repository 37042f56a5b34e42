//! `POST /v1/calls`: the flat object a Data Action posts at the start of the inbound flow (or a
//! Process Automation trigger's workflow on `v2.detail.events.conversation.{id}.customer.start`):
//! `conversationId`, `ani`, `dnis`, `participantId`, and the CRM keys the IVR collected.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value};

use super::IvrError;
use super::error::FieldProblem;
use crate::genesys::address::MAX_KEY_VALUE_CHARS;
use crate::genesys::{ConversationId, CountryCode, ParticipantId, PhoneNumber};
use crate::queue::Call;

/// Longest `dnis` kept: it is shown, never matched.
const MAX_DNIS_CHARS: usize = 64;

/// A registration body, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Parsed {
    pub conversation_id: ConversationId,
    pub participant_id: Option<ParticipantId>,
    pub ani: Option<PhoneNumber>,
    pub dnis: Option<String>,
    pub keys: BTreeMap<String, String>,
    /// Fields that are none of the above: ignored, and named in the answer.
    pub ignored: Vec<String>,
}

/// A committed registration, as the flow is answered.
#[derive(Debug)]
pub struct Registered {
    pub call: Call,
    /// `given` (the body named the participant), `known` (an earlier registration or lookup
    /// found it), `started` (being looked up now), `deferred` (too many lookups under way: the
    /// first delivery finds it).
    pub lookup: &'static str,
    pub ignored: Vec<String>,
    pub ttl: Duration,
}

/// Reads the body; every problem is reported with its field.
pub(super) fn parse(
    body: &[u8],
    call_keys: &BTreeSet<String>,
    default_country: Option<&CountryCode>,
) -> Result<Parsed, IvrError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| IvrError::MalformedJson {
        line: e.line(),
        column: e.column(),
    })?;
    let Value::Object(fields) = value else {
        return Err(IvrError::NotAnObject);
    };
    let mut problems = Vec::new();
    let conversation_id = match text(&fields, "conversationId") {
        Ok(Some(raw)) => ConversationId::parse(raw)
            .map_err(|e| problems.push(("conversationId", "invalid_id", e.to_string())))
            .ok(),
        Ok(None) => {
            problems.push((
                "conversationId",
                "missing",
                "is required (the flow's Call.ConversationId)".to_owned(),
            ));
            None
        }
        Err(e) => {
            problems.push(("conversationId", "not_a_string", e));
            None
        }
    };
    let participant_id = match text(&fields, "participantId") {
        Ok(Some(raw)) => ParticipantId::parse(raw)
            .map_err(|e| problems.push(("participantId", "invalid_id", e.to_string())))
            .ok(),
        Ok(None) => None,
        Err(e) => {
            problems.push(("participantId", "not_a_string", e));
            None
        }
    };
    let ani = match text(&fields, "ani") {
        Ok(Some(raw)) => PhoneNumber::parse(&raw, default_country)
            .map_err(|e| problems.push(("ani", "invalid_phone_number", e.to_string())))
            .ok(),
        Ok(None) => None,
        Err(e) => {
            problems.push(("ani", "not_a_string", e));
            None
        }
    };
    let dnis = match text(&fields, "dnis") {
        Ok(Some(raw)) if raw.chars().count() > MAX_DNIS_CHARS => {
            problems.push((
                "dnis",
                "value_too_long",
                format!("is longer than {MAX_DNIS_CHARS} characters"),
            ));
            None
        }
        Ok(found) => found,
        Err(e) => {
            problems.push(("dnis", "not_a_string", e));
            None
        }
    };
    let mut keys = BTreeMap::new();
    let mut ignored = Vec::new();
    for name in fields.keys() {
        if matches!(
            name.as_str(),
            "conversationId" | "participantId" | "ani" | "dnis"
        ) {
            continue;
        }
        if !call_keys.contains(name) {
            ignored.push(name.clone());
            continue;
        }
        match text(&fields, name) {
            Ok(Some(value)) if value.chars().count() > MAX_KEY_VALUE_CHARS => {
                problems.push((
                    name.as_str(),
                    "value_too_long",
                    format!("is longer than {MAX_KEY_VALUE_CHARS} characters"),
                ));
            }
            Ok(Some(value)) => {
                keys.insert(name.clone(), value);
            }
            Ok(None) => {}
            Err(e) => problems.push((name, "not_a_string", e)),
        }
    }
    match conversation_id {
        Some(conversation_id) if problems.is_empty() => Ok(Parsed {
            conversation_id,
            participant_id,
            ani,
            dnis,
            keys,
            ignored,
        }),
        _ => Err(IvrError::InvalidFields(
            problems
                .into_iter()
                .map(|(field, code, message)| FieldProblem {
                    pointer: format!("/{field}"),
                    code,
                    message,
                })
                .collect(),
        )),
    }
}

/// A field as text: a string (trimmed; empty is absent, as a flow sends an unset variable) or a
/// number (DTMF digits may arrive as one); anything else is an error.
fn text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_owned()))
        }
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err("must be a string".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> BTreeSet<String> {
        ["accountNumber".to_owned()].into()
    }

    #[test]
    fn reads_what_a_data_action_sends_and_lists_what_it_ignores() {
        let body =
            br#"{"conversationId": "c-1", "ani": "tel:+1 555 123 4567", "dnis": "tel:+18005550100",
                        "accountNumber": 12345, "participantId": "", "language": "en-US"}"#;
        let parsed = parse(body, &keys(), None).unwrap();
        assert_eq!(parsed.conversation_id.as_str(), "c-1");
        assert_eq!(parsed.ani.unwrap().as_str(), "+15551234567");
        assert_eq!(parsed.participant_id, None);
        assert_eq!(parsed.keys["accountNumber"], "12345");
        assert_eq!(parsed.ignored, vec!["language".to_owned()]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let body = br#"{"ani": "anonymous", "accountNumber": {"x": 1}, "participantId": "a/b"}"#;
        let Err(IvrError::InvalidFields(problems)) = parse(body, &keys(), None) else {
            panic!("expected invalid fields");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "/conversationId",
                "/participantId",
                "/ani",
                "/accountNumber"
            ]
        );
        assert!(matches!(
            parse(b"[1]", &keys(), None),
            Err(IvrError::NotAnObject)
        ));
        assert!(matches!(
            parse(b"{", &keys(), None),
            Err(IvrError::MalformedJson { .. })
        ));
    }
}
