//! Claims, read off the queue order in memory: the due heads of their targets with every due
//! job behind them, and the top-up of a delivery under way.

use std::time::Duration;

use rusqlite::{Connection, params};

use super::open_jobs::OpenJobs;
use super::updates::changed;
use crate::queue::contract::{ClaimRequest, StoreError};
use crate::queue::job::{ClaimedGroup, Job, WrittenKeys};
use crate::queue::rows;

/// Leases `target`'s due jobs, oldest first: the jobs behind a head being claimed, or those that
/// became due while its delivery was under way (a top-up).
pub(super) fn claim_target(
    tx: &Connection,
    open: &mut OpenJobs,
    target: &str,
    lease: Duration,
    now: i64,
) -> Result<Vec<Job>, StoreError> {
    let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let mut claim = tx.prepare_cached(&format!(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = ?1, updated_at = ?2 \
         WHERE id = ?3 AND finished_at IS NULL AND status = 'pending' RETURNING {}",
        rows::COLUMNS
    ))?;
    let mut jobs = Vec::new();
    for id in open.due_jobs(target, now) {
        let mut claimed = claim.query(params![lease_until, now, id.to_string()])?;
        match claimed.next()? {
            Some(row) => {
                jobs.push(rows::decode_job(row)?);
                open.leased(id, target, lease_until);
            }
            // Not open after all: the order is out of step with the rows (it cannot be, short
            // of a bug), so this job goes, and the next reload puts the order right.
            None => {
                tracing::warn!(delivery_id = %id, "a job the queue order holds is not pending");
                open.remove(id, target);
            }
        }
    }
    Ok(jobs)
}

/// Leases the due jobs that head their target's queue, together with every due job behind them
/// for the same target (they go out as one PATCH).
pub(super) fn claim_due(
    tx: &Connection,
    open: &mut OpenJobs,
    &ClaimRequest {
        limit,
        lease,
        expire_leases,
    }: &ClaimRequest,
    now: i64,
) -> Result<Vec<ClaimedGroup>, StoreError> {
    // A lease that ran out belongs to a delivery that hung: the job is due again.
    if expire_leases {
        let mut expire = tx.prepare_cached(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL \
             WHERE id = ?1 AND status = 'in_flight' AND lease_until < ?2 RETURNING target",
        )?;
        for id in open.expired(now) {
            if let Some(target) = changed(&mut expire, params![id.to_string(), now])? {
                open.pending(id, &target, None);
            }
        }
    }
    let targets = open.due_targets(now, usize::try_from(limit).unwrap_or(usize::MAX));
    let mut jobs = Vec::new();
    // What deliveries newer than each group already wrote.
    let mut written = WrittenKeys::new();
    let mut keys =
        tx.prepare_cached("SELECT target, key, delivery_id FROM target_keys WHERE target = ?1")?;
    for target in &targets {
        jobs.extend(claim_target(tx, open, target, lease, now)?);
        let mut found = keys.query([&**target])?;
        while let Some(row) = found.next()? {
            rows::add_written_key(&mut written, row)?;
        }
    }
    Ok(ClaimedGroup::assemble(jobs, &written))
}
