//! The group-commit writer: a task owns a write connection and turns everything that is
//! waiting — new jobs from every concurrent intake, delivery outcomes, replays, the workers'
//! claims — into one transaction, one fsync. Durability then costs one commit per batch instead
//! of one per webhook.
//!
//! The intake gets two tasks of its own (one gathers a batch while the other's is written), and
//! the workers' claims and outcomes a third, so neither waits for the other to gather. On
//! PostgreSQL each task has its own connection and the three write side by side; SQLite has one
//! write lock, so there the three hand their batches to its one writer thread, which commits
//! the batches that arrive together in one transaction.

use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use std::sync::Arc;

use super::calls::{Call, NewCall};
use super::contract::{Batch, ClaimRequest, StoreError};
use super::job::{ClaimedGroup, Finish, Inserted, Job, NewJob, Replay, Target};
use super::store::{Store, WriterConnection};

/// Most operations folded into one transaction.
const MAX_BATCH: usize = 1_000;

/// Operations waiting for a writer before callers wait to hand theirs over.
const QUEUE: usize = 16_384;

#[derive(Debug)]
enum Op {
    Insert(NewJob, oneshot::Sender<Result<Inserted, StoreError>>),
    Register(NewCall, oneshot::Sender<Result<Call, StoreError>>),
    Finish(Finish, oneshot::Sender<Result<(), StoreError>>),
    Replay(Replay, oneshot::Sender<Result<u64, StoreError>>),
    Claim(
        ClaimRequest,
        oneshot::Sender<Result<Vec<ClaimedGroup>, StoreError>>,
    ),
    TopUp(
        Target,
        std::time::Duration,
        oneshot::Sender<Result<Vec<Job>, StoreError>>,
    ),
}

/// Cheap to clone; every clone feeds the same writer tasks.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    /// New jobs.
    intake: mpsc::Sender<Op>,
    /// Outcomes, replays and claims.
    deliveries: mpsc::Sender<Op>,
    /// Signalled after a commit that added jobs: workers wake at once instead of polling.
    pub(crate) arrivals: Arc<Notify>,
}

impl Writer {
    /// Starts writer tasks side by side: `intake` tasks for new jobs, all taking batches from one
    /// queue, and one for the rest. With two or more intake tasks, one batch gathers (and its
    /// callers are answered) while another's is written. They stop when every `Writer` clone
    /// is dropped, after writing what they were given.
    pub(super) fn spawn(intake: Vec<WriterConnection>, deliveries: WriterConnection) -> Writer {
        let arrivals = Arc::new(Notify::new());
        Writer {
            intake: run_shared(intake, &arrivals),
            deliveries: run_shared(vec![deliveries], &arrivals),
            arrivals,
        }
    }

    /// Returns once the job is committed (or found to be a duplicate).
    pub(super) async fn insert(&self, job: NewJob) -> Result<Inserted, StoreError> {
        self.call(|reply| Op::Insert(job, reply)).await
    }

    /// Returns once the registration is committed.
    pub(super) async fn register(&self, call: NewCall) -> Result<Call, StoreError> {
        self.call(|reply| Op::Register(call, reply)).await
    }

    pub(super) async fn finish(&self, finish: Finish) -> Result<(), StoreError> {
        self.call(|reply| Op::Finish(finish, reply)).await
    }

    pub(super) async fn replay(&self, which: Replay) -> Result<u64, StoreError> {
        self.call(|reply| Op::Replay(which, reply)).await
    }

    pub(super) async fn claim(
        &self,
        request: ClaimRequest,
    ) -> Result<Vec<ClaimedGroup>, StoreError> {
        self.call(|reply| Op::Claim(request, reply)).await
    }

    /// Leases `target`'s jobs that became due while its delivery was under way, so they go out
    /// in the same PATCH.
    pub(super) async fn top_up(
        &self,
        target: Target,
        lease: std::time::Duration,
    ) -> Result<Vec<Job>, StoreError> {
        self.call(|reply| Op::TopUp(target, lease, reply)).await
    }

