//! The pool, built without connecting, and the schema: readiness connects and migrates once,
//! so a replica that started while the database was down carries on as soon as it is back.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use secrecy::ExposeSecret;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::PgStore;
use crate::queue::PostgresSettings;
use crate::queue::contract::StoreError;
use crate::queue::job::to_ms;

pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("0001_deliveries.sql")),
    (2, include_str!("0002_queue_indexes.sql")),
    (3, include_str!("0003_calls.sql")),
    (4, include_str!("0004_jobs_by_conversation.sql")),
];

/// Serialises migrations between replicas starting together (any constant unique to us; per
/// database, so deployments in other schemas of it take turns too, which is harmless).
const MIGRATION_LOCK: i64 = 0x6765_6e65_7379_7301;

impl PgStore {
    /// Builds the pool without connecting: nothing here fails because the database is down.
    pub fn connect_lazy(
        settings: &PostgresSettings,
        throttle_scope: &str,
    ) -> Result<Self, StoreError> {
        let mut options: PgConnectOptions = settings.url.expose_secret().parse().map_err(|_| {
            StoreError::Unavailable(format!(
                "{} is not a PostgreSQL connection URL",
                settings.redacted_url()
            ))
        })?;
        if let Some(password) = &settings.password {
            options = options.password(password.expose_secret());
        }
        // A plan for every execution. sqlx prepares each statement once per connection, and
        // after five runs PostgreSQL may keep a generic plan made while the table was small:
        // the intake's duplicate lookup then hash-joined a sequential scan of every stored job,
        // batch after batch, however large the table grew. Planning costs well under a
        // millisecond against that.
        options = options
            .application_name("genesys-bridge")
            .options([("plan_cache_mode", "force_custom_plan")]);
        // The subscription to other replicas' commits holds a connection for good: one of its
        // own, so it never takes one from the transactions.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(settings.connect_timeout)
            .connect_lazy_with(options.clone());
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            .acquire_timeout(settings.connect_timeout)
            // No ping before every transaction: a broken connection fails its batch (the
            // callers get 503 and retry) and is replaced, instead of every batch paying a
            // round trip.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            listen_pool,
            migrated: Arc::new(AtomicBool::new(false)),
            connecting: Arc::new(tokio::sync::Mutex::new(())),
            throttle_scope: throttle_scope.to_owned(),
        })
    }

    /// Connects and applies pending migrations, once; every operation checks this first, so a
    /// store that started while the database was down becomes usable as soon as it is back.
    /// While one attempt is under way, others fail at once instead of queueing behind it.
    pub async fn ready(&self) -> Result<(), StoreError> {
        if self.migrated.load(Ordering::Acquire) {
            return Ok(());
        }
        let Ok(_attempt) = self.connecting.try_lock() else {
            return Err(StoreError::Unavailable(
                "still connecting to PostgreSQL".to_owned(),
            ));
        };
        if !self.migrated.load(Ordering::Acquire) {
            self.migrate().await?;
            self.migrated.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Applies what is missing; returns the versions applied now. Replicas starting together
    /// take turns (an advisory lock), so each migration runs once.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at bigint NOT NULL)")
            .execute(&mut *tx)
            .await?;
        let applied: HashSet<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
        let mut now_applied = Vec::new();
        for (version, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            sqlx::raw_sql(AssertSqlSafe(*sql)).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(to_ms(SystemTime::now()))
                .execute(&mut *tx)
                .await?;
            tracing::info!(version, "applied store migration");
            now_applied.push(*version);
        }
        tx.commit().await?;
        Ok(now_applied)
    }
}
