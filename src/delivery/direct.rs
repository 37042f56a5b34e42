//! Direct delivery: each update goes to Genesys in its own task, at once. Nothing is stored, so an
//! update still under way when the process dies is lost — the durable queue replaces this.

use std::time::Duration;

use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::{DeliveryId, DispatchError, Update};
use crate::genesys::{GenesysClient, GenesysError};

#[derive(Clone, Debug)]
pub struct DirectDelivery {
    genesys: GenesysClient,
    tasks: TaskTracker,
}

impl DirectDelivery {
    pub fn new(genesys: GenesysClient) -> Self {
        Self {
            genesys,
            tasks: TaskTracker::new(),
        }
    }

    pub(super) fn submit(&self, update: Update) -> Result<DeliveryId, DispatchError> {
        if self.tasks.is_closed() {
            return Err(DispatchError::ShuttingDown);
        }
        let id = update.id;
        let span = tracing::info_span!(
            "delivery", delivery_id = %id, source = %update.source,
            conversation_id = %update.conversation_id
        );
        let genesys = self.genesys.clone();
        self.tasks.spawn(
            async move {
                match deliver(&genesys, &update).await {
                    Ok(()) => tracing::info!(keys = update.attributes.len(), "delivered"),
                    Err(err) => tracing::error!(
                        status = err.status(), code = err.code(), correlation_id = err.correlation_id(),
                        error = %err, "delivery failed"
                    ),
                }
            }
            .instrument(span),
        );
        Ok(id)
    }

    pub(super) async fn drain(&self, deadline: Duration) {
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                still_running = self.tasks.len(),
                "deliveries still under way at the shutdown deadline are abandoned"
            );
        }
    }
}

pub(crate) async fn deliver(genesys: &GenesysClient, update: &Update) -> Result<(), GenesysError> {
    let participant = match &update.participant_id {
        Some(id) => id.clone(),
        None => {
            genesys
                .find_target(&update.conversation_id)
                .await?
                .participant_id
        }
    };
    genesys
        .patch_participant_attributes(&update.conversation_id, &participant, &update.attributes)
        .await
}
