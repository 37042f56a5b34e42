//! The narrow handle delivery drives the store through: claim due jobs, top a delivery up with
//! jobs that came due meanwhile, record how it ended, wake on arrivals, share Genesys' 429s
//! with other replicas, and find the registered call a job is for. Nothing else of the store is reachable from here.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use super::calls::Call;
use super::contract::{ClaimRequest, StoreError};
use super::job::{ClaimedGroup, DeliveryId, Finish, Job, Status, Target};
use super::store::Store;
use super::waiters::Waiters;
use super::writer::Writer;
use crate::genesys::{CallAddress, ConversationId, ParticipantId};

#[derive(Clone, Debug)]
pub struct Consumer {
    pub(super) store: Arc<Store>,
    pub(super) writer: Writer,
    pub(super) waiters: Arc<Waiters>,
}

impl Consumer {
    /// Leases due jobs, one group per target.
    pub async fn claim(&self, request: ClaimRequest) -> Result<Vec<ClaimedGroup>, StoreError> {
        self.writer.claim(request).await
    }

    /// Leases `target`'s jobs that became due while its delivery was under way, so they go out
    /// in the same PATCH.
    pub async fn top_up(&self, target: Target, lease: Duration) -> Result<Vec<Job>, StoreError> {
        self.writer.top_up(target, lease).await
    }

    /// Records how a delivery ended; requests waiting for a final outcome (`Prefer: wait`) hear
    /// of it once it is committed.
    pub async fn finish(&self, finish: Finish) -> Result<(), StoreError> {
        let settled = match &finish {
            Finish::Delivered { leases, .. } => Some((leases, Status::Delivered)),
            Finish::Dead { leases, .. } => Some((leases, Status::Dead)),
            Finish::Retry { .. } | Finish::Released { .. } => None,
        }
        .map(|(leases, status)| {
            (
                leases.iter().map(|l| l.id).collect::<Vec<DeliveryId>>(),
                status,
            )
        });
        self.writer.finish(finish).await?;
        if let Some((ids, status)) = settled {
            self.waiters.notify(&ids, status);
        }
        Ok(())
    }

    /// The live calls `address` names, the most recently registered first: where a job that
    /// named its call by a number or a key is delivered.
    pub async fn calls_at(
        &self,
        address: &CallAddress,
        now: SystemTime,
    ) -> Result<Vec<Call>, StoreError> {
        self.store.calls_at(address, now).await
    }

    /// The participant the call registered with (or the bridge chose for it when it
    /// registered): a delivery that finds one sends no conversation GET.
    pub async fn registered_participant(
        &self,
        conversation: &ConversationId,
    ) -> Result<Option<ParticipantId>, StoreError> {
        Ok(self
            .store
            .call(conversation)
            .await?
            .filter(|call| call.expires_at > SystemTime::now())
            .and_then(|call| call.participant_id))
    }

    /// Signalled after a commit that added jobs: workers wake at once instead of polling.
    pub fn arrivals(&self) -> &Notify {
        &self.writer.arrivals
    }

    /// Whether other processes use the store too (leases, 429s and replays are then shared
    /// through it).
    pub fn is_shared(&self) -> bool {
        self.store.is_shared()
    }

    /// Records a 429's "not before" for every replica; nothing to share for a single process.
    pub async fn record_throttle(&self, until: SystemTime) -> Result<(), StoreError> {
        self.store.record_throttle(until).await
    }

    /// The "not before" another replica recorded, if still ahead.
    pub async fn throttled_until(&self) -> Result<Option<SystemTime>, StoreError> {
        self.store.throttled_until().await
    }
}
