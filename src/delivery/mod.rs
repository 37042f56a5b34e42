//! The hand-off between the intake and Genesys: an accepted, mapped update and where it goes.
//!
//! [`Dispatcher`] is the seam: today it delivers directly through the Genesys client in a
//! background task; the durable queue takes its place without the intake changing.

mod direct;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;

pub use direct::DirectDelivery;

use crate::genesys::{ConversationId, ParticipantId};

/// Identifies one accepted webhook's delivery. Time-ordered (UUIDv7), so ids sort by arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DeliveryId(uuid::Uuid);

impl DeliveryId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl Default for DeliveryId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What one accepted webhook asks Genesys to do.
#[derive(Clone, Debug, Serialize)]
pub struct Update {
    pub id: DeliveryId,
    pub source: String,
    pub conversation_id: ConversationId,
    /// Set when the payload names the participant; otherwise the client chooses by purpose.
    pub participant_id: Option<ParticipantId>,
    pub event_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
    #[serde(skip)]
    pub received_at: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("the bridge is shutting down and accepts no new deliveries")]
    ShuttingDown,
}

/// Where accepted updates go.
#[derive(Clone, Debug)]
pub enum Dispatcher {
    Direct(DirectDelivery),
}

impl Dispatcher {
    pub async fn submit(&self, update: Update) -> Result<DeliveryId, DispatchError> {
        match self {
            Dispatcher::Direct(direct) => direct.submit(update),
        }
    }

    /// Stops taking updates and waits up to `deadline` for those under way.
    pub async fn drain(&self, deadline: Duration) {
        match self {
            Dispatcher::Direct(direct) => direct.drain(deadline).await,
        }
    }
}
