//! The queue order of SQLite's open jobs (pending or in flight), kept in memory by the writer
//! thread: which targets can be claimed, in which order, and which of their jobs are due.
//!
//! One process uses the file and every write to an open job goes through the writer, so the
//! writer can know this without asking SQLite. Indexing it in the file cost more than the rows
//! themselves: the queue per participant needed a `(target, id)` index, and since a second's
//! webhooks interleave many participants, each insert landed on a page of its own and each
//! commit rewrote one index page per job. With the order here, an insert appends to the table
//! and to the small `deliveries_open (id)` index, and a claim reads no index at all.
//!
//! It is a cache of the rows, nothing more: built from them when the writer starts, changed
//! with each write the writer makes, and built again from them after a transaction that failed
//! (its changes to this cache were then never committed).
//!
//! Memory, measured with a million open jobs and 44-character participant keys: 439 bytes a job
//! when each has a participant of its own, 84 when ten share one, 38 when a thousand do. A
//! backlog of 100,000 jobs (an hour of Genesys outage at 28 webhooks/s) costs at most 44 MB.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::num::NonZeroI64;
use std::sync::Arc;

use rusqlite::Connection;

use crate::queue::contract::StoreError;
use crate::queue::job::DeliveryId;

/// Most open jobs the order holds. A backlog larger than this (a long Genesys outage, a burst
/// faster than Genesys' rate limit) keeps its newest jobs in the file alone, and they join the
/// order oldest first as it empties: memory stays bounded (at most ~44 MB, with every job on a
/// participant of its own), while the claims still take each participant's jobs in order.
pub(super) const HELD_AT_MOST: usize = 100_000;

/// Jobs read from the file at once when there is room for them.
const REFILL: usize = 10_000;

#[derive(Debug)]
pub(super) struct OpenJobs {
    targets: HashMap<Arc<str>, TargetQueue>,
    /// The targets whose oldest open job is pending, by that job's `run_at`: the ones a claim
    /// may take, the longest due first.
    ready: BTreeSet<(i64, Arc<str>)>,
    jobs: usize,
    /// Out of step with the rows: reading them again failed.
    stale: bool,
    /// See [`HELD_AT_MOST`].
    limit: usize,
    /// The newest id held.
    newest: Option<DeliveryId>,
    /// Set while open jobs with a later id are in the file alone. Every open job up to it is
    /// held, so a participant's held jobs always come before those in the file.
    held_up_to: Option<DeliveryId>,
}

#[derive(Debug)]
struct TargetQueue {
    name: Arc<str>,
    /// Oldest (first to arrive) first. Most targets hold a few jobs, and jobs leave from the
    /// front: a deque costs a tenth of a map for one job.
    jobs: VecDeque<(DeliveryId, Open)>,
    /// This target's key in `ready`, while it is there.
    ready_at: Option<i64>,
}

#[derive(Clone, Copy, Debug)]
struct Open {
    /// Unix ms: not before.
    run_at: i64,
    /// Unix ms, while in flight. (`NonZero` keeps the pair at 16 bytes, a job at 32: a lease
    /// never runs out at the epoch.)
    lease_until: Option<NonZeroI64>,
}

impl Open {
    fn in_flight(&self) -> bool {
        self.lease_until.is_some()
    }
}

/// A lease's end. One at the epoch (none is) is taken as the earliest time there is: run out.
fn lease(until: i64) -> NonZeroI64 {
    NonZeroI64::new(until).unwrap_or(NonZeroI64::MIN)
}

impl OpenJobs {
    /// An empty order that holds at most `limit` jobs.
    pub(super) fn new(limit: usize) -> Self {
        OpenJobs {
            targets: HashMap::new(),
            ready: BTreeSet::new(),
            jobs: 0,
            stale: false,
            limit: limit.max(1),
            newest: None,
            held_up_to: None,
        }
    }

