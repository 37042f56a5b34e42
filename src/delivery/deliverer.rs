//! What the loop and every attempt share: the store's handle, the Genesys client, the
//! participant cache, the settings, and the leases under way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::DeliverySettings;
use super::participants::ParticipantCache;
use crate::genesys::GenesysClient;
use crate::queue::{Consumer, DeliveryId, Lease};

/// What every delivery attempt works with; cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Deliverer {
    pub store: Consumer,
    pub genesys: GenesysClient,
    pub participants: Arc<ParticipantCache>,
    pub settings: Arc<DeliverySettings>,
    pub held: Arc<Held>,
}

/// The leases of the deliveries under way, so that those still unfinished when the shutdown
/// grace period ends can be put back to pending.
#[derive(Debug, Default)]
pub(super) struct Held(Mutex<HashMap<DeliveryId, Lease>>);

impl Held {
    pub(super) fn add(&self, leases: &[Lease]) {
        if let Ok(mut held) = self.0.lock() {
            held.extend(leases.iter().map(|l| (l.id, *l)));
        }
    }

    pub(super) fn remove(&self, leases: &[Lease]) {
        if let Ok(mut held) = self.0.lock() {
            for lease in leases {
                held.remove(&lease.id);
            }
        }
    }

    pub(super) fn take(&self) -> Vec<Lease> {
        self.0
            .lock()
            .map(|mut held| held.drain().map(|(_, l)| l).collect())
            .unwrap_or_default()
    }
}
