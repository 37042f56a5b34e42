//! The reads both backends answer, written once over sqlx: a delivery by id, by idempotency key,
//! a filtered page of them, the counts per status, and the IVR handshake's registered calls and
//! what the flow pulls of them. Where the dialects differ (the id is text
//! on SQLite and a `uuid` on PostgreSQL) a [`Dialect`] says how.

use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row, Type,
};

use std::time::SystemTime;

use super::calls::{Call, CallData, CallValue};
use super::contract::StoreError;
use super::job::{DeliveryId, Filter, Job, Status, from_ms, to_ms};
use super::rows;
use crate::genesys::{CallAddress, ConversationId};

/// Live calls one address may name that a lookup reads at most: enough to say "several", and
/// to name them in a dead letter.
const MAX_CALLS_PER_ADDRESS: i64 = 10;

/// What differs between the backends in these reads.
#[derive(Debug)]
pub(super) struct Dialect {
    /// The columns [`rows::job`] decodes, selected so that every one is text or bigint.
    columns: &'static str,
    /// Appended to a delivery id bound as text, so it compares with the id column.
    id_cast: &'static str,
    /// `call_data.delivery_id`, selected as text.
    data_delivery_id: &'static str,
}

pub(super) const SQLITE: Dialect = Dialect {
    columns: rows::COLUMNS,
    id_cast: "",
    data_delivery_id: "delivery_id",
};

pub(super) const POSTGRES: Dialect = Dialect {
    columns: rows::PG_COLUMNS,
    id_cast: "::uuid",
    data_delivery_id: "delivery_id::text AS delivery_id",
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

    /// A registered call, live or not.
    pub async fn call(&self, conversation: &ConversationId) -> Result<Option<Call>, StoreError> {
        let mut query = QueryBuilder::<DB>::new(format!(
            "SELECT {} FROM calls WHERE conversation_id = ",
            rows::CALL_COLUMNS
        ));
        query.push_bind(conversation.to_string());
        let row = query.build().fetch_optional(self.pool).await?;
        row.map(|r| rows::call(&r)).transpose()
    }

    /// The live calls `address` names, the most recently registered first.
    pub async fn calls_at(
        &self,
        address: &CallAddress,
        now: SystemTime,
    ) -> Result<Vec<Call>, StoreError> {
        let mut query =
            QueryBuilder::<DB>::new(format!("SELECT {} FROM calls WHERE ", rows::CALL_COLUMNS));
        match address {
            CallAddress::Ani(number) => {
                query.push("ani = ").push_bind(number.to_string());
            }
            CallAddress::Key { name, value } => {
                query
                    .push("conversation_id IN (SELECT conversation_id FROM call_keys WHERE name = ")
                    .push_bind(name.clone())
                    .push(" AND value = ")
                    .push_bind(value.clone())
                    .push(")");
            }
        }
        query
            .push(" AND expires_at > ")
            .push_bind(to_ms(now))
            .push(" ORDER BY updated_at DESC LIMIT ")
            .push_bind(MAX_CALLS_PER_ADDRESS);
        let found = query.build().fetch_all(self.pool).await?;
        found.iter().map(rows::call).collect()
    }

    /// Per key, the newest value committed for the call.
    pub async fn call_data(&self, conversation: &ConversationId) -> Result<CallData, StoreError> {
        let mut query = QueryBuilder::<DB>::new(format!(
            "SELECT key, value, {}, updated_at FROM call_data WHERE conversation_id = ",
            self.dialect.data_delivery_id
        ));
        query.push_bind(conversation.to_string());
        let mut data = CallData::new();
        for row in query.build().fetch_all(self.pool).await? {
            let key: String = row.try_get("key")?;
            let delivery: String = row.try_get("delivery_id")?;
            data.insert(
                key,
                CallValue {
                    value: row.try_get("value")?,
                    delivery_id: rows::delivery_id(&delivery)?,
                    updated_at: from_ms(row.try_get("updated_at")?),
                },
            );
        }
        Ok(data)
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
