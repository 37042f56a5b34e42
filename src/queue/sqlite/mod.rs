//! The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so a committed job
//! survives a power cut. All writes go through one connection owned by the queue's writer task;
//! reads use a small pool (WAL lets them run beside the writer).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::job::{
    ClaimedGroup, DeliveryId, Filter, Finish, Inserted, Job, Lease, NewJob, Replay, Status, to_ms,
};
use super::rows;
use super::sql;
use super::store::{Batch, BatchResult, ClaimRequest, Gauges, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("0001_deliveries.sql")),
    (2, include_str!("0002_queue_indexes.sql")),
];

/// Multi-row statements come in these row counts only. SQLite compiles a statement per distinct
/// SQL text, and a 100-row INSERT costs about as much to compile as to run: with a handful of
/// shapes, sqlx's statement cache serves every batch and SQLite compiles nothing.
const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

/// Splits `items` into slices of the sizes in [`CHUNKS`], largest first.
fn chunked<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    for size in CHUNKS {
        while items.len() >= size {
            let (head, tail) = items.split_at(size);
            out.push(head);
            items = tail;
        }
    }
    out
}

#[derive(Debug)]
pub struct SqliteStore {
    readers: SqlitePool,
    options: SqliteConnectOptions,
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
            .connect_with(options.clone())
            .await?;
        Ok(Self { readers, options })
    }

    /// The connection the writer task owns for its whole life. It re-reads index pages on every
    /// commit, so it gets a larger page cache than the readers (16 MiB; the default is 2 MiB):
    /// each page it holds saves a system call per commit.
    ///
    /// Checkpoints run beside it (see `checkpoint`), so most commits copy nothing. But only a
    /// checkpoint that catches up with the last commit lets SQLite start the WAL over, and one
    /// running beside a writer that never pauses never does: at full intake the WAL grew to
    /// 782 MB in 10 s. So the writer also checkpoints once the WAL holds 1,000 pages (SQLite's
    /// default); nothing is committed meanwhile, it catches up, and the WAL stays near 4 MB.
    pub async fn writer_connection(&self) -> Result<SqliteConnection, StoreError> {
        let options = self
            .options
            .clone()
            .pragma("cache_size", "-16384")
            .pragma("wal_autocheckpoint", "1000");
        Ok(SqliteConnection::connect_with(&options).await?)
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

    /// Everything in `batch`, in one transaction (one fsync).
    pub async fn write_batch(
        conn: &mut SqliteConnection,
        batch: &Batch,
    ) -> Result<BatchResult, StoreError> {
        // IMMEDIATE: take the write lock up front. A deferred transaction that reads first and
        // then meets another connection's write (a readiness probe, the purge) fails at once with
        // "database is locked" instead of waiting out busy_timeout.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let now = to_ms(SystemTime::now());
        let mut result = BatchResult::default();
        for chunk in chunked(&batch.inserts) {
            result.inserted.extend(insert(&mut tx, chunk, now).await?);
        }
        for finish in &batch.finishes {
            apply_finish(&mut tx, finish, now).await?;
        }
        for which in &batch.replays {
            result.replayed.push(replay(&mut tx, which, now).await?);
        }
        for (target, lease) in &batch.top_ups {
            result
                .topped_up
                .push(claim_target(&mut tx, target, *lease, now).await?);
        }
        if let Some(claim) = &batch.claim {
            result.claimed = claim_due(&mut tx, claim, now).await?;
        }
        tx.commit().await?;
        Ok(result)
    }

    pub async fn get(&self, id: DeliveryId) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM deliveries WHERE id = ?",
            rows::COLUMNS
        )))
        .bind(id.to_string())
        .fetch_optional(&self.readers)
        .await?;
        row.map(|r| rows::job(&r)).transpose()
    }

    pub async fn find(&self, idempotency_key: &str) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM deliveries WHERE idempotency_key = ?",
            rows::COLUMNS
        )))
        .bind(idempotency_key.to_owned())
        .fetch_optional(&self.readers)
        .await?;
        row.map(|r| rows::job(&r)).transpose()
    }

    /// Newest first; `before` is the cursor (the last id of the previous page).
    pub async fn list(
        &self,
        filter: &Filter,
        limit: u32,
        before: Option<DeliveryId>,
    ) -> Result<Vec<Job>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {} FROM deliveries WHERE 1 = 1",
            rows::COLUMNS
        ));
        sql::push_filter(&mut query, filter);
        if let Some(before) = before {
            query.push(" AND id < ").push_bind(before.to_string());
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let found = query.build().fetch_all(&self.readers).await?;
        found.iter().map(rows::job).collect()
    }

    pub async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        let found = sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
            .fetch_all(&self.readers)
            .await?;
        rows::counts(&found)
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

