//! Outcomes and replays, on the rows and in the queue order alike.

use rusqlite::{Connection, Params, Statement, params};

use super::open_jobs::OpenJobs;
use crate::queue::contract::StoreError;
use crate::queue::job::{DeliveryId, Finish, Replay, to_ms};
use crate::queue::rows::delivery_id;

/// Records an attempt's outcome on the jobs still under its leases: one whose lease ran out and
/// that was claimed again belongs to that later attempt.
pub(super) fn apply_finish(
    tx: &Connection,
    open: &mut OpenJobs,
    finish: &Finish,
    now: i64,
) -> Result<(), StoreError> {
    const HELD: &str = "WHERE id = ?1 AND attempts = ?2 AND status = 'in_flight' RETURNING target";
    match finish {
        Finish::Delivered {
            leases,
            participant_id,
            resolved,
            target,
            keys,
            newest,
        } => {
            record_keys(tx, target.as_str(), keys, *newest, now)?;
            let mut done = tx.prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = NULL, status = 'delivered', updated_at = ?3, \
                 finished_at = ?3, delivered_to = ?4, conversation_id = COALESCE(?5, conversation_id), \
                 resolution = COALESCE(?6, resolution) {HELD}"
            ))?;
            let (conversation, resolution) = match resolved {
                Some((conversation, how)) => (Some(conversation.as_str()), Some(how.as_str())),
                None => (None, None),
            };
            for lease in leases {
                let params = params![
                    lease.id.to_string(),
                    lease.attempt,
                    now,
                    participant_id.as_str(),
                    conversation,
                    resolution
                ];
                if let Some(target) = changed(&mut done, params)? {
                    open.remove(lease.id, &target);
                }
            }
        }
        Finish::Retry {
            leases,
            run_at,
            error,
        } => {
            let mut retry = tx.prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = NULL, status = 'pending', updated_at = ?3, run_at = ?4, \
                 last_error = ?5, last_status = ?6, last_code = ?7, last_correlation_id = ?8 {HELD}"
            ))?;
            let run_at = to_ms(*run_at);
            for lease in leases {
                let params = params![
                    lease.id.to_string(),
                    lease.attempt,
                    now,
                    run_at,
                    error.message,
                    error.status,
                    error.code,
                    error.correlation_id,
                ];
                if let Some(target) = changed(&mut retry, params)? {
                    open.pending(lease.id, &target, Some(run_at));
                }
            }
        }
        Finish::Dead {
            leases,
            reason,
            error,
        } => {
            let mut dead = tx.prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = NULL, status = 'dead', updated_at = ?3, finished_at = ?3, \
                 dead_reason = ?4, last_error = ?5, last_status = ?6, last_code = ?7, last_correlation_id = ?8 {HELD}"
            ))?;
            let error = error.as_ref();
            for lease in leases {
                let params = params![
                    lease.id.to_string(),
                    lease.attempt,
                    now,
                    reason,
                    error.map(|e| &e.message),
                    error.and_then(|e| e.status),
                    error.and_then(|e| e.code.as_ref()),
                    error.and_then(|e| e.correlation_id.as_ref()),
                ];
                if let Some(target) = changed(&mut dead, params)? {
                    open.remove(lease.id, &target);
                }
            }
        }
        Finish::Released { leases } => {
            let mut release = tx.prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = NULL, status = 'pending', updated_at = ?3 {HELD}"
            ))?;
            for lease in leases {
                let params = params![lease.id.to_string(), lease.attempt, now];
                if let Some(target) = changed(&mut release, params)? {
                    open.pending(lease.id, &target, None);
                }
            }
        }
    }
    Ok(())
}

/// Runs an `UPDATE … RETURNING target` of one row: the target of the row it changed, if any.
pub(super) fn changed(
    update: &mut Statement<'_>,
    params: impl Params,
) -> Result<Option<String>, StoreError> {
    let mut rows = update.query(params)?;
    Ok(match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}

/// Remembers, per key, the newest delivered job that wrote it.
fn record_keys(
    tx: &Connection,
    target: &str,
    keys: &[String],
    newest: DeliveryId,
    now: i64,
) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO target_keys (target, key, delivery_id, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (target, key) DO UPDATE SET delivery_id = excluded.delivery_id, updated_at = excluded.updated_at \
         WHERE excluded.delivery_id > target_keys.delivery_id",
    )?;
    let newest = newest.to_string();
    for key in keys {
        upsert.execute(params![target, key, newest, now])?;
    }
    Ok(())
}

/// Dead letters (and only dead ones) go back to pending, due now, with a fresh attempt count.
pub(super) fn replay(
    tx: &Connection,
    open: &mut OpenJobs,
    which: &Replay,
    now: i64,
) -> Result<u64, StoreError> {
    const REPLAY: &str = "UPDATE deliveries SET status = 'pending', finished_at = NULL, dead_reason = NULL, \
         attempts = 0, run_at = ?1, updated_at = ?1 WHERE dead_reason IS NOT NULL AND status = 'dead'";
    let mut update = match which {
        Replay::One(_) => {
            tx.prepare_cached(&format!("{REPLAY} AND id = ?2 RETURNING id, target"))?
        }
        // LIMIT -1: no limit.
        Replay::Dead { .. } => tx.prepare_cached(&format!(
            "{REPLAY} AND id IN (SELECT id FROM deliveries \
             WHERE dead_reason IS NOT NULL AND status = 'dead' AND (?2 IS NULL OR source = ?2) \
             ORDER BY id LIMIT ?3) RETURNING id, target"
        ))?,
    };
    let mut replayed = match which {
        Replay::One(id) => update.query(params![now, id.to_string()])?,
        Replay::Dead { source, limit } => {
            update.query(params![now, source, limit.map_or(-1, i64::from)])?
        }
    };
    let mut count = 0;
    while let Some(row) = replayed.next()? {
        let id: String = row.get(0)?;
        let target: String = row.get(1)?;
        open.add(delivery_id(&id)?, &target, now);
        count += 1;
    }
    Ok(count)
}
