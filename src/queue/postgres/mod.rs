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

mod updates;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, QueryBuilder, Row};

use super::job::{
    ClaimedGroup, DeliveryId, Filter, Finish, Inserted, Job, NewJob, Replay, Status, to_ms,
};
use super::rows::{self, PG_COLUMNS};
use super::sql;
use super::store::{Batch, BatchResult, ClaimRequest, Gauges, PostgresSettings, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("0001_deliveries.sql")),
    (2, include_str!("0002_queue_indexes.sql")),
];

/// Serialises migrations between replicas starting together (any constant unique to us; per
/// database, so deployments in other schemas of it take turns too, which is harmless).
const MIGRATION_LOCK: i64 = 0x6765_6e65_7379_7301;

/// Cheap to clone: the pool and the migration state are shared.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    migrated: Arc<AtomicBool>,
    connecting: Arc<tokio::sync::Mutex<()>>,
    /// Whose Genesys rate limit a recorded 429 speaks for.
    throttle_scope: String,
}

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

    /// Everything in `batch`, in one transaction.
    pub async fn write_batch(&self, batch: &Batch) -> Result<BatchResult, StoreError> {
        self.ready().await?;
        let now = to_ms(SystemTime::now());
        let only_inserts = batch.finishes.is_empty()
            && batch.replays.is_empty()
            && batch.top_ups.is_empty()
            && batch.claim.is_none();
        if only_inserts {
            // The intake's batches: one statement, atomic on its own, committed when it returns.
            let mut conn = self.pool.acquire().await?;
            return Ok(BatchResult {
                inserted: insert(&mut conn, &batch.inserts, now).await?,
                ..BatchResult::default()
            });
        }
        let mut tx = self.pool.begin().await?;
        let mut result = BatchResult {
            inserted: insert(&mut tx, &batch.inserts, now).await?,
            ..BatchResult::default()
        };
        // The common outcome goes in two statements for the whole batch; failures one by one.
        let (delivered, failed): (Vec<&Finish>, Vec<&Finish>) = batch
            .finishes
            .iter()
            .partition(|f| matches!(f, Finish::Delivered { .. }));
        apply_delivered(&mut tx, &delivered, now).await?;
        for finish in failed {
            apply_finish(&mut tx, finish, now).await?;
        }
        for which in &batch.replays {
            result.replayed.push(replay(&mut tx, which, now).await?);
        }
        if !batch.top_ups.is_empty() || batch.claim.is_some() {
            // The planner's row counts for a queue table are stale by nature (a burst fills it
            // between two autovacuum runs); expecting a handful of rows, it sorted every due job
            // instead of walking the run_at index to the limit (100 ms a claim at a 50,000-job
            // backlog, against 2 ms), and walked every due job to find one participant's.
            // Without sorts or bitmap scans, the ORDER BY of each query below leaves it one
            // index to use: run_at for the heads, (target, id) for a participant's jobs.
            sqlx::raw_sql("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off")
                .execute(&mut *tx)
                .await?;
        }
        for (target, lease) in &batch.top_ups {
            result
                .topped_up
                .push(claim_target(&mut tx, target, *lease, now).await?);
        }
        if let Some(claim) = &batch.claim {
            result.claimed = claim_due(&mut tx, &self.throttle_scope, claim, now).await?;
        }
        tx.commit().await?;
        Ok(result)
    }

    pub async fn get(&self, id: DeliveryId) -> Result<Option<Job>, StoreError> {
        self.ready().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PG_COLUMNS} FROM deliveries WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| rows::job(&r)).transpose()
    }

    pub async fn find(&self, idempotency_key: &str) -> Result<Option<Job>, StoreError> {
        self.ready().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PG_COLUMNS} FROM deliveries WHERE idempotency_key = $1"
        )))
        .bind(idempotency_key.to_owned())
        .fetch_optional(&self.pool)
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
        self.ready().await?;
        let mut query = QueryBuilder::<Postgres>::new(format!(
            "SELECT {PG_COLUMNS} FROM deliveries WHERE true"
        ));
        sql::push_filter(&mut query, filter);
        if let Some(before) = before {
            query.push(" AND id < ").push_bind(before.as_uuid());
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let found = query.build().fetch_all(&self.pool).await?;
        found.iter().map(rows::job).collect()
    }

    pub async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        self.ready().await?;
        let found = sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        rows::counts(&found)
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
        Ok(until
            .map(super::job::from_ms)
            .filter(|t| *t > SystemTime::now()))
    }
}