type Tx<'c> = sqlx::Transaction<'c, Sqlite>;

/// Inserts new jobs; a job whose idempotency key is already stored (or earlier in this batch)
/// is a duplicate of that one. Statements, not rows, cross to SQLite's thread: each chunk is one
/// `INSERT … ON CONFLICT DO NOTHING` that returns the keys it stored, and only keys it did not
/// store (a CRM's retry: rare) are looked up afterwards.
async fn insert(tx: &mut Tx<'_>, jobs: &[NewJob], now: i64) -> Result<Vec<Inserted>, StoreError> {
    let mut first: HashMap<&str, DeliveryId> = HashMap::new();
    let mut fresh = Vec::with_capacity(jobs.len());
    for job in jobs {
        if !first.contains_key(job.idempotency_key.as_str()) {
            first.insert(&job.idempotency_key, job.id);
            fresh.push(job);
        }
    }
    let mut stored = HashSet::with_capacity(fresh.len());
    for rows in chunked(&fresh) {
        stored.extend(insert_rows(tx, rows, now).await?);
    }
    let mut existing: HashMap<String, (DeliveryId, Status)> = HashMap::new();
    let taken: Vec<&str> = first
        .keys()
        .copied()
        .filter(|key| !stored.contains(*key))
        .collect();
    for keys in chunked(&taken) {
        // `keys` is one of the fixed chunk sizes, so this statement is cached too.
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT idempotency_key, id, status FROM deliveries WHERE idempotency_key IN (",
        );
        let mut list = query.separated(", ");
        for key in keys {
            list.push_bind((*key).to_owned());
        }
        query.push(")");
        for row in query.build().fetch_all(&mut **tx).await? {
            let id: String = row.try_get("id")?;
            let status: String = row.try_get("status")?;
            existing.insert(
                row.try_get("idempotency_key")?,
                (
                    DeliveryId::parse(&id)
                        .ok_or_else(|| StoreError::Corrupt(format!("bad id {id:?}")))?,
                    Status::parse(&status).unwrap_or(Status::Pending),
                ),
            );
        }
    }
    jobs.iter()
        .map(|job| {
            let key = job.idempotency_key.as_str();
            if let Some(&(id, status)) = existing.get(key) {
                return Ok(Inserted::Duplicate { id, status });
            }
            match first.get(key) {
                Some(&id) if id == job.id => Ok(Inserted::New(id)),
                // A copy earlier in this batch was stored.
                Some(&id) => Ok(Inserted::Duplicate {
                    id,
                    status: Status::Pending,
                }),
                None => Err(StoreError::Corrupt(format!("no outcome for {key:?}"))),
            }
        })
        .collect()
}

/// Stores `rows` unless their key is taken; returns the keys it stored.
async fn insert_rows(
    tx: &mut Tx<'_>,
    rows: &[&NewJob],
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, participant_id, \
         target, attributes, status, run_at, received_at, updated_at) ",
    );
    query.push_values(rows, |mut row, job| {
        row.push_bind(job.id.to_string())
            .push_bind(job.idempotency_key.clone())
            .push_bind(job.source.clone())
            .push_bind(job.event_id.clone())
            .push_bind(job.conversation_id.clone())
            .push_bind(job.participant_id.clone())
            .push_bind(job.target())
            .push_bind(serde_json::to_string(&job.attributes).unwrap_or_else(|_| "{}".to_owned()))
            .push_bind("pending")
            .push_bind(to_ms(job.received_at))
            .push_bind(to_ms(job.received_at))
            .push_bind(now);
    });
    query.push(" ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key");
    let stored = query.build().fetch_all(&mut **tx).await?;
    stored
        .iter()
        .map(|row| row.try_get(0).map_err(StoreError::from))
        .collect()
}

