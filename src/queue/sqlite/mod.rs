//! The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so a committed job
//! survives a power cut. The queue's writes go through one connection on a thread of its own
//! ([`SqliteWriter`]), which also keeps the queue's order in memory (`open_jobs`); reads use a
//! small sqlx pool (WAL lets them run beside the writer).
//!
//! Split by role, as `postgres/` is: this file (the file, migrations, upkeep), `writer` (the
//! thread that runs each batch), `inserts`, `updates` (outcomes and replays), `claims`, `calls`
//! (the IVR's registrations and the values kept for its pulls), and `open_jobs` (the queue
//! order the claims read).

mod calls;
mod claims;
mod inserts;
mod open_jobs;
mod updates;
mod writer;

pub(super) use writer::SqliteWriter;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, Sqlite, SqlitePool};

use super::contract::{Gauges, StoreError};
use super::job::to_ms;
use super::reads::{self, Reader};
use super::rows;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("0001_deliveries.sql")),
    (2, include_str!("0002_queue_indexes.sql")),
    (3, include_str!("0003_open_jobs.sql")),
    (4, include_str!("0004_calls.sql")),
    (5, include_str!("0005_jobs_by_conversation.sql")),
];

#[derive(Debug)]
pub struct SqliteStore {
    readers: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/bridge.db`; [`SqliteStore::migrate`] brings its schema up to date.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        let path = dir.join("bridge.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(StoreError::from)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self { readers, path })
    }

    /// The queue's write connection, on its own thread.
    pub fn writer_connection(&self) -> Result<SqliteWriter, StoreError> {
        SqliteWriter::open(&self.path)
    }

    /// Applies what is missing; returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let mut now_applied = Vec::new();
        let mut conn = self.readers.acquire().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .execute(&mut *conn)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = conn.begin().await?;
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if applied.is_none() {
                sqlx::raw_sql(AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
                    .bind(version)
                    .bind(to_ms(SystemTime::now()))
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(version, "applied store migration");
                now_applied.push(*version);
            }
            tx.commit().await?;
        }
        Ok(now_applied)
    }

    /// Jobs left in flight by a process that died are pending again (their leases cannot be
    /// honoured by anyone: this process is the only one using the file).
    pub async fn recover_leases(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE status = 'in_flight'")
            .execute(&self.readers)
            .await?;
        Ok(done.rows_affected())
    }

    /// The reads both backends share (`queue::reads`), on this file.
    pub(in crate::queue) fn reads(&self) -> Reader<'_, Sqlite> {
        Reader {
            pool: &self.readers,
            dialect: &reads::SQLITE,
        }
    }

    /// Forgets finished jobs older than the idempotency window (dead letters: `dead_retention`).
    pub async fn purge(
        &self,
        delivered_before: SystemTime,
        dead_before: SystemTime,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM deliveries WHERE (status = 'delivered' AND finished_at < ?) OR (status = 'dead' AND finished_at < ?)",
        )
        .bind(to_ms(delivered_before))
        .bind(to_ms(dead_before))
        .execute(&self.readers)
        .await?;
        // Key versions older than the idempotency window can no longer meet an older job.
        sqlx::query("DELETE FROM target_keys WHERE updated_at < ?")
            .bind(to_ms(dead_before.min(delivered_before)))
            .execute(&self.readers)
            .await?;
        sqlx::raw_sql(AssertSqlSafe(rows::purge_calls(to_ms(SystemTime::now()))))
            .execute(&self.readers)
            .await?;
        Ok(done.rows_affected())
    }

    /// Jobs pending, in flight and dead, and when the oldest pending one arrived. Each count
    /// reads one of the small partial indexes, never the whole table.
    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        let row = sqlx::query(rows::GAUGES).fetch_one(&self.readers).await?;
        rows::gauges(&row)
    }

    /// Copies committed WAL pages into the database file without blocking the writer (PASSIVE),
    /// so commits never pay for a checkpoint.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.readers)
            .await?;
        Ok(())
    }

    /// A cheap write to prove the file is writable (readiness).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE schema_migrations SET applied_at = applied_at WHERE version = 1")
            .execute(&self.readers)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::genesys::ConversationId;
    use crate::queue::contract::{Batch, ClaimRequest};
    use crate::queue::job::{DeliveryId, NewJob};

    /// A store in a directory of its own; `migrated` applies the migrations.
    pub(in crate::queue::sqlite) async fn temp_store(migrated: bool) -> (SqliteStore, PathBuf) {
        let dir = std::env::temp_dir().join(format!("bridge-sqlite-{}", uuid::Uuid::new_v4()));
        let store = SqliteStore::open(&dir).await.expect("open");
        if migrated {
            store.migrate().await.expect("migrate");
        }
        (store, dir)
    }

    /// A new job from `crm` for conversation `conversation`, writing `k` = `value`.
    pub(in crate::queue::sqlite) fn new_job(key: &str, conversation: &str, value: &str) -> NewJob {
        NewJob {
            id: DeliveryId::new(),
            idempotency_key: format!("crm:event:{key}"),
            source: "crm".to_owned(),
            event_id: Some(key.to_owned()),
            conversation_id: Some(ConversationId::parse(conversation).expect("conversation id")),
            address: None,
            resolution: None,
            participant_id: None,
            attributes: [("k".to_owned(), value.to_owned())].into(),
            received_at: SystemTime::now(),
            replay_key: None,
        }
    }

    /// Ids are parsed when a row is read, so an id the intake could never have stored is the
    /// store's problem (a corrupt row), not a Genesys error at delivery time.
    #[tokio::test]
    async fn a_stored_id_that_is_not_an_id_reads_as_a_corrupt_row() {
        let (store, dir) = temp_store(true).await;
        let id = DeliveryId::new();
        sqlx::query(
            "INSERT INTO deliveries (id, idempotency_key, source, conversation_id, target, attributes, \
                                     status, run_at, received_at, updated_at) \
             VALUES (?, 'crm:event:x', 'crm', '../calls', '../calls/*', '{\"k\":\"v\"}', 'pending', 0, 0, 0)",
        )
        .bind(id.to_string())
        .execute(&store.readers)
        .await
        .expect("a row with a bad conversation id");
        match store.reads().get(id).await {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("conversation"), "{message}");
            }
            other => panic!("expected a corrupt row, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A file written by a bridge from before migration 2, with a job still pending in it.
    #[tokio::test]
    async fn a_file_left_at_version_1_with_jobs_in_it_is_upgraded_in_place() {
        let (store, dir) = temp_store(false).await;
        sqlx::raw_sql(AssertSqlSafe(MIGRATIONS[0].1))
            .execute(&store.readers)
            .await
            .expect("version 1");
        sqlx::raw_sql(rows::VERSION_1_WITH_A_JOB)
            .execute(&store.readers)
            .await
            .expect("a job from before");
        assert_eq!(store.migrate().await.expect("upgrade"), vec![2, 3, 4, 5]);
        let mut conn = store.writer_connection().expect("writer");
        let claim = ClaimRequest {
            limit: 10,
            lease: Duration::from_secs(30),
            expire_leases: true,
        };
        let claimed = conn
            .write_batch(Batch {
                claim: Some(claim),
                ..Batch::default()
            })
            .await
            .expect("claim")
            .claimed;
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].jobs[0].event_id.as_deref(), Some("old"));
        let gauges = store.gauges().await.expect("gauges");
        assert_eq!((gauges.pending, gauges.in_flight), (0, 1));
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Sustained writes with checkpoints running beside them, as under a long burst.
    #[tokio::test]
    async fn the_write_ahead_log_stays_bounded_under_sustained_writes() {
        let (store, dir) = temp_store(true).await;
        let mut conn = store.writer_connection().expect("writer");
        let store = std::sync::Arc::new(store);
        let checkpoints = tokio::spawn({
            let store = std::sync::Arc::clone(&store);
            async move {
                loop {
                    store.checkpoint().await.expect("checkpoint");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        for batch in 0..600 {
            let inserts = (0..64)
                .map(|i| new_job(&format!("{batch}-{i}"), &format!("c{i}"), &"v".repeat(400)))
                .collect();
            let batch = Batch {
                inserts,
                ..Batch::default()
            };
            conn.write_batch(batch).await.expect("write");
        }
        checkpoints.abort();
        let wal = std::fs::metadata(dir.join("bridge.db-wal"))
            .expect("wal")
            .len();
        let db = std::fs::metadata(dir.join("bridge.db")).expect("db").len();
        assert!(db > 4_000_000, "the rows are in the file: {db} bytes");
        let bound = 2 * u64::try_from(writer::WAL_CHECKPOINT_PAGES).expect("pages") * 4096;
        assert!(wal < bound, "WAL of {wal} bytes");
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }
}
