//! Response bodies more than one resource answers with.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::genesys::{CallAddress, ConversationId, ParticipantId};
use crate::queue::job::{LastError, to_ms};
use crate::queue::{DeliveryId, Job, Status};

/// A delivery as operators see it. Attribute values only when `admin.show_values` allows: they
/// are customer data.
#[derive(Debug, Serialize)]
pub(super) struct DeliveryView {
    pub delivery_id: DeliveryId,
    pub status: Status,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `null` while a job that named its call by a number or a key waits for it to register.
    pub conversation_id: Option<ConversationId>,
    /// How the webhook named the call when not by its conversation id, and how it was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<CallView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<ParticipantId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_to: Option<String>,
    pub attribute_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    pub attempts: u32,
    /// Unix milliseconds.
    pub received_at: i64,
    pub updated_at: i64,
    pub next_attempt_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_reason: Option<String>,
}

/// A call named by the caller's number or a CRM key.
#[derive(Debug, Serialize)]
pub(super) struct CallView {
    /// `ani` or `key`.
    pub by: &'static str,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

impl DeliveryView {
    pub(super) fn of(job: &Job, show_values: bool) -> Self {
        Self {
            delivery_id: job.id,
            status: job.status,
            source: job.source.clone(),
            event_id: job.event_id.clone(),
            conversation_id: job.conversation_id.clone(),
            call: job.address.as_ref().map(|address| CallView {
                by: address.kind(),
                value: address.value().to_owned(),
                key: match address {
                    CallAddress::Key { name, .. } => Some(name.clone()),
                    CallAddress::Ani(_) => None,
                },
                resolution: job.resolution.clone(),
            }),
            participant_id: job.participant_id.clone(),
            delivered_to: job.delivered_to.clone(),
            attribute_keys: job.attributes.keys().cloned().collect(),
            attributes: show_values.then(|| job.attributes.clone()),
            attempts: job.attempts,
            received_at: to_ms(job.received_at),
            updated_at: to_ms(job.updated_at),
            next_attempt_at: (job.status == Status::Pending).then(|| to_ms(job.run_at)),
            finished_at: job.finished_at.map(to_ms),
            last_error: job.last_error.clone(),
            dead_reason: job.dead_reason.clone(),
        }
    }
}
