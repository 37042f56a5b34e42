//! SQLite's writer: the one write connection, on a thread of its own, which runs each batch
//! from `BEGIN` to `COMMIT` without leaving that thread.
//!
//! The reads stay on sqlx. The writes do not: sqlx runs each statement on a worker thread and
//! hands it back through a channel, so the async writer task had to be scheduled again between
//! two statements. At full intake that was ~36 hand-overs per batch (2,319 a second), and the
//! write thread sat blocked for 44% of the time, waiting for the next statement while requests
//! queued. Here a batch crosses threads twice (in and out), and every statement is prepared
//! once and then run row by row, which costs SQLite a few microseconds.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags, Params, Statement, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::open_jobs::{HELD_AT_MOST, OpenJobs};
use crate::queue::job::{
    ClaimedGroup, DeliveryId, Finish, Inserted, Job, NewJob, Replay, Status, WrittenKeys, to_ms,
};
use crate::queue::rows;
use crate::queue::store::{Batch, BatchResult, ClaimRequest, StoreError};

/// WAL pages (4 KiB) after which the writer checkpoints: about 40 MiB. A checkpoint copies each
/// page once however often the WAL rewrote it, and the queue's index pages are rewritten in
/// nearly every commit, so a larger WAL copies less per job. At full intake, 10 s runs gave
/// 9,814 and 10,468 webhooks/s at SQLite's default of 1,000 pages, 11,873 at 4,000, 12,356 and
/// 13,534 at 10,000, 12,986 at 20,000 and 12,614 at 40,000.
pub(crate) const WAL_CHECKPOINT_PAGES: i64 = 10_000;

type Request = (Batch, oneshot::Sender<Result<BatchResult, StoreError>>);

/// Hands batches to the writer thread; clones hand them to the same thread. The thread stops
/// (and closes the connection) once every clone is dropped and it has written what it holds.
#[derive(Clone, Debug)]
pub struct SqliteWriter {
    batches: mpsc::Sender<Request>,
}