    /// The oldest `limit` open jobs in the file.
    pub(super) fn load(conn: &Connection, limit: usize) -> Result<Self, StoreError> {
        let mut open = OpenJobs::new(limit);
        open.held_up_to = open.read(conn, None, open.limit)?;
        Ok(open)
    }

    /// Reads the open jobs in the file alone into the order while it has room for [`REFILL`] of
    /// them: a read of the end of `deliveries_open`, in the writer's transaction.
    pub(super) fn refill(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let batch = REFILL.min(self.limit);
        if let Some(after) = self.held_up_to
            && self.jobs + batch <= self.limit
        {
            self.held_up_to = self.read(conn, Some(after), batch)?;
        }
        Ok(())
    }

    /// Up to `limit` open jobs after `after`, oldest first; the last one read when that many
    /// were (more may follow).
    fn read(
        &mut self,
        conn: &Connection,
        after: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Option<DeliveryId>, StoreError> {
        const OPEN: &str = "SELECT id, target, run_at, status, lease_until FROM deliveries \
             WHERE finished_at IS NULL";
        let limit_param = i64::try_from(limit).unwrap_or(i64::MAX);
        // Two statements: an `OR` would keep SQLite from starting the index scan at `after`.
        let mut rows;
        let mut found = match after {
            None => {
                rows = conn.prepare_cached(&format!("{OPEN} ORDER BY id LIMIT ?1"))?;
                rows.query(rusqlite::params![limit_param])?
            }
            Some(after) => {
                rows = conn.prepare_cached(&format!("{OPEN} AND id > ?1 ORDER BY id LIMIT ?2"))?;
                rows.query(rusqlite::params![after.to_string(), limit_param])?
            }
        };
        let (mut count, mut last) = (0, None);
        while let Some(row) = found.next()? {
            let id: String = row.get(0)?;
            let id = DeliveryId::parse(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("bad delivery id {id:?}")))?;
            let target: String = row.get(1)?;
            let status: String = row.get(3)?;
            let lease_until: Option<i64> = row.get(4)?;
            let lease_until = if status == "in_flight" {
                // A lease without an end has run out.
                Some(lease(lease_until.unwrap_or(1)))
            } else {
                None
            };
            self.put(
                id,
                &target,
                Open {
                    run_at: row.get(2)?,
                    lease_until,
                },
            );
            count += 1;
            last = Some(id);
        }
        Ok(if count == limit { last } else { None })
    }

    /// Open jobs in the file that the order does not hold yet.
    pub(super) fn has_more_in_file(&self) -> bool {
        self.held_up_to.is_some()
    }

    /// Open jobs, pending or in flight.
    pub(super) fn len(&self) -> usize {
        self.jobs
    }

    /// This order may differ from the rows: it is to be read again.
    pub(super) fn mark_stale(&mut self) {
        self.stale = true;
    }

    pub(super) fn is_stale(&self) -> bool {
        self.stale
    }

    /// A new job, or a dead letter replayed: pending, due at `run_at`. Once the order is full,
    /// later jobs stay in the file alone until [`OpenJobs::refill`] has room for them.
    pub(super) fn add(&mut self, id: DeliveryId, target: &str, run_at: i64) {
        if self.held_up_to.is_none() && self.jobs >= self.limit {
            self.held_up_to = self.newest;
        }
        if self.held_up_to.is_some_and(|up_to| id > up_to) {
            return;
        }
        self.put(
            id,
            target,
            Open {
                run_at,
                lease_until: None,
            },
        );
    }

    /// Up to `limit` targets whose oldest open job is pending and due at `now`, longest due first.
    pub(super) fn due_targets(&self, now: i64, limit: usize) -> Vec<Arc<str>> {
        self.ready
            .iter()
            .take_while(|(run_at, _)| *run_at <= now)
            .take(limit)
            .map(|(_, target)| Arc::clone(target))
            .collect()
    }

    /// `target`'s pending jobs that are due at `now`, oldest first.
    pub(super) fn due_jobs(&self, target: &str, now: i64) -> Vec<DeliveryId> {
        self.targets.get(target).map_or_else(Vec::new, |q| {
            q.jobs
                .iter()
                .filter(|(_, open)| !open.in_flight() && open.run_at <= now)
                .map(|(id, _)| *id)
                .collect()
        })
    }

