//! One delivery attempt: a target's due jobs merged into one PATCH, the call found when the
//! webhook named it by a number or a key, the participant found when the payload did not name
//! one (the one the call registered with, else by reading the conversation), the outcome
//! decided and recorded.

use std::collections::BTreeMap;
use std::time::SystemTime;

use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::deliverer::Deliverer;
use super::policy::{Decision, RetrySchedule, decide, recheck};
use crate::genesys::{CallAddress, ConversationId, GenesysError, ParticipantId};
use crate::queue::calls::choose;
use crate::queue::{ClaimedGroup, Finish, LastError, Lease, Target};
use crate::telemetry::metrics as m;

/// One target's due jobs, merged in arrival order (later keys win) into one PATCH.
pub(super) async fn deliver(d: Deliverer, group: ClaimedGroup, _slot: OwnedSemaphorePermit) {
    let Some(first) = group.jobs.first() else {
        return;
    };
    let mut leases: Vec<Lease> = group.jobs.iter().map(Lease::of).collect();
    d.held.add(&leases);
    let span = tracing::info_span!(
        "delivery", delivery_id = %first.id, jobs = leases.len(), source = %first.source,
        conversation_id = first.conversation_id.as_ref().map(|c| c.as_str()),
        call = first.address.as_ref().map(|a| a.stored())
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
    let address = first.address.clone();
    let target = first.target.clone();
    let source = first.source.clone();
    async move {
        let attempt = Attempt { leases: &leases, source: &source, received_at };
        // A job that named its call by a number or a key before the call registered.
        let (conversation, registered, resolved) = match (conversation, address) {
            (Some(conversation), _) => (conversation, None, None),
            (None, Some(address)) => match find_call(&d, &address, &source).await {
                Ok(call) => call,
                Err(why) => {
                    let finish = attempt.unresolved(&why, attempts, &d.settings.retry);
                    record(&d, finish, &leases).await;
                    return;
                }
            },
            (None, None) => {
                let finish = attempt.unresolved("the job names no call", u32::MAX, &d.settings.retry);
                record(&d, finish, &leases).await;
                return;
            }
        };
        let written = write(&d, &conversation, explicit.as_ref(), registered, &target, &mut leases, &mut attributes).await;
        let attempt = Attempt { leases: &leases, source: &source, received_at };
        let finish = match written {
            Ok(participant) => attempt.delivered(participant, resolved, target, &attributes),
            Err(err) => {
                if matches!(&err, GenesysError::Api { failure, .. } if matches!(failure.status, 404 | 409)) {
                    d.participants.forget(&conversation);
                }
                attempt.failed(&err, attempts, &d.settings.retry)
            }
        };
        record(&d, finish, &leases).await;
    }
    .instrument(span)
    .await;
}

async fn record(d: &Deliverer, finish: Finish, leases: &[Lease]) {
    let recorded = d.store.finish(finish).await;
    d.held.remove(leases);
    if let Err(err) = recorded {
        // The lease runs out and the jobs are delivered again: at least once, never lost.
        tracing::error!(error = %err, "cannot record the outcome; the jobs will be retried when their lease expires");
    }
}

/// The registered call `address` names now: its conversation, the participant it registered
/// with, and how it was chosen; or why there is none.
async fn find_call(
    d: &Deliverer,
    address: &CallAddress,
    source: &str,
) -> Result<
    (
        ConversationId,
        Option<ParticipantId>,
        Option<(ConversationId, String)>,
    ),
    String,
> {
    let calls = d
        .store
        .calls_at(address, SystemTime::now())
        .await
        .map_err(|e| format!("cannot look the call up: {e}"))?;
    let several = d.settings.several.get(source).copied().unwrap_or_default();
    match choose(address, &calls, several) {
        (Some(conversation), how) => {
            let participant = calls
                .iter()
                .find(|c| c.conversation_id == conversation)
                .and_then(|c| c.participant_id.clone());
            tracing::info!(conversation_id = %conversation, resolution = %how, "found the call");
            Ok((conversation.clone(), participant, Some((conversation, how))))
        }
        (None, why) if calls.len() > 1 => Err(format!("refused: {why}")),
        (None, why) => Err(why),
    }
}

/// What an attempt's outcome is recorded against.
struct Attempt<'a> {
    leases: &'a [Lease],
    source: &'a str,
    /// When the oldest of its jobs was received.
    received_at: SystemTime,
}