type Tx<'c> = sqlx::Transaction<'c, Postgres>;

/// Inserts new jobs in one statement (remembering their replay keys in the same one), so an
/// intake batch costs one round trip. A replay key already accepted for another event makes the
/// job a replay; an idempotency key already stored (by any replica, or earlier in this batch)
/// makes it a duplicate of that job. Rows go in key order, so two replicas inserting overlapping
/// batches wait for each other instead of deadlocking.
async fn insert(
    conn: &mut PgConnection,
    jobs: &[NewJob],
    now: i64,
) -> Result<Vec<Inserted>, StoreError> {
    let plan = Plan::of(jobs);
    let mut columns = Columns::default();
    for &i in &plan.sent {
        columns.push(&jobs[i], plan.replay_key_sent[i].then_some(&jobs[i]));
    }
    let mut answers: HashMap<String, Inserted> = HashMap::new();
    if !plan.sent.is_empty() {
        let rows = sqlx::query(
            "WITH input AS ( \
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                                      $7::text[], $8::text[], $9::bigint[], $10::text[], $11::bigint[]) \
                 AS t(id, key, source, event_id, conversation_id, participant_id, target, attributes, received_at, \
                      replay_key, replay_expires)), \
             refused AS ( \
                 SELECT i.key FROM input i JOIN replay_keys r ON r.key = i.replay_key \
                 WHERE r.expires_at > $12 AND r.idempotency_key <> i.key), \
             remembered AS ( \
                 INSERT INTO replay_keys (key, idempotency_key, expires_at) \
                 SELECT replay_key, key, replay_expires FROM input \
                 WHERE replay_key IS NOT NULL AND key NOT IN (SELECT key FROM refused) \
                 ON CONFLICT (key) DO UPDATE SET idempotency_key = excluded.idempotency_key, expires_at = excluded.expires_at \
                 WHERE replay_keys.expires_at <= $12), \
             stored AS ( \
                 INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, participant_id, \
                                         target, attributes, status, run_at, received_at, updated_at) \
                 SELECT id, key, source, event_id, conversation_id, participant_id, target, attributes, 'pending', \
                        received_at, received_at, $12 \
                 FROM input WHERE key NOT IN (SELECT key FROM refused) \
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key) \
             SELECT i.key, i.id::text AS id, \
                    EXISTS (SELECT 1 FROM refused f WHERE f.key = i.key) AS replayed, \
                    EXISTS (SELECT 1 FROM stored s WHERE s.idempotency_key = i.key) AS new, \
                    d.id::text AS existing_id, d.status AS existing_status \
             FROM input i LEFT JOIN deliveries d ON d.idempotency_key = i.key",
        )
        .bind(columns.ids)
        .bind(columns.keys)
        .bind(columns.sources)
        .bind(columns.event_ids)
        .bind(columns.conversations)
        .bind(columns.participants)
        .bind(columns.targets)
        .bind(columns.attributes)
        .bind(columns.received)
        .bind(columns.replay_keys)
        .bind(columns.replay_expiries)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        let mut unseen = Vec::new();
        for row in rows {
            let key: String = row.try_get("key")?;
            let answer = if row.try_get("replayed")? {
                Inserted::Replayed
            } else if row.try_get("new")? {
                Inserted::New(parse_id(&row.try_get::<String, _>("id")?)?)
            } else if let Some(id) = row.try_get::<Option<String>, _>("existing_id")? {
                let status: Option<String> = row.try_get("existing_status")?;
                Inserted::Duplicate {
                    id: parse_id(&id)?,
                    status: status
                        .as_deref()
                        .and_then(Status::parse)
                        .unwrap_or(Status::Pending),
                }
            } else {
                // Stored by a transaction that committed while this statement ran.
                unseen.push(key);
                continue;
            };
            answers.insert(key, answer);
        }
        if !unseen.is_empty() {
            for row in sqlx::query(
                "SELECT idempotency_key, id::text AS id, status FROM deliveries WHERE idempotency_key = ANY($1)",
            )
            .bind(&unseen)
            .fetch_all(&mut *conn)
            .await?
            {
                let status: String = row.try_get("status")?;
                answers.insert(
                    row.try_get("idempotency_key")?,
                    Inserted::Duplicate {
                        id: parse_id(&row.try_get::<String, _>("id")?)?,
                        status: Status::parse(&status).unwrap_or(Status::Pending),
                    },
                );
            }
        }
    }
    jobs.iter()
        .enumerate()
        .map(|(i, job)| {
            if plan.replayed_in_batch.contains(&i) {
                return Ok(Inserted::Replayed);
            }
            let answer = answers.get(&job.idempotency_key).copied().ok_or_else(|| {
                // Conflicted with a job that is gone already: vanishingly rare.
                StoreError::Unavailable(format!(
                    "idempotency key {:?} conflicted with a job that is gone; try again",
                    job.idempotency_key
                ))
            })?;
            Ok(match answer {
                // A copy of a job stored earlier in this batch.
                Inserted::New(id) if id != job.id => Inserted::Duplicate {
                    id,
                    status: Status::Pending,
                },
                other => other,
            })
        })
        .collect()
}

