//! Delivery: accepted jobs onto Genesys participants.
//!
//! Workers lease due jobs through the store's narrow handle ([`Consumer`]), deliver each
//! participant's updates in arrival order — merged into one PATCH when several are due together
//! — through the one [`GenesysClient`], and record the outcome: delivered, retried later
//! (backoff, or Genesys' `Retry-After`), or a dead letter kept for inspection and replay.
//!
//! - `worker`: the loop that claims and hands out groups, and puts back what is unfinished at
//!   shutdown;
//! - `attempt`: one group's PATCH, and its outcome;
//! - `deliverer`: what the loop and the attempts share, and the leases under way;
//! - `policy`: the retry decision (pure);
//! - `participants`: the conversation → participant cache;
//! - `throttle`: a 429 held by every replica sharing the store.

mod attempt;
mod deliverer;
mod participants;
mod policy;
mod throttle;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use policy::RetrySchedule;

use crate::genesys::{GenesysClient, Several};
use crate::queue::Consumer;
use participants::ParticipantCache;

#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Deliveries in flight at once.
    pub workers: usize,
    /// How long a leased job may stay in flight before it is due again.
    pub lease: Duration,
    /// How often idle workers look for retries that came due.
    pub poll_interval: Duration,
    pub retry: RetrySchedule,
    pub write_ended_conversations: bool,
    /// Conversations whose participant is remembered.
    pub participant_cache: usize,
    /// How long in-flight deliveries may take to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Per source that names calls by a number or a key: what to do when it names several.
    pub several: HashMap<String, Several>,
}

/// Starts delivering `store`'s jobs through `genesys` until `shutdown`; the handle finishes once
/// in-flight deliveries are done (or the grace period is over).
pub fn start(
    store: Consumer,
    genesys: GenesysClient,
    settings: DeliverySettings,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    if store.is_shared() {
        tokio::spawn(throttle::share(
            store.clone(),
            genesys.clone(),
            shutdown.clone(),
        ));
    }
    let deliverer = deliverer::Deliverer {
        store,
        genesys,
        participants: Arc::new(ParticipantCache::new(settings.participant_cache)),
        settings: Arc::new(settings),
        held: Arc::default(),
    };
    tokio::spawn(worker::run(deliverer, shutdown))
}
