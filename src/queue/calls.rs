//! What the store keeps of the IVR handshake: the calls the flow registered, the CRM keys they
//! registered with, and per call the newest value of every key a committed webhook mapped.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use super::job::DeliveryId;
use crate::genesys::{CallAddress, ConversationId, ParticipantId, PhoneNumber, Several};

/// A registration, as the IVR (or a trigger's workflow) sent it. Registering again starts the
/// call's time to live again, merges the keys (new values win), and keeps a number or a
/// participant already known unless a new one is given.
#[derive(Clone, Debug)]
pub struct NewCall {
    pub conversation_id: ConversationId,
    pub participant_id: Option<ParticipantId>,
    pub ani: Option<PhoneNumber>,
    pub dnis: Option<String>,
    pub keys: BTreeMap<String, String>,
    pub at: SystemTime,
    pub expires_at: SystemTime,
}

/// A registered call, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Call {
    pub conversation_id: ConversationId,
    pub participant_id: Option<ParticipantId>,
    pub ani: Option<PhoneNumber>,
    pub dnis: Option<String>,
    pub keys: BTreeMap<String, String>,
    pub registered_at: SystemTime,
    pub updated_at: SystemTime,
    pub expires_at: SystemTime,
}

impl Call {
    /// Whether a webhook naming `address` may be about this call.
    pub fn answers_to(&self, address: &CallAddress) -> bool {
        match address {
            CallAddress::Ani(number) => self.ani.as_ref() == Some(number),
            CallAddress::Key { name, value } => self.keys.get(name) == Some(value),
        }
    }

    /// Every address the call can be found by.
    pub fn addresses(&self) -> Vec<CallAddress> {
        let mut out: Vec<CallAddress> = self.ani.iter().cloned().map(CallAddress::Ani).collect();
        out.extend(self.keys.iter().map(|(name, value)| CallAddress::Key {
            name: name.clone(),
            value: value.clone(),
        }));
        out
    }
}

/// The newest value of one key a webhook for the call mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallValue {
    pub value: String,
    pub delivery_id: DeliveryId,
    pub updated_at: SystemTime,
}

/// Per key, what the flow pulls.
pub type CallData = BTreeMap<String, CallValue>;

/// The call `address` stands for among `calls` (the most recently registered first), and why:
/// the one rule the intake and delivery both apply.
pub fn choose(
    address: &CallAddress,
    calls: &[Call],
    several: Several,
) -> (Option<ConversationId>, String) {
    match (calls, several) {
        ([], _) => (
            None,
            format!("no live registered call has the {address} yet"),
        ),
        ([only], _) => (
            Some(only.conversation_id.clone()),
            format!("the registered call with the {address}"),
        ),
        ([latest, ..], Several::Latest) => (
            Some(latest.conversation_id.clone()),
            format!(
                "the most recently registered of {} live calls with the {address} (others: {})",
                calls.len(),
                names(&calls[1..])
            ),
        ),
        (_, Several::Refuse) => (
            None,
            format!(
                "{} live calls have the {address} ({}) and the source refuses to choose",
                calls.len(),
                names(calls)
            ),
        ),
    }
}

fn names(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| c.conversation_id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