/// Only jobs still under these leases: one whose lease ran out and that was claimed again
/// belongs to that later attempt.
fn push_leases(query: &mut QueryBuilder<Sqlite>, leases: &[Lease]) {
    query.push(" WHERE status = 'in_flight' AND (id, attempts) IN (VALUES ");
    let mut list = query.separated(", ");
    for lease in leases {
        list.push("(")
            .push_bind_unseparated(lease.id.to_string())
            .push_unseparated(", ")
            .push_bind_unseparated(i64::from(lease.attempt))
            .push_unseparated(")");
    }
    query.push(")");
}

async fn apply_finish(tx: &mut Tx<'_>, finish: &Finish, now: i64) -> Result<(), StoreError> {
    let (mut query, leases) = match finish {
        Finish::Delivered {
            leases,
            participant_id,
            target,
            keys,
            newest,
        } => {
            record_keys(tx, target, keys, *newest, now).await?;
            let mut query = QueryBuilder::<Sqlite>::new(
                "UPDATE deliveries SET lease_until = NULL, status = 'delivered', updated_at = ",
            );
            query
                .push_bind(now)
                .push(", finished_at = ")
                .push_bind(now)
                .push(", delivered_to = ")
                .push_bind(participant_id.clone());
            (query, leases.as_slice())
        }
        failed => match sql::failure_update::<Sqlite>(failed, now) {
            Some(update) => update,
            None => return Ok(()),
        },
    };
    if leases.is_empty() {
        return Ok(());
    }
    push_leases(&mut query, leases);
    query.build().execute(&mut **tx).await?;
    Ok(())
}

/// Remembers, per key, the newest delivered job that wrote it.
async fn record_keys(
    tx: &mut Tx<'_>,
    target: &str,
    keys: &[String],
    newest: DeliveryId,
    now: i64,
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO target_keys (target, key, delivery_id, updated_at) ",
    );
    query.push_values(keys, |mut row, key| {
        row.push_bind(target.to_owned())
            .push_bind(key.clone())
            .push_bind(newest.to_string())
            .push_bind(now);
    });
    query.push(
        " ON CONFLICT (target, key) DO UPDATE SET delivery_id = excluded.delivery_id, updated_at = excluded.updated_at \
         WHERE excluded.delivery_id > target_keys.delivery_id",
    );
    query.build().execute(&mut **tx).await?;
    Ok(())
}

/// Dead letters (and only dead ones) go back to pending, due now, with a fresh attempt count.
async fn replay(tx: &mut Tx<'_>, which: &Replay, now: i64) -> Result<u64, StoreError> {
    let mut query = sql::replay_update::<Sqlite>(which, now, |query, id| {
        query.push_bind(id.to_string());
    });
    Ok(query.build().execute(&mut **tx).await?.rows_affected())
}

/// Leases the due jobs of one target whose head is already in flight with this caller.
async fn claim_target(
    tx: &mut Tx<'_>,
    target: &str,
    lease: Duration,
    now: i64,
) -> Result<Vec<Job>, StoreError> {
    let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = ?, updated_at = ? \
         WHERE finished_at IS NULL AND status = 'pending' AND run_at <= ? AND target = ? RETURNING {}",
        rows::COLUMNS
    )))
    .bind(lease_until)
    .bind(now)
    .bind(now)
    .bind(target.to_owned())
    .fetch_all(&mut **tx)
    .await?;
    let mut jobs = claimed
        .iter()
        .map(rows::job)
        .collect::<Result<Vec<_>, _>>()?;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// Leases the due jobs that head their target's queue, together with every due job behind them
