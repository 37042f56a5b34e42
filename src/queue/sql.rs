//! SQL both stores build the same way: a listing's filter, a failed attempt's update, a replay.
//! Generic over the database; each store adds what differs (how ids are bound).

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::job::{DeliveryId, Filter, Finish, LastError, Lease, Replay, Status, to_ms};

/// ` AND status = … AND source = …` for the parts of `filter` that are set.
pub(super) fn push_filter<DB: Database>(query: &mut QueryBuilder<DB>, filter: &Filter)
where
    for<'t> &'static str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    if let Some(status) = filter.status {
        // What each status implies, spelled out so the database can use the partial indexes.
        query.push(match status {
            Status::Pending | Status::InFlight => " AND finished_at IS NULL",
            Status::Dead => " AND dead_reason IS NOT NULL",
            Status::Delivered => "",
        });
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(source) = &filter.source {
        query.push(" AND source = ").push_bind(source.clone());
    }
}

/// `, last_error = …` and the other error columns (cleared when `error` is `None`).
fn push_error<DB: Database>(query: &mut QueryBuilder<DB>, error: Option<&LastError>)
where
    for<'t> &'static str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
{
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

/// `UPDATE deliveries SET …` for a failed attempt — pending again (when) or dead (why), with
/// the error — and the leases it covers; `None` for a delivered outcome, which each store
/// records its own way. The caller adds which rows.
pub(super) fn failure_update<DB: Database>(
    finish: &Finish,
    now: i64,
) -> Option<(QueryBuilder<DB>, &[Lease])>
where
    for<'t> &'static str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    DB::Arguments: Default,
{
    let mut query =
        QueryBuilder::<DB>::new("UPDATE deliveries SET lease_until = NULL, updated_at = ");
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
    };
    Some((query, leases))
}

/// `UPDATE deliveries …` putting dead letters (and only dead ones) back to pending, due now, with
/// a fresh attempt count; `push_id` binds one id the store's way.
pub(super) fn replay_update<DB: Database>(
    which: &Replay,
    now: i64,
    push_id: impl FnOnce(&mut QueryBuilder<DB>, DeliveryId),
) -> QueryBuilder<DB>
where
    for<'t> &'static str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    DB::Arguments: Default,
{
    let mut query = QueryBuilder::<DB>::new(
        "UPDATE deliveries SET status = 'pending', finished_at = NULL, dead_reason = NULL, attempts = 0, run_at = ",
    );
    query
        .push_bind(now)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE dead_reason IS NOT NULL AND status = 'dead'");
    match which {
        Replay::One(id) => {
            query.push(" AND id = ");
            push_id(&mut query, *id);
        }
        Replay::Matching(filter) => push_filter(
            &mut query,
            &Filter {
                status: None,
                ..filter.clone()
            },
        ),
    }
    query
}