impl SqliteWriter {
    /// Opens the database file (already created and migrated, its leftover leases taken back)
    /// for writing, reads the queue order of its open jobs, and starts the thread.
    ///
    /// The connection gets a larger page cache than the readers (4 MiB; the default is 2 MiB):
    /// it re-reads the pages at the end of the table and its indexes on every commit, and each
    /// page it holds saves a system call. 16 MiB served as well but not better once the queue
    /// order moved into memory (max runs: 13,684 / 13,935 / 13,984 webhooks/s at 16 MiB against
    /// 14,699 / 12,143 / 14,740 at 4 MiB, alternating), and cost 11 to 16 MiB more at peak.
    ///
    /// Checkpoints run beside it (see `SqliteStore::checkpoint`), so most commits copy nothing.
    /// But only a checkpoint that catches up with the last commit lets SQLite start the WAL over,
    /// and one running beside a writer that never pauses never does: at full intake the WAL grew
    /// to 782 MB in 10 s. So the writer also checkpoints once the WAL holds
    /// [`WAL_CHECKPOINT_PAGES`]; nothing is committed meanwhile, it catches up, and the WAL
    /// starts over.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{} cannot use a write-ahead log (journal mode {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -4_096)?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        conn.set_prepared_statement_cache_capacity(32);
        let open = OpenJobs::load(&conn, HELD_AT_MOST)?;
        if open.len() > 0 {
            tracing::info!(
                jobs = open.len(),
                more_in_file = open.has_more_in_file(),
                "open jobs read from the store"
            );
        }
        let (batches, requests) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || serve(conn, open, &requests))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { batches })
    }

    /// Everything in `batch`, in one transaction (one fsync).
    pub async fn write_batch(&mut self, batch: Batch) -> Result<BatchResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.batches
            .send((batch, reply))
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// Writes batches as they come. Batches that arrived while the last commit ran share the next
/// transaction: the async side can gather its next batch while this thread commits, and the
/// two still cost one fsync.
fn serve(mut conn: Connection, mut open: OpenJobs, requests: &mpsc::Receiver<Request>) {
    while let Ok(first) = requests.recv() {
        let mut held = vec![first];
        held.extend(requests.try_iter());
        let started = std::time::Instant::now();
        // A bug that panics fails these batches, not the thread: the transaction rolls back as
        // the panic unwinds, and the next batches are written as usual.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let batches: Vec<&Batch> = held.iter().map(|(batch, _)| batch).collect();
            write_batches(&mut conn, &mut open, &batches)
        }))
        .unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %why, "the SQLite writer panicked; its batches were not written");
            reload(&conn, &mut open);
            Err(StoreError::Unavailable(format!("the writer panicked: {why}")))
        });
        tracing::debug!(
            batches = held.len(),
            micros = started.elapsed().as_micros() as u64,
            "sqlite transaction"
        );
        match written {
            Ok(results) => {
                for ((_, reply), result) in held.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                for (_, reply) in held {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

/// Everything in `batches`, in one transaction; a result per batch. Should that transaction fail
/// (a claim meeting a row it cannot read, say), nothing of it was written, and each batch is
/// written again in a transaction of its own: only the one at fault answers with its error, and
/// the intake's batches never fail for the workers'. (Savepoints would isolate them without the
/// second try, but SQLite then copies every page a batch first touches into a sub-journal: six
/// max runs gave a median of 11,987 webhooks/s (10,933 to 12,555), against 13,895 over ten
/// runs of this way (12,085 to 14,993).) `Err` when even that fails.
fn write_batches(
    conn: &mut Connection,
    open: &mut OpenJobs,
    batches: &[&Batch],
) -> Result<Vec<Result<BatchResult, StoreError>>, StoreError> {
    match write_together(conn, open, batches) {
        Ok(results) => Ok(results.into_iter().map(Ok).collect()),
        Err(err) if batches.len() == 1 => Ok(vec![Err(err)]),
        Err(err) => {
            tracing::warn!(batches = batches.len(), error = %err, "a shared transaction failed; writing its batches one by one");
            Ok(batches
                .iter()
                .map(|batch| write_together(conn, open, &[batch]).map(|mut r| r.remove(0)))
                .collect())
        }
    }
}

/// Builds the queue order again from the rows, after a transaction whose changes to it were
/// rolled back. Should even that fail, the old order stays, marked stale, and the next
/// transaction tries again first: meanwhile a claim may find a job gone (and skip it) or miss
/// one, but nothing is written wrongly, since each write checks the row itself.
fn reload(conn: &Connection, open: &mut OpenJobs) {
    match OpenJobs::load(conn, HELD_AT_MOST) {
        Ok(fresh) => *open = fresh,
        Err(err) => {
            tracing::error!(error = %err, "cannot read the open jobs again; trying before the next transaction");
            open.mark_stale();
        }
    }
}

/// `batches` in one transaction. Should it fail, `open` is read again from the rows.
fn write_together(
    conn: &mut Connection,
    open: &mut OpenJobs,
    batches: &[&Batch],
) -> Result<Vec<BatchResult>, StoreError> {
    if open.is_stale() {
        reload(conn, open);
    }
    let written = try_together(conn, open, batches);
    if written.is_err() {
        reload(conn, open);
    }
    written
}

fn try_together(
    conn: &mut Connection,
    open: &mut OpenJobs,
    batches: &[&Batch],
) -> Result<Vec<BatchResult>, StoreError> {
    // IMMEDIATE: take the write lock up front. A deferred transaction that reads first and then
    // meets another connection's write (a readiness probe, the purge) fails at once with
    // "database is locked" instead of waiting out busy_timeout.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = to_ms(SystemTime::now());
    let results = batches
        .iter()
        .map(|batch| write_batch(&tx, open, batch, now))
        .collect::<Result<Vec<_>, _>>()?;
    // A row the order cannot read must not stop the intake (as failing this transaction
    // would): the jobs from it on wait in the file, and the next transaction tries again.
    if let Err(err) = open.refill(&tx) {
        tracing::error!(error = %err, "cannot read more open jobs from the store; trying again with the next transaction");
    }
    let committing = std::time::Instant::now();
    tx.commit()?;
    tracing::debug!(
        micros = committing.elapsed().as_micros() as u64,
        "sqlite commit"
    );
    Ok(results)
}

fn write_batch(
    tx: &Connection,
    open: &mut OpenJobs,
    batch: &Batch,
    now: i64,
) -> Result<BatchResult, StoreError> {
    let mut result = BatchResult {
        inserted: insert(tx, open, &batch.inserts, now)?,
        ..BatchResult::default()
    };
    for finish in &batch.finishes {
        apply_finish(tx, open, finish, now)?;
    }
    for which in &batch.replays {
        result.replayed.push(replay(tx, open, which, now)?);
    }
    for (target, lease) in &batch.top_ups {
        result
            .topped_up
            .push(claim_target(tx, open, target, *lease, now)?);
    }
    if let Some(claim) = &batch.claim {
        result.claimed = claim_due(tx, open, claim, now)?;
    }
    Ok(result)
}

fn parse_id(text: &str) -> Result<DeliveryId, StoreError> {
    DeliveryId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("bad delivery id {text:?}")))
}

/// Stores each job unless its idempotency key is taken — by an earlier job, or by one earlier
/// in this batch — in which case it is a duplicate of that one.
fn insert(
    tx: &Connection,
    open: &mut OpenJobs,
    jobs: &[NewJob],
    now: i64,
) -> Result<Vec<Inserted>, StoreError> {
    let mut add = tx.prepare_cached(
        "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, participant_id, \
         target, attributes, status, run_at, received_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9, ?10) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )?;
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let attributes = serde_json::to_string(&job.attributes)
            .map_err(|e| StoreError::Corrupt(format!("attributes of {}: {e}", job.id)))?;
        let target = job.target();
        let received_at = to_ms(job.received_at);
        let stored = add.execute(params![
            job.id.to_string(),
            job.idempotency_key,
            job.source,
            job.event_id,
            job.conversation_id,
            job.participant_id,
            target,
            attributes,
            received_at,
            now,
        ])?;
        out.push(if stored == 1 {
            open.add(job.id, &target, received_at);
            Inserted::New(job.id)
        } else {
            // A CRM's retry: rare, so looked up only now.
            let mut find =
                tx.prepare_cached("SELECT id, status FROM deliveries WHERE idempotency_key = ?1")?;
            let (id, status): (String, String) =
                find.query_row([&job.idempotency_key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Inserted::Duplicate {
                id: parse_id(&id)?,
                status: Status::parse(&status).unwrap_or(Status::Pending),
            }
        });
    }
    Ok(out)
}

/// Records an attempt's outcome on the jobs still under its leases: one whose lease ran out and
/// that was claimed again belongs to that later attempt.
fn apply_finish(
    tx: &Connection,
    open: &mut OpenJobs,
    finish: &Finish,
    now: i64,
) -> Result<(), StoreError> {
    const HELD: &str = "WHERE id = ?1 AND attempts = ?2 AND status = 'in_flight' RETURNING target";
    match finish {
        Finish::Delivered {
            leases,
            participant_id,
            target,
            keys,
            newest,
        } => {
            record_keys(tx, target, keys, *newest, now)?;
            let mut done = tx.prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = NULL, status = 'delivered', updated_at = ?3, \
                 finished_at = ?3, delivered_to = ?4 {HELD}"
            ))?;
            for lease in leases {
                let params = params![lease.id.to_string(), lease.attempt, now, participant_id];
                if let Some(target) = changed(&mut done, params)? {
                    open.remove(lease.id, &target);
                }
            }
        }
        Finish::Retry {
            leases,
            run_at,
            error,
        } => {
            let mut retry = tx.prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = NULL, status = 'pending', updated_at = ?3, run_at = ?4, \
                 last_error = ?5, last_status = ?6, last_code = ?7, last_correlation_id = ?8 {HELD}"
            ))?;
            let run_at = to_ms(*run_at);
            for lease in leases {
                let params = params![
                    lease.id.to_string(),
                    lease.attempt,
                    now,
                    run_at,
                    error.message,
                    error.status,
                    error.code,
                    error.correlation_id,
                ];
                if let Some(target) = changed(&mut retry, params)? {
                    open.pending(lease.id, &target, Some(run_at));
                }
            }
        }
        Finish::Dead {
            leases,
            reason,
            error,
        } => {
            let mut dead = tx.prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = NULL, status = 'dead', updated_at = ?3, finished_at = ?3, \
                 dead_reason = ?4, last_error = ?5, last_status = ?6, last_code = ?7, last_correlation_id = ?8 {HELD}"
            ))?;
            let error = error.as_ref();
            for lease in leases {
                let params = params![
                    lease.id.to_string(),
                    lease.attempt,
                    now,
                    reason,
                    error.map(|e| &e.message),
                    error.and_then(|e| e.status),
                    error.and_then(|e| e.code.as_ref()),
                    error.and_then(|e| e.correlation_id.as_ref()),
                ];
                if let Some(target) = changed(&mut dead, params)? {
                    open.remove(lease.id, &target);
                }
            }
        }
        Finish::Released { leases } => {
            let mut release = tx.prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = NULL, status = 'pending', updated_at = ?3 {HELD}"
            ))?;
            for lease in leases {
                let params = params![lease.id.to_string(), lease.attempt, now];
                if let Some(target) = changed(&mut release, params)? {
                    open.pending(lease.id, &target, None);
                }
            }
        }
    }
    Ok(())
}