    async fn call<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let op = op(reply);
        let queue = match &op {
            Op::Insert(..) | Op::Register(..) => &self.intake,
            _ => &self.deliveries,
        };
        queue
            .send(op)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// One writer task per connection, all taking batches from the queue this returns. A task holds
/// the queue only while it gathers a batch, so the next task gathers while it commits.
fn run_shared(conns: Vec<WriterConnection>, notify: &Arc<Notify>) -> mpsc::Sender<Op> {
    let (tx, rx) = mpsc::channel::<Op>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for conn in conns {
        let (rx, notify) = (Arc::clone(&rx), Arc::clone(notify));
        tokio::spawn(async move { serve(conn, &rx, &notify).await });
    }
    tx
}

/// Commits batch after batch from `rx` on `conn` until every sender is gone.
async fn serve(mut conn: WriterConnection, rx: &Mutex<mpsc::Receiver<Op>>, notify: &Notify) {
    let mut ops = Vec::with_capacity(MAX_BATCH);
    while gather(rx, &mut ops).await {
        let (size, started) = (ops.len(), std::time::Instant::now());
        let added = commit(&mut conn, std::mem::take(&mut ops)).await;
        tracing::debug!(
            ops = size,
            micros = started.elapsed().as_micros() as u64,
            "store batch committed"
        );
        if added {
            notify.notify_one();
        }
    }
}

/// Takes the next batch: what is waiting, plus what requests being handled right now add (one
/// commit, one fsync for all of them). `false` once every sender is gone and the queue is empty.
async fn gather(rx: &Mutex<mpsc::Receiver<Op>>, ops: &mut Vec<Op>) -> bool {
    let mut rx = rx.lock().await;
    if rx.recv_many(ops, MAX_BATCH).await == 0 {
        return false;
    }
    for _ in 0..2 {
        tokio::task::yield_now().await;
        while ops.len() < MAX_BATCH
            && let Ok(op) = rx.try_recv()
        {
            ops.push(op);
        }
    }
    true
}

/// Writes one batch and answers every waiting caller; `true` when new jobs were committed.
async fn commit(conn: &mut WriterConnection, ops: Vec<Op>) -> bool {
    let mut batch = Batch::default();
    let (mut inserts, mut finishes, mut replays, mut claims) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut top_ups = Vec::new();
    let mut registrations = Vec::new();
    for op in ops {
        match op {
            Op::Insert(job, reply) => {
                batch.inserts.push(job);
                inserts.push(reply);
            }
            Op::Register(call, reply) => {
                batch.registrations.push(call);
                registrations.push(reply);
            }
            Op::Finish(finish, reply) => {
                batch.finishes.push(finish);
                finishes.push(reply);
            }
            Op::Replay(which, reply) => {
                batch.replays.push(which);
                replays.push(reply);
            }
            Op::TopUp(target, lease, reply) => {
                batch.top_ups.push((target, lease));
                top_ups.push(reply);
            }
            Op::Claim(request, reply) => {
                // Claims in one batch are merged: the store leases up to their total.
                batch.claim = Some(match batch.claim {
                    None => request,
                    Some(c) => ClaimRequest {
                        limit: c.limit + request.limit,
                        expire_leases: c.expire_leases || request.expire_leases,
                        ..request
                    },
                });
                claims.push((request.limit, reply));
            }
        }
    }
    match Store::write_batch(conn, batch).await {
        Ok(result) => {
            let added = result
                .inserted
                .iter()
                .any(|i| matches!(i, Inserted::New(_)))
                || result.replayed.iter().any(|n| *n > 0)
                // A registration may make jobs that waited for the call due.
                || !result.registered.is_empty();
            for (reply, inserted) in inserts.into_iter().zip(result.inserted) {
                let _ = reply.send(Ok(inserted));
            }
            for (reply, call) in registrations.into_iter().zip(result.registered) {
                let _ = reply.send(Ok(call));
            }
            for reply in finishes {
                let _ = reply.send(Ok(()));
            }
            for (reply, n) in replays.into_iter().zip(result.replayed) {
                let _ = reply.send(Ok(n));
            }
            for (reply, jobs) in top_ups.into_iter().zip(result.topped_up) {
                let _ = reply.send(Ok(jobs));
            }
            let mut groups = result.claimed.into_iter();
            for (limit, reply) in claims {
                let share: Vec<ClaimedGroup> = groups.by_ref().take(limit as usize).collect();
                let _ = reply.send(Ok(share));
            }
            added
        }
        Err(err) => {
            tracing::error!(error = %err, "store write failed; the batch was not committed");
            for reply in inserts {
                let _ = reply.send(Err(err.clone()));
            }
            for reply in registrations {
                let _ = reply.send(Err(err.clone()));
            }
            for reply in finishes {
                let _ = reply.send(Err(err.clone()));
            }
            for reply in replays {
                let _ = reply.send(Err(err.clone()));
            }
            for (_, reply) in claims {
                let _ = reply.send(Err(err.clone()));
            }
            for reply in top_ups {
                let _ = reply.send(Err(err.clone()));
            }
            false
        }
    }
}
