//! Dry runs: the exact Genesys calls a webhook would cause, without making any.

use std::collections::BTreeMap;

use serde::Serialize;

use super::prepare::Prepared;
use super::resolve::{CallResolution, Resolved};

#[derive(Debug, Serialize)]
pub struct Plan {
    pub dry_run: bool,
    pub source: String,
    /// `{conversationId}` while a call named by its number or a key has not registered.
    pub conversation_id: String,
    /// How a call named by its number or a CRM key was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<CallResolution>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub participant: ParticipantRule,
    pub calls: Vec<PlannedCall>,
    /// Fields that were null: never sent.
    pub skipped_null: Vec<String>,
    /// Fields the table does not name, dropped by the source's `unmapped = "drop"`.
    pub dropped: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ParticipantRule {
    /// The payload names the participant.
    Explicit { participant_id: String },
    /// The call registered with this participant (or the bridge found it when it registered).
    Registered { participant_id: String },
    /// The bridge reads the conversation and picks the most recently joined present participant
    /// with the first of these purposes that has one.
    Purposes { purposes: Vec<String> },
}

#[derive(Debug, Serialize)]
pub struct PlannedCall {
    pub method: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<AttributesBody>,
    pub why: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AttributesBody {
    pub attributes: BTreeMap<String, String>,
}

pub(super) fn plan(prepared: &Prepared, resolved: &Resolved, purposes: &[String]) -> Plan {
    let conversation = resolved
        .conversation_id
        .as_ref()
        .map_or("{conversationId}", |c| c.as_str());
    let mut calls = Vec::new();
    let writes = !prepared.mapped.attributes.is_empty();
    let registered = resolved.registered_participant.as_ref();
    let (participant, pid) = match (&prepared.ids.participant_id, registered) {
        (Some(id), _) => (
            ParticipantRule::Explicit {
                participant_id: id.to_string(),
            },
            id.to_string(),
        ),
        (None, Some(id)) => (
            ParticipantRule::Registered {
                participant_id: id.to_string(),
            },
            id.to_string(),
        ),
        (None, None) => {
            // Nothing to write means nothing to look up either.
            calls.extend(writes.then(|| PlannedCall {
                method: "GET",
                path: format!("/api/v2/conversations/{conversation}"),
                body: None,
                why: "find the participant",
            }));
            (
                ParticipantRule::Purposes {
                    purposes: purposes.to_vec(),
                },
                "{participantId}".to_owned(),
            )
        }
    };
    if writes {
        calls.push(PlannedCall {
            method: "PATCH",
            path: format!("/api/v2/conversations/{conversation}/participants/{pid}/attributes"),
            body: Some(AttributesBody {
                attributes: prepared.mapped.attributes.clone(),
            }),
            why: "write the mapped attributes (Genesys merges them into the participant's data)",
        });
    }
    Plan {
        dry_run: true,
        source: prepared.source.name().to_owned(),
        conversation_id: conversation.to_owned(),
        call: resolved.view(),
        event_id: prepared.ids.event_id.clone(),
        participant,
        calls,
        skipped_null: prepared.mapped.skipped_null.clone(),
        dropped: prepared.mapped.dropped.clone(),
    }
}
