//! The reads both backends answer, written once over sqlx: a delivery by id, by idempotency key,
//! a filtered page of them, and the counts per status. Where the dialects differ (the id is text
//! on SQLite and a `uuid` on PostgreSQL) a [`Dialect`] says how.

use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Type,
};

use super::contract::StoreError;
use super::job::{DeliveryId, Filter, Job, Status};
use super::rows;

/// What differs between the backends in these reads.
#[derive(Debug)]
pub(super) struct Dialect {
    /// The columns [`rows::job`] decodes, selected so that every one is text or bigint.
    columns: &'static str,
    /// Appended to a delivery id bound as text, so it compares with the id column.
    id_cast: &'static str,
}

pub(super) const SQLITE: Dialect = Dialect {
    columns: rows::COLUMNS,
    id_cast: "",
};

pub(super) const POSTGRES: Dialect = Dialect {
    columns: rows::PG_COLUMNS,
    id_cast: "::uuid",
};

/// The reads, on one backend's pool.
#[derive(Debug)]
pub(super) struct Reader<'p, DB: Database> {
    pub pool: &'p Pool<DB>,
    pub dialect: &'static Dialect,
}

impl<DB> Reader<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: Default + IntoArguments<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> &'static str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'r> String: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
{
    pub async fn get(&self, id: DeliveryId) -> Result<Option<Job>, StoreError> {
        let mut query = self.select();
        query
            .push(" WHERE id = ")
            .push_bind(id.to_string())
            .push(self.dialect.id_cast);
        let row = query.build().fetch_optional(self.pool).await?;
        row.map(|r| rows::job(&r)).transpose()
    }

    pub async fn find(&self, idempotency_key: &str) -> Result<Option<Job>, StoreError> {
        let mut query = self.select();
        query
            .push(" WHERE idempotency_key = ")
            .push_bind(idempotency_key.to_owned());
        let row = query.build().fetch_optional(self.pool).await?;
        row.map(|r| rows::job(&r)).transpose()
    }

    /// Newest first; `before` is the cursor (the last id of the previous page).
    pub async fn list(
        &self,
        filter: &Filter,
        limit: u32,
        before: Option<DeliveryId>,
    ) -> Result<Vec<Job>, StoreError> {
        let mut query = self.select();
        query.push(" WHERE 1 = 1");
        push_filter(&mut query, filter);
        if let Some(before) = before {
            query
                .push(" AND id < ")
                .push_bind(before.to_string())
                .push(self.dialect.id_cast);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let found = query.build().fetch_all(self.pool).await?;
        found.iter().map(rows::job).collect()
    }

    pub async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        let found =
            QueryBuilder::<DB>::new("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
                .build()
                .fetch_all(self.pool)
                .await?;
        rows::counts(&found)
    }

    fn select(&self) -> QueryBuilder<DB> {
        QueryBuilder::new(format!("SELECT {} FROM deliveries", self.dialect.columns))
    }
}

/// ` AND status = … AND source = …` for the parts of `filter` that are set.
fn push_filter<DB: Database>(query: &mut QueryBuilder<DB>, filter: &Filter)
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
