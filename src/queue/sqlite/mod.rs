//! The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so a committed job
//! survives a power cut. All writes go through one connection owned by the queue's writer task;
//! reads use a small pool (WAL lets them run beside the writer).

mod rows;

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::job::{ClaimedGroup, DeliveryId, Filter, Finish, Inserted, Job, LastError, NewJob, Replay, Status, to_ms};
use super::store::{Batch, BatchResult, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("0001_deliveries.sql"))];

/// Rows per multi-row INSERT: SQLite allows 32,766 bound parameters; 11 per row.
const INSERT_CHUNK: usize = 500;

#[derive(Debug)]
pub struct SqliteStore {
    readers: SqlitePool,
    options: SqliteConnectOptions,
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/bridge.db` and applies pending migrations.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
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
        let store = Self { readers, options };
        store.migrate().await?;
        Ok(store)
    }

    /// The connection the writer task owns for its whole life.
    pub async fn writer_connection(&self) -> Result<SqliteConnection, StoreError> {
        Ok(SqliteConnection::connect_with(&self.options).await?)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.readers.acquire().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .execute(&mut *conn)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = conn.begin().await?;
            let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
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
            }
            tx.commit().await?;
        }
        Ok(())
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
    pub async fn write_batch(conn: &mut SqliteConnection, batch: &Batch) -> Result<BatchResult, StoreError> {
        let mut tx = conn.begin().await?;
        let now = to_ms(SystemTime::now());
        let mut result = BatchResult::default();
        for chunk in batch.inserts.chunks(INSERT_CHUNK) {
            result.inserted.extend(insert(&mut tx, chunk, now).await?);
        }
        for finish in &batch.finishes {
            apply_finish(&mut tx, finish, now).await?;
        }
        for which in &batch.replays {
            result.replayed.push(replay(&mut tx, which, now).await?);
        }
        for (target, lease) in &batch.top_ups {
            result.topped_up.push(claim_target(&mut tx, target, *lease, now).await?);
        }
        if let Some(claim) = &batch.claim {
            result.claimed = claim_due(&mut tx, claim.limit, claim.lease, now).await?;
        }
        tx.commit().await?;
        Ok(result)
    }

    pub async fn get(&self, id: DeliveryId) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {} FROM deliveries WHERE id = ?", rows::COLUMNS)))
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        row.map(|r| rows::job(&r)).transpose()
    }

    pub async fn find(&self, idempotency_key: &str) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {} FROM deliveries WHERE idempotency_key = ?", rows::COLUMNS)))
            .bind(idempotency_key.to_owned())
            .fetch_optional(&self.readers)
            .await?;
        row.map(|r| rows::job(&r)).transpose()
    }

    /// Newest first; `before` is the cursor (the last id of the previous page).
    pub async fn list(&self, filter: &Filter, limit: u32, before: Option<DeliveryId>) -> Result<Vec<Job>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {} FROM deliveries WHERE 1 = 1", rows::COLUMNS));
        push_filter(&mut query, filter);
        if let Some(before) = before {
            query.push(" AND id < ").push_bind(before.to_string());
        }
        query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
        let found = query.build().fetch_all(&self.readers).await?;
        found.iter().map(rows::job).collect()
    }

    pub async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        let found = sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
            .fetch_all(&self.readers)
            .await?;
        let mut counts = Vec::new();
        for row in found {
            let status: String = row.try_get("status")?;
            let n: i64 = row.try_get("n")?;
            if let Some(status) = Status::parse(&status) {
                counts.push((status, u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(counts)
    }

    /// Forgets finished jobs older than the idempotency window (dead letters: `dead_retention`).
    pub async fn purge(&self, delivered_before: SystemTime, dead_before: SystemTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM deliveries WHERE (status = 'delivered' AND finished_at < ?) OR (status = 'dead' AND finished_at < ?)",
        )
        .bind(to_ms(delivered_before))
        .bind(to_ms(dead_before))
        .execute(&self.readers)
        .await?;
        Ok(done.rows_affected())
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

async fn insert(tx: &mut Tx<'_>, jobs: &[NewJob], now: i64) -> Result<Vec<Inserted>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, participant_id, \
         target, attributes, status, run_at, received_at, updated_at) ",
    );
    query.push_values(jobs, |mut row, job| {
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
    query.push(" ON CONFLICT (idempotency_key) DO NOTHING RETURNING id");
    let created: std::collections::HashSet<String> = query
        .build()
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<Result<_, _>>()?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        if created.contains(&job.id.to_string()) {
            outcomes.push(Inserted::New(job.id));
            continue;
        }
        let row = sqlx::query("SELECT id, status FROM deliveries WHERE idempotency_key = ?")
            .bind(&job.idempotency_key)
            .fetch_one(&mut **tx)
            .await?;
        let id: String = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        outcomes.push(Inserted::Duplicate {
            id: DeliveryId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("bad id {id:?}")))?,
            status: Status::parse(&status).unwrap_or(Status::Pending),
        });
    }
    Ok(outcomes)
}

fn push_ids(query: &mut QueryBuilder<Sqlite>, ids: &[DeliveryId]) {
    query.push(" WHERE id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id.to_string());
    }
    query.push(")");
}

fn push_filter(query: &mut QueryBuilder<Sqlite>, filter: &Filter) {
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(source) = &filter.source {
        query.push(" AND source = ").push_bind(source.clone());
    }
}

fn push_error(query: &mut QueryBuilder<Sqlite>, error: Option<&LastError>) {
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

async fn apply_finish(tx: &mut Tx<'_>, finish: &Finish, now: i64) -> Result<(), StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new("UPDATE deliveries SET lease_until = NULL, updated_at = ");
    query.push_bind(now);
    let ids = match finish {
        Finish::Delivered { ids, participant_id } => {
            query
                .push(", status = 'delivered', finished_at = ")
                .push_bind(now)
                .push(", delivered_to = ")
                .push_bind(participant_id.clone());
            ids
        }
        Finish::Retry { ids, run_at, error } => {
            query.push(", status = 'pending', run_at = ").push_bind(to_ms(*run_at));
            push_error(&mut query, Some(error));
            ids
        }
        Finish::Dead { ids, reason, error } => {
            query
                .push(", status = 'dead', finished_at = ")
                .push_bind(now)
                .push(", dead_reason = ")
                .push_bind(reason.clone());
            push_error(&mut query, error.as_ref());
            ids
        }
    };
    if ids.is_empty() {
        return Ok(());
    }
    push_ids(&mut query, ids);
    query.build().execute(&mut **tx).await?;
    Ok(())
}

/// Dead letters (and only dead ones) go back to pending, due now, with a fresh attempt count.
async fn replay(tx: &mut Tx<'_>, which: &Replay, now: i64) -> Result<u64, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "UPDATE deliveries SET status = 'pending', finished_at = NULL, dead_reason = NULL, attempts = 0, run_at = ",
    );
    query.push_bind(now).push(", updated_at = ").push_bind(now).push(" WHERE status = 'dead'");
    match which {
        Replay::One(id) => {
            query.push(" AND id = ").push_bind(id.to_string());
        }
        Replay::Matching(filter) => push_filter(&mut query, &Filter { status: None, ..filter.clone() }),
    }
    Ok(query.build().execute(&mut **tx).await?.rows_affected())
}

/// Leases the due jobs of one target whose head is already in flight with this caller.
async fn claim_target(tx: &mut Tx<'_>, target: &str, lease: Duration, now: i64) -> Result<Vec<Job>, StoreError> {
    let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = ?, updated_at = ? \
         WHERE status = 'pending' AND run_at <= ? AND target = ? RETURNING {}",
        rows::COLUMNS
    )))
    .bind(lease_until)
    .bind(now)
    .bind(now)
    .bind(target.to_owned())
    .fetch_all(&mut **tx)
    .await?;
    let mut jobs = claimed.iter().map(rows::job).collect::<Result<Vec<_>, _>>()?;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// Leases the due jobs that head their target's queue, together with every due job behind them
/// for the same target (they go out as one PATCH).
async fn claim_due(tx: &mut Tx<'_>, limit: u32, lease: Duration, now: i64) -> Result<Vec<ClaimedGroup>, StoreError> {
    // A lease that ran out belongs to a delivery that hung: the job is due again.
    sqlx::query("UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE status = 'in_flight' AND lease_until < ?")
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let targets: Vec<String> = sqlx::query_scalar(
        "SELECT d.target FROM deliveries d \
         WHERE d.status = 'pending' AND d.run_at <= ?1 \
           AND NOT EXISTS (SELECT 1 FROM deliveries e \
                           WHERE e.target = d.target AND e.id < d.id AND e.status IN ('pending', 'in_flight')) \
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
    let mut query = QueryBuilder::<Sqlite>::new("UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = ");
    query
        .push_bind(lease_until)
        .push(", updated_at = ")
        .push_bind(now)
        .push(" WHERE status = 'pending' AND run_at <= ")
        .push_bind(now)
        .push(" AND target IN (");
    let mut list = query.separated(", ");
    for target in &targets {
        list.push_bind(target.clone());
    }
    query.push(format!(") RETURNING {}", rows::COLUMNS));
    let claimed = query.build().fetch_all(&mut **tx).await?;
    let mut groups: std::collections::BTreeMap<String, Vec<Job>> = std::collections::BTreeMap::new();
    for row in &claimed {
        let job = rows::job(row)?;
        groups.entry(job.target()).or_default().push(job);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (target, mut jobs) in groups {
        jobs.sort_by_key(|j| j.id);
        let newest = jobs.last().map(|j| j.id.to_string()).unwrap_or_default();
        let later: Vec<String> = sqlx::query_scalar(
            "SELECT attributes FROM deliveries WHERE target = ? AND id > ? AND status = 'delivered'",
        )
        .bind(&target)
        .bind(&newest)
        .fetch_all(&mut **tx)
        .await?;
        let mut superseded: Vec<String> = later
            .iter()
            .filter_map(|json| serde_json::from_str::<std::collections::BTreeMap<String, String>>(json).ok())
            .flat_map(|map| map.into_keys())
            .collect();
        superseded.sort();
        superseded.dedup();
        out.push(ClaimedGroup { jobs, superseded });
    }
    Ok(out)
}
