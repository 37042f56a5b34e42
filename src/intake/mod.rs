//! The use case "accept a webhook", in one place and in the order the README lists:
//! verify → parse → map ([`prepare`]) → find the call (`resolve`, for a source that names it by
//! the caller's number or a CRM key) → dry run → nothing to write → replay guard → enqueue →
//! `Prefer: wait`. [`Intake::accept`] runs it and returns a typed [`Outcome`] or an
//! [`IntakeError`]; the HTTP handler only extracts the request and writes the answer.
//!
//! What is pure about webhooks (schemes, sources, extraction, mapping) lives in
//! [`crate::webhook`]; this module adds what needs state: the replay guard and the store.

mod error;
mod plan;
mod prepare;
mod replay;
mod resolve;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

pub use error::IntakeError;
pub use plan::Plan;
pub use resolve::CallResolution;

use crate::genesys::ConversationId;
use crate::queue::{DeliveryId, Inserted, Job, Queue, Status};
use crate::webhook::signature::IncomingRequest;
use crate::webhook::source::Source;
use prepare::{Prepared, prepare};
use replay::{ReplayGuard, Seen};
use resolve::Resolved;

/// One webhook as it arrived, and what its sender asked for.
#[derive(Debug)]
pub struct Submission<'r> {
    /// The source named in the path.
    pub source: &'r str,
    pub request: IncomingRequest<'r>,
    /// When it arrived, for signature timestamps.
    pub now: OffsetDateTime,
    /// `?dry_run`: answer with the calls it would cause, make none.
    pub dry_run: bool,
    /// `Prefer: wait`: how long to wait for the delivery's outcome after the commit.
    pub wait: Option<Duration>,
}

/// What became of an accepted webhook.
#[derive(Debug)]
pub enum Outcome {
    /// The exact Genesys calls it would cause; nothing stored.
    DryRun(Plan),
    /// It verified and mapped, but no mapped field had a value.
    NothingToWrite {
        skipped_null: Vec<String>,
        dropped: Vec<String>,
    },
    /// Committed as a new job.
    Accepted(Accepted),
    /// The same event was accepted before: the original delivery answers for it.
    Duplicate { id: DeliveryId, status: Status },
}

impl Outcome {
    /// The `outcome` label of the intake's metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::DryRun(_) => "dry_run",
            Outcome::NothingToWrite { .. } => "nothing_to_write",
            Outcome::Accepted(_) => "accepted",
            Outcome::Duplicate { .. } => "duplicate",
        }
    }
}

#[derive(Debug)]
pub struct Accepted {
    pub id: DeliveryId,
    /// `None` while a call named by its number or a key has not registered.
    pub conversation_id: Option<ConversationId>,
    /// How a call named by its number or a CRM key was found (or not yet).
    pub call: Option<CallResolution>,
    pub attribute_keys: Vec<String>,
    /// With `Prefer: wait`: the job, once delivered or dead within the wait, and the wait.
    pub finished: Option<(Box<Job>, Duration)>,
}

/// A job committed, or the one already stored for the same event.
enum Stored {
    New(DeliveryId),
    Duplicate { id: DeliveryId, status: Status },
}

/// The configured sources, the replay guard and the store the intake commits to.
#[derive(Debug)]
pub struct Intake {
    sources: HashMap<String, Arc<Source>>,
    replays: ReplayGuard,
    queue: Queue,
    /// The participant purposes a dry run's plan names.
    purposes: Vec<String>,
}

impl Intake {
    pub fn new(
        sources: impl IntoIterator<Item = Source>,
        queue: Queue,
        purposes: &[String],
    ) -> Self {
        Self {
            sources: sources
                .into_iter()
                .map(|s| (s.name().to_owned(), Arc::new(s)))
                .collect(),
            replays: ReplayGuard::default(),
            queue,
            purposes: purposes.to_vec(),
        }
    }

