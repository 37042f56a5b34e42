//! The delivery loop: lease due jobs, write each participant's merged update to Genesys, record
//! the outcome. Woken by every commit that adds jobs; otherwise it looks again every
//! `poll_interval` for retries that came due.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::QueueSettings;
use super::job::{ClaimedGroup, DeliveryId, Finish, LastError, Lease, Status};
use super::participants::ParticipantCache;
use super::policy::{Decision, decide};
use super::store::ClaimRequest;
use super::waiters::Waiters;
use super::writer::Writer;
use crate::genesys::{ConversationId, GenesysClient, GenesysError, ParticipantId};
use crate::telemetry::metrics as m;

#[derive(Clone, Debug)]
pub(super) struct Deliverer {
    pub writer: Writer,
    pub genesys: GenesysClient,
    pub participants: Arc<ParticipantCache>,
    pub waiters: Arc<Waiters>,
    pub settings: Arc<QueueSettings>,
    pub held: Arc<Held>,
}

/// The leases of the deliveries under way, so that those still unfinished when the shutdown
/// grace period ends can be put back to pending.
#[derive(Debug, Default)]
pub(super) struct Held(Mutex<HashMap<DeliveryId, Lease>>);

impl Held {
    fn add(&self, leases: &[Lease]) {
        if let Ok(mut held) = self.0.lock() {
            held.extend(leases.iter().map(|l| (l.id, *l)));
        }
    }

    fn remove(&self, leases: &[Lease]) {
        if let Ok(mut held) = self.0.lock() {
            for lease in leases {
                held.remove(&lease.id);
            }
        }
    }

    fn take(&self) -> Vec<Lease> {
        self.0
            .lock()
            .map(|mut held| held.drain().map(|(_, l)| l).collect())
            .unwrap_or_default()
    }
}

