//! SQL both stores' reads build the same way with sqlx: a listing's filter. (SQLite's writes go
//! through rusqlite, with SQL of their own in `sqlite/writer.rs`.)

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::job::{Filter, Status};

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
