//! The store's contract, as both backends implement it and the writer drives it: what one
//! transaction does ([`Batch`]) and answers ([`BatchResult`]), what a claim asks for, what the
//! gauges read, and how the store fails. The backends import this module; it imports neither.

use std::time::{Duration, SystemTime};

use super::calls::{Call, NewCall};
use super::job::{ClaimedGroup, Finish, Inserted, Job, NewJob, Replay, Target};

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store holds data it cannot read: {0}")]
    Corrupt(String),
    #[error("the queue's writer has stopped")]
    WriterStopped,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

/// What one writer transaction does.
#[derive(Debug, Default)]
pub struct Batch {
    pub inserts: Vec<NewJob>,
    /// Calls the IVR registered (written before the inserts, so a job in the same batch for a
    /// just-registered call is the flow's to pull).
    pub registrations: Vec<NewCall>,
    pub finishes: Vec<Finish>,
    pub replays: Vec<Replay>,
    pub claim: Option<ClaimRequest>,
    /// Targets whose newly due jobs join a delivery already under way.
    pub top_ups: Vec<(Target, Duration)>,
}

#[derive(Clone, Copy, Debug)]
pub struct ClaimRequest {
    pub limit: u32,
    pub lease: Duration,
    /// Also put jobs whose lease ran out back in the queue first. No index covers leases (a
    /// claim then changes no indexed column), so this reads every open job: the worker asks
    /// for it about once a second, not on every claim.
    pub expire_leases: bool,
}

#[derive(Debug, Default)]
pub struct BatchResult {
    /// One per insert, in order.
    pub inserted: Vec<Inserted>,
    /// One per registration, in order: the call as it now stands.
    pub registered: Vec<Call>,
    /// Rows replayed, one per replay, in order.
    pub replayed: Vec<u64>,
    pub claimed: Vec<ClaimedGroup>,
    /// One per top-up, in order.
    pub topped_up: Vec<Vec<Job>>,
}

/// What the metrics show of the store.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    pub pending: u64,
    pub in_flight: u64,
    pub dead: u64,
    pub oldest_pending: Option<SystemTime>,
}