    /// The configured sources.
    pub fn sources(&self) -> Vec<Arc<Source>> {
        self.sources.values().cloned().collect()
    }

    /// Whether a source of this name is configured.
    pub fn knows(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    /// The whole pipeline; `Accepted` and `Duplicate` only once the job is committed.
    pub async fn accept(&self, submission: Submission<'_>) -> Result<Outcome, IntakeError> {
        let name = submission.source;
        let source = self
            .sources
            .get(name)
            .ok_or_else(|| IntakeError::UnknownSource(name.to_owned()))?;
        let prepared = prepare(source, submission.request, submission.now)?;
        let resolved = resolve::resolve(
            &self.queue,
            &prepared.ids.call,
            source.extraction().several(),
            SystemTime::from(submission.now),
        )
        .await?;
        if submission.dry_run {
            let mut resolved = resolved;
            if let (None, Some(conversation)) =
                (&resolved.registered_participant, &resolved.conversation_id)
            {
                // Only a dry run asks: the intake itself never reads the registry for a
                // conversation id (delivery does, once, instead of the conversation GET).
                resolved.registered_participant = self
                    .queue
                    .live_call(conversation, SystemTime::from(submission.now))
                    .await?
                    .and_then(|call| call.participant_id);
            }
            return Ok(Outcome::DryRun(plan::plan(
                &prepared,
                &resolved,
                &self.purposes,
            )));
        }
        if prepared.mapped.attributes.is_empty() {
            return Ok(Outcome::NothingToWrite {
                skipped_null: prepared.mapped.skipped_null,
                dropped: prepared.mapped.dropped,
            });
        }
        let conversation_id = resolved.conversation_id.clone();
        let call = resolved.view();
        let attribute_keys: Vec<String> = prepared.mapped.attributes.keys().cloned().collect();
        let id = match self.enqueue(prepared, resolved).await? {
            Stored::New(id) => id,
            Stored::Duplicate { id, status } => {
                tracing::info!(delivery_id = %id, "duplicate webhook: answered with the original delivery");
                return Ok(Outcome::Duplicate { id, status });
            }
        };
        tracing::info!(delivery_id = %id, source = name,
            conversation_id = conversation_id.as_ref().map(|c| c.as_str()),
            call = call.as_ref().map(|c| c.detail.as_str()),
            keys = attribute_keys.len(), "webhook accepted");
        let finished = match submission.wait {
            Some(wait) => self
                .queue
                .wait(id, wait)
                .await?
                .filter(|job| job.status.is_final())
                .map(|job| (Box::new(job), wait)),
            None => None,
        };
        Ok(Outcome::Accepted(Accepted {
            id,
            conversation_id,
            call,
            attribute_keys,
            finished,
        }))
    }

    /// The replay decision, made here alone. A signature (or signed event id) seen inside
    /// twice the source's timestamp tolerance for a *different* event is someone re-using a
    /// captured signature with an altered, unsigned id: this process's guard catches it before
    /// the store, and a store shared by several replicas catches what another replica saw
    /// (`Inserted::Replayed`). The same signature for the same event is let through: the store
    /// answers it as a duplicate, even when the copies arrive together.
    async fn enqueue(&self, prepared: Prepared, resolved: Resolved) -> Result<Stored, IntakeError> {
        let replayed = prepared.replay_key.as_ref().is_some_and(|key| {
            self.replays.check(
                prepared.source.name(),
                key,
                &prepared.idempotency_key(),
                prepared.source.verifier().tolerance() * 2,
            ) == Seen::OtherEvent
        });
        if replayed {
            return Err(IntakeError::Replay);
        }
        match self
            .queue
            .enqueue(prepared.into_job(resolved, SystemTime::now()))
            .await?
        {
            Inserted::New(id) => Ok(Stored::New(id)),
            Inserted::Duplicate { id, status } => Ok(Stored::Duplicate { id, status }),
            Inserted::Replayed => Err(IntakeError::Replay),
        }
    }
}
