//! Outcomes and replays: delivered jobs in two statements per batch (with the keys they
//! wrote), a failed attempt's retry or dead letter, dead letters back to pending.

use std::collections::BTreeMap;

use sqlx::{Postgres, QueryBuilder};

use super::Tx;
use crate::queue::contract::StoreError;
use crate::queue::job::{DeliveryId, Finish, LastError, Lease, Replay, to_ms};

/// `, last_error = …` and the other error columns (cleared when `error` is `None`).
fn push_error(query: &mut QueryBuilder<Postgres>, error: Option<&LastError>) {
    query
        .push(", last_error = ")
        .push_bind(error.map(|e| e.message.clone()))
        .push(", last_status = ")
        .push_bind(error.and_then(|e| e.status).map(i64::from))
        .push(", last_code = ")
        .push_bind(error.and_then(|e| e.code.clone()))
        .push(", last_correlation_id = ")
        .push_bind(error.and_then(|e| e.correlation_id.clone()));
}

/// `UPDATE deliveries SET …` for an attempt that did not deliver — pending again (when) or dead
/// (why), with the error, or released unfinished — and the leases it covers; `None` for a
/// delivered outcome, which is recorded its own way. The caller adds which rows.
fn failure_update(finish: &Finish, now: i64) -> Option<(QueryBuilder<Postgres>, &[Lease])> {
    let mut query =
        QueryBuilder::<Postgres>::new("UPDATE deliveries SET lease_until = NULL, updated_at = ");
    query.push_bind(now);
    let leases = match finish {
        Finish::Delivered { .. } => return None,
        Finish::Retry {
            leases,
            run_at,
            error,
        } => {
            query
                .push(", status = 'pending', run_at = ")
                .push_bind(to_ms(*run_at));
            push_error(&mut query, Some(error));
            leases
        }
        Finish::Dead {
            leases,
            reason,
            error,
        } => {
            query
                .push(", status = 'dead', finished_at = ")
                .push_bind(now)
                .push(", dead_reason = ")
                .push_bind(reason.clone());
            push_error(&mut query, error.as_ref());
            leases
        }
        Finish::Released { leases } => {
            query.push(", status = 'pending'");
            leases
        }
    };
    Some((query, leases))
}

/// `UPDATE deliveries …` putting dead letters (and only dead ones) back to pending, due now, with
/// a fresh attempt count.
fn replay_update(which: &Replay, now: i64) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::<Postgres>::new(
        "UPDATE deliveries SET status = 'pending', finished_at = NULL, dead_reason = NULL, attempts = 0, run_at = ",
    );
    query
        .push_bind(now)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE dead_reason IS NOT NULL AND status = 'dead'");
    match which {
        Replay::One(id) => {
            query.push(" AND id = ").push_bind(id.as_uuid());
        }
        Replay::Dead { source, limit } => {
            query.push(
                " AND id IN (SELECT id FROM deliveries WHERE dead_reason IS NOT NULL AND status = 'dead'",
            );
            if let Some(source) = source {
                query.push(" AND source = ").push_bind(source.clone());
            }
            // LIMIT NULL: no limit.
            query
                .push(" ORDER BY id LIMIT ")
                .push_bind(limit.map(i64::from))
                .push(")");
        }
    }
    query
}

/// Records delivered jobs (still under their lease) and, per participant and key, the newest
/// job that wrote it.
pub(super) async fn apply_delivered(
    tx: &mut Tx<'_>,
    finishes: &[&Finish],
    now: i64,
) -> Result<(), StoreError> {
    let (mut ids, mut attempts, mut participants) = (Vec::new(), Vec::new(), Vec::new());
    let (mut conversations, mut resolutions) = (Vec::new(), Vec::new());
    // (target, key) → newest writer; sorted, so concurrent transactions lock rows in one order.
    let mut written: BTreeMap<(&str, &str), DeliveryId> = BTreeMap::new();
    for finish in finishes {
        let Finish::Delivered {
            leases,
            participant_id,
            resolved,
            target,
            keys,
            newest,
        } = finish
        else {
            continue;
        };
        for lease in leases {
            ids.push(lease.id.as_uuid());
            attempts.push(i64::from(lease.attempt));
            participants.push(participant_id.to_string());
            conversations.push(resolved.as_ref().map(|(c, _)| c.to_string()));
            resolutions.push(resolved.as_ref().map(|(_, how)| how.clone()));
        }
        for key in keys {
            let entry = written.entry((target.as_str(), key)).or_insert(*newest);
            *entry = (*entry).max(*newest);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE deliveries SET status = 'delivered', lease_until = NULL, updated_at = $1, finished_at = $1, \
                delivered_to = lease.participant, \
                conversation_id = COALESCE(lease.conversation, deliveries.conversation_id), \
                resolution = COALESCE(lease.resolution, deliveries.resolution) \
         FROM UNNEST($2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[]) \
              AS lease(id, attempt, participant, conversation, resolution) \
         WHERE deliveries.id = lease.id AND deliveries.attempts = lease.attempt AND deliveries.status = 'in_flight'",
    )
    .bind(now)
    .bind(&ids)
    .bind(&attempts)
    .bind(&participants)
    .bind(&conversations)
    .bind(&resolutions)
    .execute(&mut **tx)
    .await?;
    if written.is_empty() {
        return Ok(());
    }
    let (mut targets, mut keys, mut writers) = (Vec::new(), Vec::new(), Vec::new());
    for ((target, key), newest) in written {
        targets.push(target.to_owned());
        keys.push(key.to_owned());
        writers.push(newest.as_uuid());
    }
    sqlx::query(
        "INSERT INTO target_keys (target, key, delivery_id, updated_at) \
         SELECT target, key, delivery_id, $4 FROM UNNEST($1::text[], $2::text[], $3::uuid[]) AS t(target, key, delivery_id) \
         ON CONFLICT (target, key) DO UPDATE SET delivery_id = excluded.delivery_id, updated_at = excluded.updated_at \
         WHERE excluded.delivery_id > target_keys.delivery_id",
    )
    .bind(&targets)
    .bind(&keys)
    .bind(&writers)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A failed attempt's outcome: pending again (when) or dead (why), with the error.
pub(super) async fn apply_finish(
    tx: &mut Tx<'_>,
    finish: &Finish,
    now: i64,
) -> Result<(), StoreError> {
    let Some((mut query, leases)) = failure_update(finish, now) else {
        return apply_delivered(tx, &[finish], now).await;
    };
    if leases.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = leases.iter().map(|l| l.id.as_uuid()).collect();
    let attempts: Vec<i64> = leases.iter().map(|l| i64::from(l.attempt)).collect();
    // Only under this attempt's lease: a job whose lease ran out and that another replica took
    // over belongs to that replica now.
    query
        .push(" FROM UNNEST(")
        .push_bind(ids)
        .push("::uuid[], ")
        .push_bind(attempts)
        .push("::bigint[]) AS lease(id, attempt) WHERE deliveries.id = lease.id AND deliveries.attempts = lease.attempt AND deliveries.status = 'in_flight'");
    query.build().execute(&mut **tx).await?;
    Ok(())
}

/// Dead letters (and only dead ones) go back to pending, due now, with a fresh attempt count.
pub(super) async fn replay(tx: &mut Tx<'_>, which: &Replay, now: i64) -> Result<u64, StoreError> {
    let mut query = replay_update(which, now);
    Ok(query.build().execute(&mut **tx).await?.rows_affected())
}