fn parse_id(text: &str) -> Result<DeliveryId, StoreError> {
    DeliveryId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("bad id {text:?}")))
}

/// Which of a batch's jobs go to the database, and which the batch answers itself.
struct Plan {
    /// Positions of the jobs sent: the first of each idempotency key, in key order.
    sent: Vec<usize>,
    /// Per position: whether its replay key is sent (only the first holder of a key is).
    replay_key_sent: Vec<bool>,
    /// Positions whose replay key an earlier job of this batch holds for another event.
    replayed_in_batch: HashSet<usize>,
}

impl Plan {
    fn of(jobs: &[NewJob]) -> Self {
        let mut replay_owner: HashMap<&str, &str> = HashMap::new();
        let mut replayed_in_batch = HashSet::new();
        let mut replay_key_sent = vec![false; jobs.len()];
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, job) in jobs.iter().enumerate() {
            if let Some(replay) = &job.replay_key {
                match replay_owner.get(replay.key.as_str()) {
                    Some(owner) if *owner != job.idempotency_key => {
                        replayed_in_batch.insert(i);
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        replay_owner.insert(&replay.key, &job.idempotency_key);
                        replay_key_sent[i] = true;
                    }
                }
            }
            first.entry(job.idempotency_key.as_str()).or_insert(i);
        }
        let mut sent: Vec<usize> = first.into_values().collect();
        sent.sort_by(|a, b| jobs[*a].idempotency_key.cmp(&jobs[*b].idempotency_key));
        Self {
            sent,
            replay_key_sent,
            replayed_in_batch,
        }
    }
}

/// Column arrays for one `UNNEST` insert.
#[derive(Default)]
struct Columns {
    ids: Vec<uuid::Uuid>,
    keys: Vec<String>,
    sources: Vec<String>,
    event_ids: Vec<Option<String>>,
    conversations: Vec<String>,
    participants: Vec<Option<String>>,
    targets: Vec<String>,
    attributes: Vec<String>,
    received: Vec<i64>,
    replay_keys: Vec<Option<String>>,
    replay_expiries: Vec<Option<i64>>,
}

impl Columns {
    /// One job; `replay` is the job again when its replay key is to be remembered.
    fn push(&mut self, job: &NewJob, replay: Option<&NewJob>) {
        self.ids.push(job.id.as_uuid());
        self.keys.push(job.idempotency_key.clone());
        self.sources.push(job.source.clone());
        self.event_ids.push(job.event_id.clone());
        self.conversations.push(job.conversation_id.clone());
        self.participants.push(job.participant_id.clone());
        self.targets.push(job.target());
        self.attributes
            .push(serde_json::to_string(&job.attributes).unwrap_or_else(|_| "{}".to_owned()));
        self.received.push(to_ms(job.received_at));
        let replay = replay.and_then(|j| j.replay_key.as_ref());
        self.replay_keys.push(replay.map(|r| r.key.clone()));
        self.replay_expiries
            .push(replay.map(|r| to_ms(r.expires_at)));
    }
}

