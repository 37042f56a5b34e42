//! What the queue stores: jobs, their lifecycle, and the operations that move them along it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::genesys::{CallAddress, ConversationId, ParticipantId};

/// Identifies one accepted webhook's delivery. Time-ordered (UUIDv7): ids sort by arrival, which
/// is what per-participant ordering and list cursors rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DeliveryId(uuid::Uuid);

impl DeliveryId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn parse(text: &str) -> Option<Self> {
        uuid::Uuid::parse_str(text).ok().map(Self)
    }

    pub fn as_uuid(self) -> uuid::Uuid {
        self.0
    }
}

impl Default for DeliveryId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// pending → in_flight (leased) → delivered | dead; a retry or a replay goes back to pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    InFlight,
    Delivered,
    Dead,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::InFlight,
        Status::Delivered,
        Status::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InFlight => "in_flight",
            Status::Delivered => "delivered",
            Status::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Delivered | Status::Dead)
    }
}

/// An accepted webhook, as the intake hands it to the queue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: DeliveryId,
    /// The sender's event id, or a hash of the raw body, prefixed with the source.
    pub idempotency_key: String,
    pub source: String,
    pub event_id: Option<String>,
    /// `None` only while a job addressed by `address` waits for its call to register.
    pub conversation_id: Option<ConversationId>,
    pub participant_id: Option<ParticipantId>,
    /// How the webhook named the call when not by its conversation id.
    pub address: Option<CallAddress>,
    /// How `address` became `conversation_id` at the intake, for operators.
    pub resolution: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub received_at: SystemTime,
    /// The signature (or signed event id) it was accepted with, for a store that several
    /// replicas share: the same key for another event is a replay there too.
    pub replay_key: Option<ReplayKey>,
}

/// A signature seen at the intake, remembered until `expires_at`.
#[derive(Clone, Debug)]
pub struct ReplayKey {
    /// Source-qualified: `<source>:<signature or signed id>`.
    pub key: String,
    pub expires_at: SystemTime,
}

impl NewJob {
    pub fn target(&self) -> Target {
        match (&self.conversation_id, &self.address) {
            (Some(conversation), _) => Target::of(conversation, self.participant_id.as_ref()),
            (None, Some(address)) => Target::waiting_for(address),
            // The intake always sets one of the two; this keeps such a job in a FIFO of its own.
            (None, None) => Target(format!("job:{}/*", self.id)),
        }
    }
}

/// Whose participant data a job writes: a conversation's named participant, or (`*`) the one the
/// bridge chooses. Jobs with the same target are delivered in arrival order, never two at a time;
/// stored as `<conversation>/<participant or *>`, or, for jobs that named their call by a number
/// or a CRM key before it registered, `<address>/*` (`ani:+15551234567/*`; conversation ids hold
/// no `:`, so the two never meet).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target(String);

impl Target {
    pub fn of(conversation: &ConversationId, participant: Option<&ParticipantId>) -> Self {
        Self(format!(
            "{conversation}/{}",
            participant.map_or("*", ParticipantId::as_str)
        ))
    }

    /// The FIFO of jobs that wait for the call `address` names.
    pub fn waiting_for(address: &CallAddress) -> Self {
        Self(format!("{}/*", address.stored()))
    }

    /// A target as the store holds it.
    pub fn stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The last failure of a job, as operators see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// A stored job.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub id: DeliveryId,
    pub source: String,
    pub event_id: Option<String>,
    /// `None` while a job that named its call by `address` waits for the call to register.
    pub conversation_id: Option<ConversationId>,
    /// The participant the payload named; `None`: the bridge chooses one.
    pub participant_id: Option<ParticipantId>,
    /// How the webhook named the call, when not by its conversation id.
    pub address: Option<CallAddress>,
    /// How the address became a conversation (at the intake or on delivery).
    pub resolution: Option<String>,
    #[serde(skip)]
    pub target: Target,
    pub attributes: BTreeMap<String, String>,
    pub status: Status,
    pub attempts: u32,
    pub run_at: SystemTime,
    pub received_at: SystemTime,
    pub updated_at: SystemTime,
    pub finished_at: Option<SystemTime>,
    pub delivered_to: Option<String>,
    pub last_error: Option<LastError>,
    pub dead_reason: Option<String>,
}

/// The outcome of an insert: a new job, or the one already stored for the same idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    New(DeliveryId),
    Duplicate {
        id: DeliveryId,
        status: Status,
    },
    /// Not stored: its replay key was accepted, inside its window, for another event (found by
    /// a shared store; a single process catches these before the store).
    Replayed,
}

/// A job as one claim leased it: its attempt number tells this lease from a later one (the
/// lease ran out and the job was claimed again), whose outcome is not this delivery's to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: DeliveryId,
    pub attempt: u32,
}

impl Lease {
    pub fn of(job: &Job) -> Self {
        Self {
            id: job.id,
            attempt: job.attempts,
        }
    }
}

/// How a delivery attempt ended, for the jobs it covered. Applies only to jobs still held by
/// that attempt's lease.
#[derive(Clone, Debug)]
pub enum Finish {
    Delivered {
        leases: Vec<Lease>,
        participant_id: ParticipantId,
        /// For jobs that waited for their call: the conversation found, and how.
        resolved: Option<(ConversationId, String)>,
        target: Target,
        /// The keys written, and the newest job they came from.
        keys: Vec<String>,
        newest: DeliveryId,
    },
    Retry {
        leases: Vec<Lease>,
        run_at: SystemTime,
        error: LastError,
    },
    Dead {
        leases: Vec<Lease>,
        reason: String,
        error: Option<LastError>,
    },
    /// Not finished when the process stopped: pending again at once, with its attempt counted
    /// and its run time and last error as they were (another replica, or the next start, takes it).
    Released { leases: Vec<Lease> },
}

/// Which jobs a listing or a bulk replay covers.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub source: Option<String>,
}

/// What a replay covers: one dead letter, or dead letters in bulk.
#[derive(Clone, Debug)]
pub enum Replay {
    One(DeliveryId),
    /// The oldest dead letters first: every one, or a source's; at most `limit` when set.
    Dead {
        source: Option<String>,
        limit: Option<u32>,
    },
}

/// Jobs claimed for one target, oldest first; `superseded` are keys a later, already delivered
/// job wrote (an old job must not overwrite them).
#[derive(Clone, Debug)]
pub struct ClaimedGroup {
    pub jobs: Vec<Job>,
    pub superseded: Vec<String>,
}

/// Per target, the keys delivered jobs wrote and which job wrote each last: `(writer, key)`.
pub type WrittenKeys = BTreeMap<String, Vec<(DeliveryId, String)>>;

impl ClaimedGroup {
    /// Groups claimed jobs by target, oldest first, each with the keys a newer job already
    /// delivered (rare: replays, jobs retried late), which it must not overwrite.
    pub fn assemble(claimed: Vec<Job>, written: &WrittenKeys) -> Vec<ClaimedGroup> {
        let mut groups: BTreeMap<Target, Vec<Job>> = BTreeMap::new();
        for job in claimed {
            groups.entry(job.target.clone()).or_default().push(job);
        }
        groups
            .into_iter()
            .map(|(target, mut jobs)| {
                jobs.sort_by_key(|j| j.id);
                let newest = jobs.last().map(|j| j.id).unwrap_or_default();
                let mut superseded: Vec<String> = written
                    .get(target.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|(writer, _)| *writer > newest)
                    .map(|(_, key)| key.clone())
                    .collect();
                superseded.sort();
                superseded.dedup();
                ClaimedGroup { jobs, superseded }
            })
            .collect()
    }
}

pub fn to_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
