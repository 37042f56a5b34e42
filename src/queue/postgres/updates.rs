//! The updates that record a failed attempt and that replay dead letters.

use sqlx::{Postgres, QueryBuilder};

use crate::queue::job::{Finish, LastError, Lease, Replay, to_ms};

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
pub(super) fn failure_update(
    finish: &Finish,
    now: i64,
) -> Option<(QueryBuilder<Postgres>, &[Lease])> {
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
pub(super) fn replay_update(which: &Replay, now: i64) -> QueryBuilder<Postgres> {
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