/// Records delivered jobs (still under their lease) and, per participant and key, the newest
/// job that wrote it.
async fn apply_delivered(
    tx: &mut Tx<'_>,
    finishes: &[&Finish],
    now: i64,
) -> Result<(), StoreError> {
    let (mut ids, mut attempts, mut participants) = (Vec::new(), Vec::new(), Vec::new());
    // (target, key) → newest writer; sorted, so concurrent transactions lock rows in one order.
    let mut written: BTreeMap<(&str, &str), DeliveryId> = BTreeMap::new();
    for finish in finishes {
        let Finish::Delivered {
            leases,
            participant_id,
            target,
            keys,
            newest,
        } = finish
        else {
            continue;
        };
        for lease in leases {
            ids.push(lease.id.as_uuid());
            attempts.push(i64::from(lease.attempt));
            participants.push(participant_id.clone());
        }
        for key in keys {
            let entry = written.entry((target, key)).or_insert(*newest);
            *entry = (*entry).max(*newest);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE deliveries SET status = 'delivered', lease_until = NULL, updated_at = $1, finished_at = $1, \
                delivered_to = lease.participant \
         FROM UNNEST($2::uuid[], $3::bigint[], $4::text[]) AS lease(id, attempt, participant) \
         WHERE deliveries.id = lease.id AND deliveries.attempts = lease.attempt AND deliveries.status = 'in_flight'",
    )
    .bind(now)
    .bind(&ids)
    .bind(&attempts)
    .bind(&participants)
    .execute(&mut **tx)
    .await?;
    if written.is_empty() {
        return Ok(());
    }
    let (mut targets, mut keys, mut writers) = (Vec::new(), Vec::new(), Vec::new());
    for ((target, key), newest) in written {
        targets.push(target.to_owned());
        keys.push(key.to_owned());
        writers.push(newest.as_uuid());
    }
    sqlx::query(
        "INSERT INTO target_keys (target, key, delivery_id, updated_at) \
         SELECT target, key, delivery_id, $4 FROM UNNEST($1::text[], $2::text[], $3::uuid[]) AS t(target, key, delivery_id) \
         ON CONFLICT (target, key) DO UPDATE SET delivery_id = excluded.delivery_id, updated_at = excluded.updated_at \
         WHERE excluded.delivery_id > target_keys.delivery_id",
    )
    .bind(&targets)
    .bind(&keys)
    .bind(&writers)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A failed attempt's outcome: pending again (when) or dead (why), with the error.
async fn apply_finish(tx: &mut Tx<'_>, finish: &Finish, now: i64) -> Result<(), StoreError> {
    let Some((mut query, leases)) = updates::failure_update(finish, now) else {
        return apply_delivered(tx, &[finish], now).await;
    };
    if leases.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = leases.iter().map(|l| l.id.as_uuid()).collect();
    let attempts: Vec<i64> = leases.iter().map(|l| i64::from(l.attempt)).collect();
    // Only under this attempt's lease: a job whose lease ran out and that another replica took
    // over belongs to that replica now.
    query
        .push(" FROM UNNEST(")
        .push_bind(ids)
        .push("::uuid[], ")
        .push_bind(attempts)
        .push("::bigint[]) AS lease(id, attempt) WHERE deliveries.id = lease.id AND deliveries.attempts = lease.attempt AND deliveries.status = 'in_flight'");
    query.build().execute(&mut **tx).await?;
    Ok(())
}

/// Dead letters (and only dead ones) go back to pending, due now, with a fresh attempt count.
async fn replay(tx: &mut Tx<'_>, which: &Replay, now: i64) -> Result<u64, StoreError> {
    let mut query = updates::replay_update(which, now);
    Ok(query.build().execute(&mut **tx).await?.rows_affected())
}

/// The advisory lock key of a target (an SQL expression over `target`): a claim of the target
/// holds it until its transaction ends. Advisory locks are per database, so the key includes the
/// schema: deployments sharing a database in different schemas never wait for each other.
fn target_lock(target: &str) -> String {
    format!("hashtextextended(current_schema() || '/' || {target}, 7)")
}

/// Leases the due jobs of one target whose delivery this replica has under way.
async fn claim_target(
    tx: &mut Tx<'_>,
    target: &str,
    lease: Duration,
    now: i64,
) -> Result<Vec<Job>, StoreError> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT pg_advisory_xact_lock({})",
        target_lock("$1")
    )))
    .bind(target)
    .execute(&mut **tx)
    .await?;
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = $1, updated_at = $2 \
         WHERE id IN (SELECT id FROM deliveries WHERE finished_at IS NULL AND status = 'pending' AND run_at <= $2 AND target = $3 \
                      ORDER BY target, id FOR UPDATE SKIP LOCKED) \
         RETURNING {PG_COLUMNS}"
    )))
    .bind(now + millis(lease))
    .bind(now)
    .bind(target)
    .fetch_all(&mut **tx)
    .await?;
    let mut jobs = claimed
        .iter()
        .map(rows::job)
        .collect::<Result<Vec<_>, _>>()?;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Leases due jobs, one group per target: the target's queue head and every due job behind it
