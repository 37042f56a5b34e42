//! Which call a webhook is for, when its source names the call by the caller's number or a CRM
//! key: the registered call it names, looked up once at the intake. A webhook whose call has
//! not registered yet is accepted all the same; its delivery looks again (`queue.rechecks`).

use std::time::SystemTime;

use serde::Serialize;

use crate::genesys::Several;
use crate::genesys::{CallAddress, ConversationId, ParticipantId};
use crate::queue::calls::choose;
use crate::queue::{Queue, StoreError};
use crate::webhook::event::CallRef;

/// What the intake made of the call a webhook names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Resolved {
    pub conversation_id: Option<ConversationId>,
    pub address: Option<CallAddress>,
    /// How the address became the conversation, or why it has not yet.
    pub how: Option<String>,
    /// The participant the call registered with, when known (delivery then sends no GET).
    pub registered_participant: Option<ParticipantId>,
}

/// The resolution as a dry run's plan and the answer show it.
#[derive(Clone, Debug, Serialize)]
pub struct CallResolution {
    /// `ani` or `key`.
    pub by: &'static str,
    /// The number (E.164) or the key's value.
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The conversation it names, if a live registered call was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    pub detail: String,
}

impl Resolved {
    pub(super) fn view(&self) -> Option<CallResolution> {
        let address = self.address.as_ref()?;
        Some(CallResolution {
            by: address.kind(),
            value: address.value().to_owned(),
            key: match address {
                CallAddress::Key { name, .. } => Some(name.clone()),
                CallAddress::Ani(_) => None,
            },
            conversation_id: self.conversation_id.clone(),
            detail: self.how.clone().unwrap_or_default(),
        })
    }
}

/// Looks the address up among the live registered calls.
pub(super) async fn resolve(
    queue: &Queue,
    call: &CallRef,
    several: Several,
    now: SystemTime,
) -> Result<Resolved, StoreError> {
    let address = match call {
        CallRef::Conversation(id) => {
            return Ok(Resolved {
                conversation_id: Some(id.clone()),
                address: None,
                how: None,
                registered_participant: None,
            });
        }
        CallRef::Address(address) => address,
    };
    let calls = queue.calls_at(address, now).await?;
    let (conversation_id, how) = choose(address, &calls, several);
    let registered_participant = calls
        .iter()
        .find(|c| Some(&c.conversation_id) == conversation_id.as_ref())
        .and_then(|c| c.participant_id.clone());
    Ok(Resolved {
        conversation_id,
        address: Some(address.clone()),
        how: Some(how),
        registered_participant,
    })
}