/// How long a stopping process waits to put its unfinished deliveries back.
const RELEASE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a busy loop lets free slots gather before it claims again.
const CLAIM_GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// How often a claim first takes back jobs whose lease ran out. Leases last `queue.lease`
/// (a minute by default), so a second's delay is noise, and the look costs a read of every
/// open job.
const LEASE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs until `shutdown`; then waits (up to `grace`) for deliveries under way. Jobs it did not
/// finish are put back to pending: another replica takes them at once, or the next start does.
pub(super) async fn run(deliverer: Deliverer, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(deliverer.settings.workers.max(1)));
    let tasks = TaskTracker::new();
    let mut busy = false;
    let mut failing = false;
    let mut leases_checked: Option<std::time::Instant> = None;
    loop {
        let first = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            () = shutdown.cancelled() => break,
        };
        if busy {
            // Under load, wait a moment for more deliveries to finish: one claim for several
            // free slots costs the store one scan instead of one per slot.
            tokio::time::sleep(CLAIM_GATHER).await;
        }
        let mut permits = vec![first];
        while let Ok(p) = Arc::clone(&slots).try_acquire_owned() {
            permits.push(p);
        }
        let wanted = permits.len();
        let expire_leases = leases_checked.is_none_or(|at| at.elapsed() >= LEASE_CHECK);
        let claimed = deliverer
            .writer
            .claim(ClaimRequest {
                limit: u32::try_from(wanted).unwrap_or(u32::MAX),
                lease: deliverer.settings.lease,
                expire_leases,
            })
            .await;
        if expire_leases && claimed.is_ok() {
            leases_checked = Some(std::time::Instant::now());
        }
        let groups = match claimed {
            Ok(groups) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("leasing jobs again");
                }
                groups
            }
            // Said once per outage, not every poll; readiness reports the store meanwhile.
            Err(err) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::error!(error = %err, "cannot lease jobs; trying again every poll interval");
                }
                Vec::new()
            }
        };
        let idle = groups.len() < wanted;
        busy = !idle;
        for (group, permit) in groups.into_iter().zip(permits.drain(..)) {
            let deliverer = deliverer.clone();
            tasks.spawn(deliver(deliverer, group, permit));
        }
        drop(permits);
        if idle {
            tokio::select! {
                () = deliverer.writer.arrivals.notified() => {}
                () = tokio::time::sleep(deliverer.settings.poll_interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
    }
    tasks.close();
    if tokio::time::timeout(deliverer.settings.shutdown_grace, tasks.wait())
        .await
        .is_err()
    {
        release_unfinished(&deliverer, tasks.len()).await;
    }
}

/// Puts the jobs of deliveries still under way back to pending. One that finishes meanwhile
/// either records its outcome first (the release then finds nothing held) or finds its jobs
/// pending and records nothing: they are delivered again, at least once as always.
async fn release_unfinished(deliverer: &Deliverer, deliveries: usize) {
    let leases = deliverer.held.take();
    let jobs = leases.len();
    let released = tokio::time::timeout(
        RELEASE_WITHIN,
        deliverer.writer.finish(Finish::Released { leases }),
    )
    .await;
    match released {
        Ok(Ok(())) => tracing::warn!(
            deliveries,
            jobs,
            "deliveries still under way at the deadline: their jobs are pending again"
        ),
        Ok(Err(err)) => tracing::warn!(
            deliveries, jobs, error = %err,
            "deliveries still under way at the deadline stay leased: due again when the lease runs out, or at the next start"
        ),
        Err(_) => tracing::warn!(
            deliveries,
            jobs,
            "deliveries still under way at the deadline stay leased (the store did not answer in time): due again when the lease runs out, or at the next start"
        ),
    }
}

/// One target's due jobs, merged in arrival order (later keys win) into one PATCH.
async fn deliver(d: Deliverer, group: ClaimedGroup, _slot: OwnedSemaphorePermit) {
    let Some(first) = group.jobs.first() else {
        return;
    };
    let mut leases: Vec<Lease> = group.jobs.iter().map(Lease::of).collect();
    d.held.add(&leases);
    let span = tracing::info_span!(
        "delivery", delivery_id = %first.id, jobs = leases.len(), source = %first.source,
        conversation_id = %first.conversation_id
    );
    let mut attributes = BTreeMap::new();
    for job in &group.jobs {
        attributes.extend(job.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for key in &group.superseded {
        attributes.remove(key);
    }
    let attempts = group.jobs.iter().map(|j| j.attempts).max().unwrap_or(1);
    let received_at = group
        .jobs
        .iter()
        .map(|j| j.received_at)
        .min()
        .unwrap_or_else(SystemTime::now);
    let explicit = first.participant_id.clone();
    let conversation = first.conversation_id.clone();
    let target = first.target();
    let source = first.source.clone();
    async move {
        let outcome = write(&d, &conversation, explicit.as_deref(), &target, &mut leases, &mut attributes).await;
        let ids: Vec<DeliveryId> = leases.iter().map(|l| l.id).collect();
        let (finish, status) = match outcome {
            Ok(participant) => {
                tracing::info!(participant_id = %participant, keys = attributes.len(), "delivered");
                ::metrics::counter!(m::DELIVERIES, "source" => source.clone(), "outcome" => "delivered").increment(ids.len() as u64);
                let waited = SystemTime::now().duration_since(received_at).unwrap_or_default();
                ::metrics::histogram!(m::END_TO_END_SECONDS).record(waited.as_secs_f64());
                let newest = ids.iter().copied().max().unwrap_or_default();
                let keys = attributes.keys().cloned().collect();
                (
                    Finish::Delivered { leases: leases.clone(), participant_id: participant, target: target.clone(), keys, newest },
                    Some(Status::Delivered),
                )
            }
            Err(err) => {
                if matches!(&err, GenesysError::Api { failure, .. } if matches!(failure.status, 404 | 409)) {
                    d.participants.forget(&conversation);
                }
                let error = LastError {
                    message: err.to_string(),
                    status: err.status(),
                    code: err.code().map(str::to_owned),
                    correlation_id: err.correlation_id().map(str::to_owned),
                };
                match decide(&err, attempts, received_at, SystemTime::now(), &d.settings.retry) {
                    Decision::Retry { at } => {
                        ::metrics::counter!(m::DELIVERIES, "source" => source.clone(), "outcome" => "retry").increment(ids.len() as u64);
                        tracing::warn!(attempts, status = err.status(), code = err.code(), correlation_id = err.correlation_id(),
                            retry_in_ms = at.duration_since(SystemTime::now()).map_or(0, |w| w.as_millis() as u64),
                            error = %err, "delivery failed; will retry");
                        (Finish::Retry { leases: leases.clone(), run_at: at, error }, None)
                    }
                    Decision::Dead { reason } => {
                        ::metrics::counter!(m::DELIVERIES, "source" => source.clone(), "outcome" => "dead").increment(ids.len() as u64);
                        tracing::error!(attempts, status = err.status(), code = err.code(), correlation_id = err.correlation_id(),
                            reason = %reason, "delivery failed for good: dead letter");
                        (Finish::Dead { leases: leases.clone(), reason, error: Some(error) }, Some(Status::Dead))
                    }
                }
            }
        };
        let recorded = d.writer.finish(finish).await;
        d.held.remove(&leases);
        if let Err(err) = recorded {
            // The lease runs out and the jobs are delivered again: at least once, never lost.
            tracing::error!(error = %err, "cannot record the outcome; the jobs will be retried when their lease expires");
            return;
        }
        if let Some(status) = status {
            d.waiters.notify(&ids, status);
        }
    }
    .instrument(span)
    .await;
}

/// Writes `attributes`; returns the participant written to. After a participant lookup (the
/// slow first contact with a call) the target's newly due jobs join in: `leases` and `attributes`
/// grow, later values winning.
async fn write(
    d: &Deliverer,
    conversation: &str,
    explicit: Option<&str>,
    target: &str,
    leases: &mut Vec<Lease>,
    attributes: &mut BTreeMap<String, String>,
) -> Result<String, GenesysError> {
    let invalid = |e: crate::genesys::InvalidId| GenesysError::InvalidResponse {
        operation: crate::genesys::Operation::PatchAttributes,
        message: format!("stored id is not valid: {e}"),
        correlation_id: None,
    };
    let conversation_id = ConversationId::parse(conversation).map_err(invalid)?;
    let participant = match explicit {
        Some(id) => ParticipantId::parse(id).map_err(invalid)?,
        None => match d.participants.get(conversation) {
            Some(cached) => cached,
            None => {
                let found = d
                    .genesys
                    .find_target_with(&conversation_id, d.settings.write_ended_conversations)
                    .await?;
                d.participants
                    .insert(conversation, found.participant_id.clone());
                match d.writer.top_up(target.to_owned(), d.settings.lease).await {
                    Ok(later) => {
                        for job in later {
                            let lease = Lease::of(&job);
                            d.held.add(&[lease]);
                            leases.push(lease);
                            attributes.extend(job.attributes);
                        }
                    }
                    // Not fatal: those jobs simply go out in the next PATCH.
                    Err(err) => {
                        tracing::warn!(error = %err, "could not add newer updates to this delivery")
                    }
                }
                found.participant_id
            }
        },
    };
    if attributes.is_empty() {
        // Everything this job carried was overwritten by a later delivery already.
        return Ok(participant.to_string());
    }
    d.genesys
        .patch_participant_attributes(&conversation_id, &participant, attributes)
        .await?;
    Ok(participant.to_string())
}
