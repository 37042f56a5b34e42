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

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use super::calls::register;
use super::claims::{claim_due, claim_target};
use super::inserts::insert;
use super::open_jobs::{HELD_AT_MOST, OpenJobs};
use super::updates::{apply_finish, replay};
use crate::queue::contract::{Batch, BatchResult, StoreError};
use crate::queue::job::to_ms;

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
    let registered = batch
        .registrations
        .iter()
        .map(|call| register(tx, open, call, now))
        .collect::<Result<Vec<_>, _>>()?;
    let mut result = BatchResult {
        inserted: insert(tx, open, &batch.inserts, now)?,
        registered,
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
            .push(claim_target(tx, open, target.as_str(), *lease, now)?);
    }
    if let Some(claim) = &batch.claim {
        result.claimed = claim_due(tx, open, claim, now)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests;