    /// In-flight jobs whose lease ran out before `now`.
    pub(super) fn expired(&self, now: i64) -> Vec<DeliveryId> {
        self.targets
            .values()
            .flat_map(|q| q.jobs.iter())
            .filter(|(_, open)| open.lease_until.is_some_and(|until| until.get() < now))
            .map(|(id, _)| *id)
            .collect()
    }

    /// `id` is in flight until `lease_until`.
    pub(super) fn leased(&mut self, id: DeliveryId, target: &str, lease_until: i64) {
        self.change(id, target, |open| {
            open.lease_until = Some(lease(lease_until))
        });
    }

    /// `id` is pending again (a retry, a release, a lease that ran out), due at `run_at`.
    pub(super) fn pending(&mut self, id: DeliveryId, target: &str, run_at: Option<i64>) {
        self.change(id, target, |open| {
            open.lease_until = None;
            if let Some(run_at) = run_at {
                open.run_at = run_at;
            }
        });
    }

    /// `id` is finished: delivered or dead.
    pub(super) fn remove(&mut self, id: DeliveryId, target: &str) {
        let Some(queue) = self.targets.get_mut(target) else {
            return;
        };
        if let Ok(at) = queue.jobs.binary_search_by_key(&id, |(id, _)| *id) {
            queue.jobs.remove(at);
            self.jobs -= 1;
        }
        self.refresh(target);
    }

    fn put(&mut self, id: DeliveryId, target: &str, open: Open) {
        self.newest = self.newest.max(Some(id));
        let queue = match self.targets.get_mut(target) {
            Some(queue) => queue,
            None => {
                let name: Arc<str> = Arc::from(target);
                self.targets
                    .entry(Arc::clone(&name))
                    .or_insert_with(|| TargetQueue {
                        name,
                        jobs: VecDeque::with_capacity(1),
                        ready_at: None,
                    })
            }
        };
        // New jobs arrive in id order; a replayed dead letter may be older than the rest.
        match queue.jobs.binary_search_by_key(&id, |(id, _)| *id) {
            Ok(at) => queue.jobs[at].1 = open,
            Err(at) => {
                // Half as much again, not twice: a backlog spreads evenly over its targets, so
                // doubling made them all grow at once, each to twice what it held.
                if queue.jobs.len() == queue.jobs.capacity() {
                    queue.jobs.reserve_exact((queue.jobs.len() / 2).max(1));
                }
                queue.jobs.insert(at, (id, open));
                self.jobs += 1;
            }
        }
        self.refresh(target);
    }

    fn change(&mut self, id: DeliveryId, target: &str, how: impl FnOnce(&mut Open)) {
        let Some(queue) = self.targets.get_mut(target) else {
            return;
        };
        if let Ok(at) = queue.jobs.binary_search_by_key(&id, |(id, _)| *id) {
            how(&mut queue.jobs[at].1);
            self.refresh(target);
        }
    }

    /// Puts `target` in `ready` under its oldest job's `run_at` if that job is pending, takes it
    /// out otherwise, and forgets a target without open jobs.
    fn refresh(&mut self, target: &str) {
        let Some(queue) = self.targets.get_mut(target) else {
            return;
        };
        let head = queue.jobs.front().map(|(_, open)| *open);
        let ready_at = head.filter(|h| !h.in_flight()).map(|h| h.run_at);
        if ready_at != queue.ready_at {
            if let Some(old) = queue.ready_at {
                self.ready.remove(&(old, Arc::clone(&queue.name)));
            }
            if let Some(new) = ready_at {
                self.ready.insert((new, Arc::clone(&queue.name)));
            }
            queue.ready_at = ready_at;
        }
        if head.is_none() {
            self.targets.remove(target);
        }
    }
}

#[cfg(test)]
mod tests;
