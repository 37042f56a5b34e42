//! The durable job store, as the rest of the queue sees it: SQLite, the embedded default for one
//! process, or PostgreSQL, shared by several replicas. Both offer the same operations.

use std::path::Path;
use std::time::SystemTime;

use super::calls::{Call, CallData};
use super::contract::{Batch, BatchResult, Gauges, StoreError};
use super::job::{DeliveryId, Filter, Job, Status};
use super::postgres::PgStore;
use super::settings::{PostgresSettings, StoreSettings};
use super::sqlite::{SqliteStore, SqliteWriter};
use crate::genesys::{CallAddress, ConversationId};

#[derive(Debug)]
pub enum Store {
    Sqlite(Box<SqliteStore>),
    Postgres(PgStore),
}

/// What the writer task writes through: SQLite's single write connection, or PostgreSQL's pool
/// (a connection per transaction, so a database restart costs failed batches, not the writer).
#[derive(Clone, Debug)]
pub enum WriterConnection {
    Sqlite(SqliteWriter),
    Postgres(PgStore),
}

impl Store {
    /// Opens the configured store; it is migrated by [`Store::migrate`] (or, for PostgreSQL, by
    /// the first operation that needs it).
    pub async fn open(settings: &StoreSettings, throttle_scope: &str) -> Result<Self, StoreError> {
        match settings {
            StoreSettings::Sqlite { data_dir } => Self::open_sqlite(data_dir).await,
            StoreSettings::Postgres(pg) => Self::open_postgres(pg, throttle_scope),
        }
    }

    pub async fn open_sqlite(dir: &Path) -> Result<Self, StoreError> {
        Ok(Store::Sqlite(Box::new(SqliteStore::open(dir).await?)))
    }

    /// Connects lazily: opening never fails because the database is down (see [`PgStore`]).
    pub fn open_postgres(
        settings: &PostgresSettings,
        throttle_scope: &str,
    ) -> Result<Self, StoreError> {
        Ok(Store::Postgres(PgStore::connect_lazy(
            settings,
            throttle_scope,
        )?))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Whether other processes use the store too (leases, 429s and replays are then shared
    /// through it).
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    pub async fn writer_connection(&self) -> Result<WriterConnection, StoreError> {
        match self {
            Store::Sqlite(s) => Ok(WriterConnection::Sqlite(s.writer_connection()?)),
            Store::Postgres(s) => Ok(WriterConnection::Postgres(s.clone())),
        }
    }

    pub async fn write_batch(
        conn: &mut WriterConnection,
        batch: Batch,
    ) -> Result<BatchResult, StoreError> {
        match conn {
            WriterConnection::Sqlite(w) => w.write_batch(batch).await,
            WriterConnection::Postgres(s) => s.write_batch(&batch).await,
        }
    }

    /// Applies pending migrations; the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        match self {
            Store::Sqlite(s) => s.migrate().await,
            Store::Postgres(s) => s.migrate().await,
        }
    }

    /// Waits until the store can be used (a shared store: reachable and migrated).
    pub async fn ready(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.ready().await,
        }
    }

    /// Jobs a previous run of this process left in flight become pending again. Only for a
    /// store no one else uses: on a shared store they may be another replica's, and are taken
    /// back when their lease runs out.
    pub async fn recover_leases(&self) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.recover_leases().await,
            Store::Postgres(_) => Ok(0),
        }
    }

    /// Records a 429's "not before" for every replica; nothing to share for a single process.
    pub async fn record_throttle(&self, until: SystemTime) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.record_throttle(until).await,
        }
    }

    /// The "not before" another replica recorded, if still ahead.
    pub async fn throttled_until(&self) -> Result<Option<SystemTime>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(s) => s.throttled_until().await,
        }
    }

    pub async fn get(&self, id: DeliveryId) -> Result<Option<Job>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reads().get(id).await,
            Store::Postgres(s) => s.reads().await?.get(id).await,
        }
    }

    pub async fn find(&self, idempotency_key: &str) -> Result<Option<Job>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reads().find(idempotency_key).await,
            Store::Postgres(s) => s.reads().await?.find(idempotency_key).await,
        }
    }

    pub async fn list(
        &self,
        filter: &Filter,
        limit: u32,
        before: Option<DeliveryId>,
    ) -> Result<Vec<Job>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reads().list(filter, limit, before).await,
            Store::Postgres(s) => s.reads().await?.list(filter, limit, before).await,
        }
    }

    pub async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reads().counts().await,
            Store::Postgres(s) => s.reads().await?.counts().await,
        }
    }

    pub async fn call(&self, conversation: &ConversationId) -> Result<Option<Call>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reads().call(conversation).await,
            Store::Postgres(s) => s.reads().await?.call(conversation).await,
        }
    }

    pub async fn calls_at(
        &self,
        address: &CallAddress,
        now: SystemTime,
    ) -> Result<Vec<Call>, StoreError> {
        match self {
            Store::Sqlite(s) => s.reads().calls_at(address, now).await,
            Store::Postgres(s) => s.reads().await?.calls_at(address, now).await,
        }
    }

    pub async fn call_data(&self, conversation: &ConversationId) -> Result<CallData, StoreError> {
        match self {
            Store::Sqlite(s) => s.reads().call_data(conversation).await,
            Store::Postgres(s) => s.reads().await?.call_data(conversation).await,
        }
    }

    pub async fn purge(
        &self,
        delivered_before: SystemTime,
        dead_before: SystemTime,
    ) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.purge(delivered_before, dead_before).await,
            Store::Postgres(s) => s.purge(delivered_before, dead_before).await,
        }
    }

    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        match self {
            Store::Sqlite(s) => s.gauges().await,
            Store::Postgres(s) => s.gauges().await,
        }
    }

    /// SQLite's WAL checkpoint; PostgreSQL checkpoints by itself.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.checkpoint().await,
            Store::Postgres(_) => Ok(()),
        }
    }

    pub async fn check_writable(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.check_writable().await,
            Store::Postgres(s) => s.check_writable().await,
        }
    }
}
