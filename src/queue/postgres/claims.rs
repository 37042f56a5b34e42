//! Claims: the heads of due targets and the jobs behind them, one replica per target at a
//! time; and the top-up of a delivery under way.

use std::time::Duration;

use sqlx::AssertSqlSafe;

use super::Tx;
use crate::queue::contract::{ClaimRequest, StoreError};
use crate::queue::job::{ClaimedGroup, Job, Target};
use crate::queue::rows::{self, PG_COLUMNS};

/// The advisory lock key of a target (an SQL expression over `target`): a claim of the target
/// holds it until its transaction ends. Advisory locks are per database, so the key includes the
/// schema: deployments sharing a database in different schemas never wait for each other.
fn target_lock(target: &str) -> String {
    format!("hashtextextended(current_schema() || '/' || {target}, 7)")
}

/// Leases the due jobs of one target whose delivery this replica has under way.
pub(super) async fn claim_target(
    tx: &mut Tx<'_>,
    target: &Target,
    lease: Duration,
    now: i64,
) -> Result<Vec<Job>, StoreError> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT pg_advisory_xact_lock({})",
        target_lock("$1")
    )))
    .bind(target.as_str())
    .execute(&mut **tx)
    .await?;
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = $1, updated_at = $2 \
         WHERE id IN (SELECT id FROM deliveries WHERE finished_at IS NULL AND status = 'pending' AND run_at <= $2 AND target = $3 \
                      ORDER BY target, id FOR UPDATE SKIP LOCKED) \
         RETURNING {PG_COLUMNS}"
    )))
    .bind(now + millis(lease))
    .bind(now)
    .bind(target.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let mut jobs = claimed
        .iter()
        .map(rows::job)
        .collect::<Result<Vec<_>, _>>()?;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Leases due jobs, one group per target: the target's queue head and every due job behind it
/// (they go out as one PATCH). Nothing while Genesys' "not before" is ahead.
pub(super) async fn claim_due(
    tx: &mut Tx<'_>,
    throttle_scope: &str,
    &ClaimRequest {
        limit,
        lease,
        expire_leases,
    }: &ClaimRequest,
    now: i64,
) -> Result<Vec<ClaimedGroup>, StoreError> {
    let throttled: Option<i64> = sqlx::query_scalar(
        "SELECT not_before FROM genesys_throttle WHERE scope = $1 AND not_before > $2",
    )
    .bind(throttle_scope)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    if throttled.is_some() {
        return Ok(Vec::new());
    }
    // A lease that ran out belongs to a replica that died or a delivery that hung: due again.
    if expire_leases {
        sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL \
             WHERE id IN (SELECT id FROM deliveries \
                          WHERE finished_at IS NULL AND status = 'in_flight' AND lease_until < $1 \
                          FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    // Candidate targets: due heads with nothing older still open (one index probe each). Those
    // another replica is claiming right now are skipped (their advisory lock is taken); a
    // target with a job in flight is refused by the claim below.
    let targets: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT target FROM ( \
             SELECT d.target FROM deliveries d \
             WHERE d.finished_at IS NULL AND d.status = 'pending' AND d.run_at <= $1 \
               AND NOT EXISTS (SELECT 1 FROM deliveries e \
                               WHERE e.target = d.target AND e.finished_at IS NULL AND e.id < d.id) \
             ORDER BY d.run_at LIMIT $2) heads \
         WHERE pg_try_advisory_xact_lock({})",
        target_lock("heads.target")
    )))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut **tx)
    .await?;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    // This statement's snapshot is taken after the locks: whatever another replica claimed for
    // these targets is committed and visible, so a target in flight elsewhere is left alone.
    // Which targets have a job in flight is looked up once for all of them, not once a row.
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = $1, updated_at = $2 \
         WHERE id IN (SELECT d.id FROM deliveries d \
                      WHERE d.finished_at IS NULL AND d.status = 'pending' AND d.run_at <= $2 AND d.target = ANY($3) \
                        AND d.target NOT IN (SELECT e.target FROM deliveries e \
                                             WHERE e.target = ANY($3) AND e.finished_at IS NULL AND e.status = 'in_flight') \
                      ORDER BY d.target, d.id FOR UPDATE SKIP LOCKED) \
         RETURNING {PG_COLUMNS}"
    )))
    .bind(now + millis(lease))
    .bind(now)
    .bind(&targets)
    .fetch_all(&mut **tx)
    .await?;
    let jobs = claimed
        .iter()
        .map(rows::job)
        .collect::<Result<Vec<_>, _>>()?;
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    // What deliveries newer than each group already wrote: one query for all groups.
    let found = sqlx::query(
        "SELECT target, key, delivery_id::text AS delivery_id FROM target_keys WHERE target = ANY($1)",
    )
    .bind(&targets)
    .fetch_all(&mut **tx)
    .await?;
    let written = rows::written_keys(&found)?;
    Ok(ClaimedGroup::assemble(jobs, &written))
}