/// Runs an `UPDATE … RETURNING target` of one row: the target of the row it changed, if any.
fn changed(update: &mut Statement<'_>, params: impl Params) -> Result<Option<String>, StoreError> {
    let mut rows = update.query(params)?;
    Ok(match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}

/// Remembers, per key, the newest delivered job that wrote it.
fn record_keys(
    tx: &Connection,
    target: &str,
    keys: &[String],
    newest: DeliveryId,
    now: i64,
) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO target_keys (target, key, delivery_id, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (target, key) DO UPDATE SET delivery_id = excluded.delivery_id, updated_at = excluded.updated_at \
         WHERE excluded.delivery_id > target_keys.delivery_id",
    )?;
    let newest = newest.to_string();
    for key in keys {
        upsert.execute(params![target, key, newest, now])?;
    }
    Ok(())
}

/// Dead letters (and only dead ones) go back to pending, due now, with a fresh attempt count.
fn replay(
    tx: &Connection,
    open: &mut OpenJobs,
    which: &Replay,
    now: i64,
) -> Result<u64, StoreError> {
    const REPLAY: &str = "UPDATE deliveries SET status = 'pending', finished_at = NULL, dead_reason = NULL, \
         attempts = 0, run_at = ?1, updated_at = ?1 WHERE dead_reason IS NOT NULL AND status = 'dead'";
    let mut update = match which {
        Replay::One(_) => {
            tx.prepare_cached(&format!("{REPLAY} AND id = ?2 RETURNING id, target"))?
        }
        // LIMIT -1: no limit.
        Replay::Dead { .. } => tx.prepare_cached(&format!(
            "{REPLAY} AND id IN (SELECT id FROM deliveries \
             WHERE dead_reason IS NOT NULL AND status = 'dead' AND (?2 IS NULL OR source = ?2) \
             ORDER BY id LIMIT ?3) RETURNING id, target"
        ))?,
    };
    let mut replayed = match which {
        Replay::One(id) => update.query(params![now, id.to_string()])?,
        Replay::Dead { source, limit } => {
            update.query(params![now, source, limit.map_or(-1, i64::from)])?
        }
    };
    let mut count = 0;
    while let Some(row) = replayed.next()? {
        let id: String = row.get(0)?;
        let target: String = row.get(1)?;
        open.add(parse_id(&id)?, &target, now);
        count += 1;
    }
    Ok(count)
}

