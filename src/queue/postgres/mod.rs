//! The shared store: one PostgreSQL database for any number of replicas.
//!
//! What SQLite gets from being one process, PostgreSQL gets from the database:
//! - a job is leased by one replica at a time (`FOR UPDATE SKIP LOCKED`, a lease with an expiry
//!   that any replica takes back once it runs out);
//! - one replica at a time owns a participant's due jobs: a claim takes a transaction-scoped
//!   advisory lock on the target and only then looks, with a fresh snapshot, for jobs of it in
//!   flight elsewhere;
//! - idempotency keys and replay keys are unique in the database, so the same event sent to two
//!   replicas is one delivery;
//! - a 429's "not before" is a row every replica reads before it claims.
//!
//! Each replica's writer still folds everything waiting into one transaction (group commit), and
//! multi-row statements take arrays (`UNNEST`), so a batch costs a few round trips whatever its
//! size. The pool connects lazily: the service starts while the database is down, answers 503
//! and reports not-ready until it is back, then migrates and carries on.
//!
//! Split by role, as `sqlite/` is: `connect` (the lazy pool, readiness, migrations), `batch`
//! (one writer transaction), `inserts`, `updates` (outcomes and replays), `claims`, `calls`
//! (the IVR's registrations), `listen` (other replicas' commits, for waiting pulls); this file
//! holds the store and its upkeep.

mod batch;
mod calls;
mod claims;
mod connect;
mod inserts;
mod listen;
mod updates;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Postgres};

use super::contract::{Gauges, StoreError};
use super::job::{from_ms, to_ms};
use super::reads::{self, Reader};
use super::rows;

/// One writer transaction, as `batch` opens it and `claims` and `updates` run in it.
type Tx<'c> = sqlx::Transaction<'c, Postgres>;

/// Cheap to clone: the pool and the migration state are shared.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// One connection, for LISTEN (`listen`).
    listen_pool: PgPool,
    migrated: Arc<AtomicBool>,
    connecting: Arc<tokio::sync::Mutex<()>>,
    /// Whose Genesys rate limit a recorded 429 speaks for.
    throttle_scope: String,
}

impl PgStore {
    /// The reads both backends share (`queue::reads`), once the store is ready.
    pub(in crate::queue) async fn reads(&self) -> Result<Reader<'_, Postgres>, StoreError> {
        self.ready().await?;
        Ok(Reader {
            pool: &self.pool,
            dialect: &reads::POSTGRES,
        })
    }

    /// Forgets finished jobs past their retention, key versions past the idempotency window and
    /// replay keys past their expiry. Every replica runs it; the deletes are idempotent.
    pub async fn purge(
        &self,
        delivered_before: SystemTime,
        dead_before: SystemTime,
    ) -> Result<u64, StoreError> {
        self.ready().await?;
        let done = sqlx::query(
            "DELETE FROM deliveries WHERE (status = 'delivered' AND finished_at < $1) OR (status = 'dead' AND finished_at < $2)",
        )
        .bind(to_ms(delivered_before))
        .bind(to_ms(dead_before))
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM target_keys WHERE updated_at < $1")
            .bind(to_ms(dead_before.min(delivered_before)))
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM replay_keys WHERE expires_at < $1")
            .bind(to_ms(SystemTime::now()))
            .execute(&self.pool)
            .await?;
        sqlx::raw_sql(AssertSqlSafe(rows::purge_calls(to_ms(SystemTime::now()))))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        self.ready().await?;
        let row = sqlx::query(rows::GAUGES).fetch_one(&self.pool).await?;
        rows::gauges(&row)
    }

    /// A cheap write to prove the database takes writes (readiness).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.ready().await?;
        sqlx::query("UPDATE schema_migrations SET applied_at = applied_at WHERE version = 1")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that Genesys asked for no requests before `until`; an earlier time never
    /// shortens a later one.
    pub async fn record_throttle(&self, until: SystemTime) -> Result<(), StoreError> {
        self.ready().await?;
        sqlx::query(
            "INSERT INTO genesys_throttle (scope, not_before) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET not_before = GREATEST(genesys_throttle.not_before, excluded.not_before)",
        )
        .bind(&self.throttle_scope)
        .bind(to_ms(until))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The time before which no replica may call Genesys, if it is still ahead.
    pub async fn throttled_until(&self) -> Result<Option<SystemTime>, StoreError> {
        self.ready().await?;
        let until: Option<i64> =
            sqlx::query_scalar("SELECT not_before FROM genesys_throttle WHERE scope = $1")
                .bind(&self.throttle_scope)
                .fetch_optional(&self.pool)
                .await?;
        Ok(until.map(from_ms).filter(|t| *t > SystemTime::now()))
    }
}

#[cfg(test)]
mod tests;