impl Attempt<'_> {
    fn delivered(
        &self,
        participant_id: ParticipantId,
        resolved: Option<(ConversationId, String)>,
        target: Target,
        attributes: &BTreeMap<String, String>,
    ) -> Finish {
        let jobs = self.leases.len() as u64;
        tracing::info!(participant_id = %participant_id, keys = attributes.len(), "delivered");
        ::metrics::counter!(m::DELIVERIES, "source" => self.source.to_owned(), "outcome" => "delivered").increment(jobs);
        let waited = SystemTime::now()
            .duration_since(self.received_at)
            .unwrap_or_default();
        ::metrics::histogram!(m::END_TO_END_SECONDS).record(waited.as_secs_f64());
        Finish::Delivered {
            leases: self.leases.to_vec(),
            participant_id,
            resolved,
            target,
            keys: attributes.keys().cloned().collect(),
            newest: self.leases.iter().map(|l| l.id).max().unwrap_or_default(),
        }
    }

    /// No call to deliver to yet: looked for again later, or a dead letter once the re-checks
    /// are spent (or at once when the source refuses to choose among several).
    fn unresolved(&self, why: &str, attempts: u32, schedule: &RetrySchedule) -> Finish {
        let jobs = self.leases.len() as u64;
        let decision = if why.starts_with("refused: ") {
            Decision::Dead {
                reason: why.trim_start_matches("refused: ").to_owned(),
            }
        } else {
            recheck(why, attempts, SystemTime::now(), schedule)
        };
        let error = LastError {
            message: why.to_owned(),
            ..LastError::default()
        };
        match decision {
            Decision::Retry { at } => {
                ::metrics::counter!(m::DELIVERIES, "source" => self.source.to_owned(), "outcome" => "retry").increment(jobs);
                tracing::info!(
                    attempts,
                    reason = why,
                    "no call to deliver to yet; looking again later"
                );
                Finish::Retry {
                    leases: self.leases.to_vec(),
                    run_at: at,
                    error,
                }
            }
            Decision::Dead { reason } => {
                ::metrics::counter!(m::DELIVERIES, "source" => self.source.to_owned(), "outcome" => "dead").increment(jobs);
                tracing::error!(attempts, reason = %reason, "no call to deliver to: dead letter");
                Finish::Dead {
                    leases: self.leases.to_vec(),
                    reason,
                    error: Some(error),
                }
            }
        }
    }

    /// Retried later, or a dead letter: [`decide`] says which.
    fn failed(&self, err: &GenesysError, attempts: u32, schedule: &RetrySchedule) -> Finish {
        let jobs = self.leases.len() as u64;
        let error = LastError {
            message: err.to_string(),
            status: err.status(),
            code: err.code().map(str::to_owned),
            correlation_id: err.correlation_id().map(str::to_owned),
        };
        match decide(err, attempts, self.received_at, SystemTime::now(), schedule) {
            Decision::Retry { at } => {
                ::metrics::counter!(m::DELIVERIES, "source" => self.source.to_owned(), "outcome" => "retry").increment(jobs);
                tracing::warn!(attempts, status = err.status(), code = err.code(), correlation_id = err.correlation_id(),
                    retry_in_ms = at.duration_since(SystemTime::now()).map_or(0, |w| w.as_millis() as u64),
                    error = %err, "delivery failed; will retry");
                Finish::Retry {
                    leases: self.leases.to_vec(),
                    run_at: at,
                    error,
                }
            }
            Decision::Dead { reason } => {
                ::metrics::counter!(m::DELIVERIES, "source" => self.source.to_owned(), "outcome" => "dead").increment(jobs);
                tracing::error!(attempts, status = err.status(), code = err.code(), correlation_id = err.correlation_id(),
                    reason = %reason, "delivery failed for good: dead letter");
                Finish::Dead {
                    leases: self.leases.to_vec(),
                    reason,
                    error: Some(error),
                }
            }
        }
    }
}

/// The participant the call registered with, if it did; a store that cannot say is not a
/// reason to stop: the conversation GET finds the participant as it always did.
async fn registered_participant(
    d: &Deliverer,
    conversation: &ConversationId,
) -> Option<ParticipantId> {
    d.store
        .registered_participant(conversation)
        .await
        .map_err(|err| tracing::warn!(error = %err, "cannot read the call's registration"))
        .ok()
        .flatten()
}

/// A wait for the rate budget longer than this may have let newer updates for the target
/// arrive: they are looked for before the PATCH is sent. Shorter waits are not worth a store
/// round trip (an unthrottled budget never waits).
const TOP_UP_AFTER: std::time::Duration = std::time::Duration::from_millis(5);

/// Writes `attributes`; returns the participant written to. Once the rate budget allows the
/// PATCH — after a wait for it, or the participant lookup of a first contact with a call — the
/// target's newly due jobs join in: `leases` and `attributes` grow, later values winning. While
/// the budget is what holds deliveries back, a participant's updates that arrive during the
/// wait cost no PATCH of their own.
async fn write(
    d: &Deliverer,
    conversation: &ConversationId,
    explicit: Option<&ParticipantId>,
    registered: Option<ParticipantId>,
    target: &Target,
    leases: &mut Vec<Lease>,
    attributes: &mut BTreeMap<String, String>,
) -> Result<ParticipantId, GenesysError> {
    let mut looked_up = false;
    let participant = match explicit.cloned().or(registered) {
        Some(id) => id,
        None => match d.participants.get(conversation) {
            Some(cached) => cached,
            // The participant the call registered with: no conversation GET.
            None if let Some(registered) = registered_participant(d, conversation).await => {
                d.participants.insert(conversation, registered.clone());
                registered
            }
            None => {
                let found = d
                    .genesys
                    .find_target_with(conversation, d.settings.write_ended_conversations)
                    .await?;
                d.participants
                    .insert(conversation, found.participant_id.clone());
                looked_up = true;
                found.participant_id
            }
        },
    };
    if attributes.is_empty() && !looked_up {
        // Everything this job carried was overwritten by a later delivery already.
        return Ok(participant);
    }
    let turn = d.genesys.reserve().await;
    if looked_up || turn.waited() >= TOP_UP_AFTER {
        top_up(d, target, leases, attributes).await;
    }
    if attributes.is_empty() {
        return Ok(participant);
    }
    d.genesys
        .patch_participant_attributes_with(Some(turn), conversation, &participant, attributes)
        .await?;
    Ok(participant)
}

/// Adds the target's newly due jobs to this delivery.
async fn top_up(
    d: &Deliverer,
    target: &Target,
    leases: &mut Vec<Lease>,
    attributes: &mut BTreeMap<String, String>,
) {
    match d.store.top_up(target.clone(), d.settings.lease).await {
        Ok(later) => {
            for job in later {
                let lease = Lease::of(&job);
                d.held.add(&[lease]);
                leases.push(lease);
                attributes.extend(job.attributes);
            }
        }
        // Not fatal: those jobs simply go out in the next PATCH.
        Err(err) => tracing::warn!(error = %err, "could not add newer updates to this delivery"),
    }
}