/// (they go out as one PATCH). Nothing while Genesys' "not before" is ahead.
async fn claim_due(
    tx: &mut Tx<'_>,
    throttle_scope: &str,
    &ClaimRequest {
        limit,
        lease,
        expire_leases,
    }: &ClaimRequest,
    now: i64,
) -> Result<Vec<ClaimedGroup>, StoreError> {
    let throttled: Option<i64> = sqlx::query_scalar(
        "SELECT not_before FROM genesys_throttle WHERE scope = $1 AND not_before > $2",
    )
    .bind(throttle_scope)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    if throttled.is_some() {
        return Ok(Vec::new());
    }
    // A lease that ran out belongs to a replica that died or a delivery that hung: due again.
    if expire_leases {
        sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL \
             WHERE id IN (SELECT id FROM deliveries \
                          WHERE finished_at IS NULL AND status = 'in_flight' AND lease_until < $1 \
                          FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    // Candidate targets: due heads with nothing older still open (one index probe each). Those
    // another replica is claiming right now are skipped (their advisory lock is taken); a
    // target with a job in flight is refused by the claim below.
    let targets: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT target FROM ( \
             SELECT d.target FROM deliveries d \
             WHERE d.finished_at IS NULL AND d.status = 'pending' AND d.run_at <= $1 \
               AND NOT EXISTS (SELECT 1 FROM deliveries e \
                               WHERE e.target = d.target AND e.finished_at IS NULL AND e.id < d.id) \
             ORDER BY d.run_at LIMIT $2) heads \
         WHERE pg_try_advisory_xact_lock({})",
        target_lock("heads.target")
    )))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut **tx)
    .await?;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    // This statement's snapshot is taken after the locks: whatever another replica claimed for
    // these targets is committed and visible, so a target in flight elsewhere is left alone.
    // Which targets have a job in flight is looked up once for all of them, not once a row.
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = $1, updated_at = $2 \
         WHERE id IN (SELECT d.id FROM deliveries d \
                      WHERE d.finished_at IS NULL AND d.status = 'pending' AND d.run_at <= $2 AND d.target = ANY($3) \
                        AND d.target NOT IN (SELECT e.target FROM deliveries e \
                                             WHERE e.target = ANY($3) AND e.finished_at IS NULL AND e.status = 'in_flight') \
                      ORDER BY d.target, d.id FOR UPDATE SKIP LOCKED) \
         RETURNING {PG_COLUMNS}"
    )))
    .bind(now + millis(lease))
    .bind(now)
    .bind(&targets)
    .fetch_all(&mut **tx)
    .await?;
    let jobs = claimed
        .iter()
        .map(rows::job)
        .collect::<Result<Vec<_>, _>>()?;
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    // What deliveries newer than each group already wrote: one query for all groups.
    let found = sqlx::query(
        "SELECT target, key, delivery_id::text AS delivery_id FROM target_keys WHERE target = ANY($1)",
    )
    .bind(&targets)
    .fetch_all(&mut **tx)
    .await?;
    let written = rows::written_keys(&found)?;
    Ok(ClaimedGroup::assemble(jobs, &written))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