/// Leases `target`'s due jobs, oldest first: the jobs behind a head being claimed, or those that
/// became due while its delivery was under way (a top-up).
fn claim_target(
    tx: &Connection,
    open: &mut OpenJobs,
    target: &str,
    lease: Duration,
    now: i64,
) -> Result<Vec<Job>, StoreError> {
    let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let mut claim = tx.prepare_cached(&format!(
        "UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1, lease_until = ?1, updated_at = ?2 \
         WHERE id = ?3 AND finished_at IS NULL AND status = 'pending' RETURNING {}",
        rows::COLUMNS
    ))?;
    let mut jobs = Vec::new();
    for id in open.due_jobs(target, now) {
        let mut claimed = claim.query(params![lease_until, now, id.to_string()])?;
        match claimed.next()? {
            Some(row) => {
                jobs.push(rows::decode_job(row)?);
                open.leased(id, target, lease_until);
            }
            // Not open after all: the order is out of step with the rows (it cannot be, short
            // of a bug), so this job goes, and the next reload puts the order right.
            None => {
                tracing::warn!(delivery_id = %id, "a job the queue order holds is not pending");
                open.remove(id, target);
            }
        }
    }
    Ok(jobs)
}

/// Leases the due jobs that head their target's queue, together with every due job behind them
/// for the same target (they go out as one PATCH).
fn claim_due(
    tx: &Connection,
    open: &mut OpenJobs,
    &ClaimRequest {
        limit,
        lease,
        expire_leases,
    }: &ClaimRequest,
    now: i64,
) -> Result<Vec<ClaimedGroup>, StoreError> {
    // A lease that ran out belongs to a delivery that hung: the job is due again.
    if expire_leases {
        let mut expire = tx.prepare_cached(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL \
             WHERE id = ?1 AND status = 'in_flight' AND lease_until < ?2 RETURNING target",
        )?;
        for id in open.expired(now) {
            if let Some(target) = changed(&mut expire, params![id.to_string(), now])? {
                open.pending(id, &target, None);
            }
        }
    }
    let targets = open.due_targets(now, usize::try_from(limit).unwrap_or(usize::MAX));
    let mut jobs = Vec::new();
    // What deliveries newer than each group already wrote.
    let mut written = WrittenKeys::new();
    let mut keys =
        tx.prepare_cached("SELECT target, key, delivery_id FROM target_keys WHERE target = ?1")?;
    for target in &targets {
        jobs.extend(claim_target(tx, open, target, lease, now)?);
        let mut found = keys.query([&**target])?;
        while let Some(row) = found.next()? {
            rows::add_written_key(&mut written, row)?;
        }
    }
    Ok(ClaimedGroup::assemble(jobs, &written))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::queue::sqlite::tests::{new_job, temp_store};

    /// A workers' claim of up to ten targets.
    fn claim_ten() -> Batch {
        Batch {
            claim: Some(ClaimRequest {
                limit: 10,
                lease: Duration::from_secs(30),
                expire_leases: false,
            }),
            ..Batch::default()
        }
    }

    /// Two batches handed over together, the first of which fails (a claim meets a row it
    /// cannot read): the second is written, and nothing of the first is.
    #[tokio::test]
    async fn a_failing_batch_is_rolled_back_alone() {
        let (store, dir) = temp_store(true).await;
        sqlx::raw_sql(
            "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, target, \
                                     attributes, status, run_at, received_at, updated_at) \
             VALUES ('0190f0c4-9f7e-7000-8000-000000000001', 'crm:event:bad', 'crm', 'bad', 'c1', \
                     'c1/*', 'not json', 'pending', 0, 0, 0)",
        )
        .execute(&store.readers)
        .await
        .expect("an unreadable job");
        let claim = claim_ten();
        let job = new_job("good", "c2", "v");
        let intake = Batch {
            inserts: vec![job.clone()],
            ..Batch::default()
        };

        let mut conn = Connection::open(dir.join("bridge.db")).expect("connection");
        let mut open = OpenJobs::load(&conn, HELD_AT_MOST).expect("open jobs");
        let results = write_batches(&mut conn, &mut open, &[&claim, &intake]).expect("written");

        assert!(
            matches!(&results[0], Err(StoreError::Corrupt(_))),
            "{:?}",
            results[0]
        );
        let inserted = &results[1].as_ref().expect("the intake's batch").inserted;
        assert_eq!(inserted, &vec![Inserted::New(job.id)]);
        // The failed transaction's changes to the queue order were thrown away with it: the
        // order holds both jobs, pending, as the rows do.
        assert_eq!(open.len(), 2);
        assert_eq!(open.due_jobs("c2/*", i64::MAX), vec![job.id]);
        let (status, attempts): (String, i64) = conn
            .query_row(
                "SELECT status, attempts FROM deliveries WHERE event_id = 'bad'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the unreadable job");
        assert_eq!(
            (status.as_str(), attempts),
            ("pending", 0),
            "the claim was undone"
        );
        let stored: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM deliveries WHERE idempotency_key = 'crm:event:good'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(stored, 1);
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A backlog larger than the order holds waits in the file; a claim takes the held jobs,
    /// the oldest, and the next transaction with room reads the rest.
    #[tokio::test]
    async fn a_backlog_beyond_the_order_is_claimed_oldest_first() {
        let (_store, dir) = temp_store(true).await;
        let mut conn = Connection::open(dir.join("bridge.db")).expect("connection");
        let mut open = OpenJobs::load(&conn, 3).expect("open jobs");
        let jobs: Vec<NewJob> = (0..7)
            .map(|i| new_job(&format!("e{i}"), "c1", &i.to_string()))
            .collect();
        let intake = Batch {
            inserts: jobs.clone(),
            ..Batch::default()
        };
        write_batches(&mut conn, &mut open, &[&intake]).expect("written");
        assert_eq!(open.len(), 3);
        assert!(open.has_more_in_file());

        let claim = claim_ten();
        let results = write_batches(&mut conn, &mut open, &[&claim]).expect("written");
        let claimed = &results[0].as_ref().expect("claimed").claimed;
        let ids: Vec<DeliveryId> = claimed[0].jobs.iter().map(|j| j.id).collect();
        assert_eq!(ids, vec![jobs[0].id, jobs[1].id, jobs[2].id]);

        // Room for the rest once the claimed jobs are gone (the order's limit is 3 here).
        for id in ids {
            open.remove(id, "c1/*");
        }
        write_batches(&mut conn, &mut open, &[&Batch::default()]).expect("written");
        assert_eq!(
            open.due_jobs("c1/*", i64::MAX),
            vec![jobs[3].id, jobs[4].id, jobs[5].id]
        );
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A row the order cannot read back from the file fails no one's batch: the intake goes on.
    #[tokio::test]
    async fn an_unreadable_job_in_the_file_does_not_stop_the_intake() {
        let (_store, dir) = temp_store(true).await;
        let mut conn = Connection::open(dir.join("bridge.db")).expect("connection");
        // Room for three: the refill below reads three rows, the last of them unreadable.
        let mut open = OpenJobs::load(&conn, 3).expect("open jobs");
        let held: Vec<NewJob> = (0..3)
            .map(|i| new_job(&format!("e{i}"), "c1", &i.to_string()))
            .collect();
        let mut inserts = held.clone();
        inserts.push(new_job("e3", "c1", "3"));
        let intake = Batch {
            inserts,
            ..Batch::default()
        };
        write_batches(&mut conn, &mut open, &[&intake]).expect("written");
        conn.execute(
            "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, target, \
             attributes, status, run_at, received_at, updated_at) \
             VALUES ('zz-not-an-id', 'crm:event:bad', 'crm', 'bad', 'c1', 'c1/*', '{}', 'pending', 0, 0, 0)",
            [],
        )
        .expect("an unreadable job after the one in the file");
        for job in &held {
            open.remove(job.id, "c1/*");
        }

        let later = Batch {
            inserts: vec![new_job("e4", "c1", "4")],
            ..Batch::default()
        };
        let results = write_batches(&mut conn, &mut open, &[&later]).expect("written");

        assert!(
            results[0].as_ref().is_ok_and(|r| r.inserted.len() == 1),
            "{:?}",
            results[0]
        );
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// An order that could not be read again is read before the next transaction: a job it
    /// missed is not left waiting for a restart.
    #[tokio::test]
    async fn an_order_that_could_not_be_read_again_is_read_before_the_next_transaction() {
        let (_store, dir) = temp_store(true).await;
        let mut conn = Connection::open(dir.join("bridge.db")).expect("connection");
        let mut open = OpenJobs::load(&conn, HELD_AT_MOST).expect("open jobs");
        const ROW: &str = "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, target, \
                           attributes, status, run_at, received_at, updated_at) \
                           VALUES (?1, ?2, 'crm', 'e', 'c1', 'c1/*', '{\"k\":\"v\"}', 'pending', 0, 0, 0)";
        conn.execute(ROW, params!["not-an-id", "crm:event:bad"])
            .expect("an unreadable id");
        reload(&conn, &mut open);
        assert!(open.is_stale());

        conn.execute("DELETE FROM deliveries", [])
            .expect("repaired");
        let id = DeliveryId::new();
        conn.execute(ROW, params![id.to_string(), "crm:event:good"])
            .expect("a job the order missed");
        let claim = claim_ten();
        let results = write_batches(&mut conn, &mut open, &[&claim]).expect("written");

        let claimed = &results[0].as_ref().expect("the claim").claimed;
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].jobs[0].id, id);
        assert!(!open.is_stale());
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }
}