/// for the same target (they go out as one PATCH).
async fn claim_due(
    tx: &mut Tx<'_>,
    &ClaimRequest {
        limit,
        lease,
        expire_leases,
    }: &ClaimRequest,
    now: i64,
) -> Result<Vec<ClaimedGroup>, StoreError> {
    // A lease that ran out belongs to a delivery that hung: the job is due again.
    if expire_leases {
        sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL \
             WHERE finished_at IS NULL AND status = 'in_flight' AND lease_until < ?",
        )
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let targets: Vec<String> = sqlx::query_scalar(
        "SELECT d.target FROM deliveries d \
         WHERE d.finished_at IS NULL AND d.status = 'pending' AND d.run_at <= ?1 \
           AND NOT EXISTS (SELECT 1 FROM deliveries e \
                           WHERE e.target = d.target AND e.id < d.id AND e.finished_at IS NULL) \
         ORDER BY d.run_at LIMIT ?2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut **tx)
    .await?;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let mut query = QueryBuilder::<Sqlite>::new(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = ",
    );
    query
        .push_bind(lease_until)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE finished_at IS NULL AND status = 'pending' AND run_at <= ")
        .push_bind(now)
        .push(" AND target IN (");
    let mut list = query.separated(", ");
    for target in &targets {
        list.push_bind(target.clone());
    }
    query.push(format!(") RETURNING {}", rows::COLUMNS));
    let claimed = query.build().fetch_all(&mut **tx).await?;
    let jobs = claimed
        .iter()
        .map(rows::job)
        .collect::<Result<Vec<_>, _>>()?;
    let targets: BTreeSet<String> = jobs.iter().map(Job::target).collect();
    // What deliveries newer than each group already wrote: one query for all groups.
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT target, key, delivery_id FROM target_keys WHERE target IN (",
    );
    let mut list = query.separated(", ");
    for target in &targets {
        list.push_bind(target.clone());
    }
    query.push(")");
    let written = rows::written_keys(&query.build().fetch_all(&mut **tx).await?)?;
    Ok(ClaimedGroup::assemble(jobs, &written))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A file written by a bridge from before migration 2, with a job still pending in it.
    #[tokio::test]
    async fn a_file_left_at_version_1_with_jobs_in_it_is_upgraded_in_place() {
        let dir = std::env::temp_dir().join(format!("bridge-sqlite-{}", uuid::Uuid::new_v4()));
        let store = SqliteStore::open(&dir).await.expect("open");
        sqlx::raw_sql(AssertSqlSafe(MIGRATIONS[0].1))
            .execute(&store.readers)
            .await
            .expect("version 1");
        sqlx::raw_sql(rows::VERSION_1_WITH_A_JOB)
            .execute(&store.readers)
            .await
            .expect("a job from before");
        assert_eq!(store.migrate().await.expect("upgrade"), vec![2]);
        let mut conn = store.writer_connection().await.expect("writer");
        let claim = ClaimRequest {
            limit: 10,
            lease: Duration::from_secs(30),
            expire_leases: true,
        };
        let claimed = SqliteStore::write_batch(
            &mut conn,
            &Batch {
                claim: Some(claim),
                ..Batch::default()
            },
        )
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
        let dir = std::env::temp_dir().join(format!("bridge-sqlite-{}", uuid::Uuid::new_v4()));
        let store = SqliteStore::open(&dir).await.expect("open");
        store.migrate().await.expect("migrate");
        let mut conn = store.writer_connection().await.expect("writer");
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
        for batch in 0..300 {
            let inserts = (0..64)
                .map(|i| NewJob {
                    id: DeliveryId::new(),
                    idempotency_key: format!("crm:event:{batch}-{i}"),
                    source: "crm".to_owned(),
                    event_id: None,
                    conversation_id: format!("c{i}"),
                    participant_id: None,
                    attributes: [("k".to_owned(), "v".repeat(400))].into(),
                    received_at: SystemTime::now(),
                    replay_key: None,
                })
                .collect();
            let batch = Batch {
                inserts,
                ..Batch::default()
            };
            SqliteStore::write_batch(&mut conn, &batch)
                .await
                .expect("write");
        }
        checkpoints.abort();
        let wal = std::fs::metadata(dir.join("bridge.db-wal"))
            .expect("wal")
            .len();
        let db = std::fs::metadata(dir.join("bridge.db")).expect("db").len();
        assert!(db > 4_000_000, "the rows are in the file: {db} bytes");
        assert!(wal < 8_000_000, "WAL of {wal} bytes");
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn batches_split_into_the_few_cached_shapes() {
        let items: Vec<u32> = (0..150).collect();
        let sizes: Vec<usize> = chunked(&items).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![64, 64, 16, 4, 1, 1]);
        assert_eq!(sizes.iter().sum::<usize>(), 150);
        assert!(chunked::<u32>(&[]).is_empty());
    }
}
