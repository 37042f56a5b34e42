//! The durable job store: accepted means stored, and kept until delivered or dead.
//!
//! The intake commits each accepted webhook as a job ([`Queue::enqueue`] returns only after the
//! commit; concurrent intakes share one transaction through the group-commit `writer`). Delivery
//! leases due jobs and records their outcome through a [`Consumer`]; operators read and replay
//! them through the [`Queue`]. The IVR handshake's calls (`calls`) live in the same store: a
//! registration is committed by the same writer, and a job for a registered call keeps its
//! values for the flow's pull in the same transaction. One contract (`contract`), two backends split by role alike:
//! `sqlite/` (embedded, one process) and `postgres/` (shared by replicas); the reads both run
//! are written once (`reads`).

pub mod calls;
mod consumer;
mod contract;
pub mod job;
mod postgres;
mod reads;
mod rows;
mod settings;
mod sqlite;
mod store;
mod waiters;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::genesys::{CallAddress, ConversationId};

pub use calls::{Call, CallData, CallValue, NewCall};
pub use consumer::Consumer;
pub use contract::{ClaimRequest, StoreError};
pub use job::{
    ClaimedGroup, DeliveryId, Filter, Finish, Inserted, Job, LastError, Lease, NewJob, Replay,
    ReplayKey, Status, Target,
};
pub use settings::{PostgresSettings, QueueSettings, StoreSettings};
pub use store::Store;

use waiters::{CallWaiters, Waiters};
use writer::Writer;

/// How often `Prefer: wait` looks at a shared store for an outcome another replica recorded.
const WAIT_POLL: Duration = Duration::from_millis(50);

/// How often a waiting pull looks at a shared store for a webhook another replica committed
/// while the store's notifications of commits are not coming in (not subscribed yet, or the
/// subscription was lost): one primary-key read per waiting pull, and at most this much added
/// to the answer.
const PULL_POLL: Duration = Duration::from_millis(20);

/// The same while notifications come in: only a safety net.
const PULL_POLL_NOTIFIED: Duration = Duration::from_secs(1);

/// Brings a shared store up (connect, migrate), retrying until it is; until then writes fail
/// with 503 and readiness says why.
async fn connect_in_background(store: Arc<Store>) {
    let mut delay = Duration::from_millis(250);
    loop {
        match store.ready().await {
            Ok(()) => {
                tracing::info!(backend = store.backend(), "store ready");
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "store not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Queue {
    store: Arc<Store>,
    writer: Writer,
    waiters: Arc<Waiters>,
    call_waiters: Arc<CallWaiters>,
    /// Whether other replicas' commits reach `call_waiters` through the store's notifications.
    notified: Arc<AtomicBool>,
    settings: Arc<QueueSettings>,
}

impl Queue {
    /// Opens the store and starts the writer. SQLite is migrated and its leftover leases taken
    /// back before this returns; PostgreSQL is connected and migrated too if it answers, and
    /// otherwise in the background (the service starts and reports not-ready meanwhile). `throttle_scope` names the Genesys org
    /// whose 429s replicas share.
    pub async fn open(settings: QueueSettings, throttle_scope: &str) -> Result<Self, StoreError> {
        let store = Arc::new(Store::open(&settings.store, throttle_scope).await?);
        match &*store {
            Store::Sqlite(_) => {
                store.migrate().await?;
                let recovered = store.recover_leases().await?;
                if recovered > 0 {
                    tracing::warn!(
                        jobs = recovered,
                        "took back jobs left in flight by a previous process"
                    );
                }
            }
            // One attempt now (bounded by store.connect_timeout), so a replica whose database
            // is up is ready when it starts listening; otherwise it starts not-ready and keeps
            // trying.
            Store::Postgres(_) => {
                if let Err(err) = store.ready().await {
                    tracing::warn!(error = %err, "store not reachable at startup; starting not-ready and retrying");
                    tokio::spawn(connect_in_background(Arc::clone(&store)));
                }
            }
        }
        let writer = match &*store {
            // Three tasks gather batches for the one SQLite writer thread, which commits what
            // they hand it together: the next batch gathers while one commits.
            Store::Sqlite(_) => {
                let conn = store.writer_connection().await?;
                Writer::spawn(vec![conn.clone(), conn.clone()], conn)
            }
            Store::Postgres(_) => Writer::spawn(
                vec![
                    store.writer_connection().await?,
                    store.writer_connection().await?,
                ],
                store.writer_connection().await?,
            ),
        };
        Ok(Self {
            store,
            writer,
            waiters: Arc::new(Waiters::default()),
            call_waiters: Arc::new(CallWaiters::default()),
            notified: Arc::new(AtomicBool::new(false)),
            settings: Arc::new(settings),
        })
    }

    /// The handle delivery drives the store through.
    pub fn consumer(&self) -> Consumer {
        Consumer {
            store: Arc::clone(&self.store),
            writer: self.writer.clone(),
            waiters: Arc::clone(&self.waiters),
        }
    }

    /// Starts the store's upkeep until `shutdown`: forgetting what is past its retention,
    /// checkpoints, the gauges, and on a shared store the subscription to other replicas'
    /// commits for waiting pulls.
    pub fn start_upkeep(&self, shutdown: &CancellationToken) {
        tokio::spawn(self.clone().purge_periodically(shutdown.clone()));
        tokio::spawn(self.clone().checkpoint_periodically(shutdown.clone()));
        tokio::spawn(self.clone().gauges_periodically(shutdown.clone()));
        if let Store::Postgres(pg) = &*self.store {
            let pg = pg.clone();
            let waiters = Arc::clone(&self.call_waiters);
            let notified = Arc::clone(&self.notified);
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let wake = |conversation: &str| {
                    if let Ok(conversation) = ConversationId::parse(conversation) {
                        waiters.notify(&conversation);
                    }
                };
                pg.relay_call_data(&notified, wake, shutdown).await;
            });
        }
    }

    /// Commits `job`; answers only once it is on disk, or with the job already stored under the
    /// same idempotency key.
    pub async fn enqueue(&self, job: NewJob) -> Result<Inserted, StoreError> {
        let conversation = job.conversation_id.clone();
        let inserted = self.writer.insert(job).await?;
        if let (Inserted::New(_), Some(conversation)) = (inserted, conversation) {
            self.call_waiters.notify(&conversation);
        }
        Ok(inserted)
    }

    /// Commits a registration; the call as it now stands.
    pub async fn register(&self, call: NewCall) -> Result<Call, StoreError> {
        self.writer.register(call).await
    }

    /// A registered call, if it is still live at `now`.
    pub async fn live_call(
        &self,
        conversation: &ConversationId,
        now: SystemTime,
    ) -> Result<Option<Call>, StoreError> {
        Ok(self
            .store
            .call(conversation)
            .await?
            .filter(|call| call.expires_at > now))
    }

    /// The live calls `address` names, the most recently registered first.
    pub async fn calls_at(
        &self,
        address: &CallAddress,
        now: SystemTime,
    ) -> Result<Vec<Call>, StoreError> {
        self.store.calls_at(address, now).await
    }

    /// Per key, the newest value committed for the call.
    pub async fn call_data(&self, conversation: &ConversationId) -> Result<CallData, StoreError> {
        self.store.call_data(conversation).await
    }

    /// What is stored for the call once `ready` says it is enough, or after `timeout` as it is
    /// then. Woken by a commit of a job for the call in this process, or on a shared store by the
    /// store's notification of another replica's commit; a shared store is also looked at
    /// every [`PULL_POLL`] while those notifications are not coming in.
    pub async fn wait_for_call_data(
        &self,
        conversation: &ConversationId,
        timeout: Duration,
        ready: impl Fn(&CallData) -> bool,
    ) -> Result<CallData, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let woken = self.call_waiters.register(conversation);
            let data = self.store.call_data(conversation).await?;
            let now = tokio::time::Instant::now();
            if ready(&data) || now >= deadline {
                self.call_waiters.forget(conversation);
                return Ok(data);
            }
            let nap = if self.store.is_shared() {
                let poll = if self.notified.load(Ordering::Acquire) {
                    PULL_POLL_NOTIFIED
                } else {
                    PULL_POLL
                };
                (deadline - now).min(poll)
            } else {
                deadline - now
            };
            let _ = tokio::time::timeout(nap, woken).await;
            self.call_waiters.forget(conversation);
        }
    }

    /// Waits up to `timeout` for the delivery to be delivered or dead; returns it as it is then.
    pub async fn wait(&self, id: DeliveryId, timeout: Duration) -> Result<Option<Job>, StoreError> {
        let outcome = self.waiters.register(id);
        if let Some(job) = self.store.get(id).await?
            && job.status.is_final()
        {
            self.waiters.forget(id);
            return Ok(Some(job));
        }
        if self.store.is_shared() {
            // Another replica may deliver it: its outcome reaches us only through the store.
            let _ = tokio::time::timeout(timeout, self.poll_until_final(id, outcome)).await;
        } else {
            let _ = tokio::time::timeout(timeout, outcome).await;
        }
        self.waiters.forget(id);
        self.store.get(id).await
    }

    async fn poll_until_final<T>(&self, id: DeliveryId, outcome: impl Future<Output = T>) {
        let poll = async {
            loop {
                tokio::time::sleep(WAIT_POLL).await;
                if let Ok(Some(job)) = self.store.get(id).await
                    && job.status.is_final()
                {
                    return;
                }
            }
        };
        tokio::select! {
            _ = outcome => {}
            () = poll => {}
        }
    }

    pub async fn get(&self, id: DeliveryId) -> Result<Option<Job>, StoreError> {
        self.store.get(id).await
    }

    /// The job stored under an idempotency key, if any.
    pub async fn find(&self, idempotency_key: &str) -> Result<Option<Job>, StoreError> {
        self.store.find(idempotency_key).await
    }

    pub async fn list(
        &self,
        filter: &Filter,
        limit: u32,
        before: Option<DeliveryId>,
    ) -> Result<Vec<Job>, StoreError> {
        self.store.list(filter, limit, before).await
    }

    /// Applies pending migrations; the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        self.store.migrate().await
    }

    /// Dead letters back to pending; how many.
    pub async fn replay(&self, which: Replay) -> Result<u64, StoreError> {
        self.writer.replay(which).await
    }

    pub async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        self.store.counts().await
    }

    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.store.check_writable().await
    }

    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    async fn gauges_periodically(self, shutdown: CancellationToken) {
        use crate::telemetry::metrics as m;
        loop {
            match self.store.gauges().await {
                Ok(g) => {
                    ::metrics::gauge!(m::JOBS, "status" => "pending").set(g.pending as f64);
                    ::metrics::gauge!(m::JOBS, "status" => "in_flight").set(g.in_flight as f64);
                    ::metrics::gauge!(m::JOBS, "status" => "dead").set(g.dead as f64);
                    let age = g
                        .oldest_pending
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .unwrap_or_default();
                    ::metrics::gauge!(m::OLDEST_PENDING_SECONDS).set(age.as_secs_f64());
                }
                Err(err) => tracing::warn!(error = %err, "cannot read the store's gauges"),
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn checkpoint_periodically(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = shutdown.cancelled() => return,
            }
            if let Err(err) = self.store.checkpoint().await {
                tracing::warn!(error = %err, "store checkpoint failed");
            }
        }
    }

    async fn purge_periodically(self, shutdown: CancellationToken) {
        loop {
            let now = SystemTime::now();
            match self
                .store
                .purge(
                    now - self.settings.idempotency_window,
                    now - self.settings.dead_retention,
                )
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "forgot finished jobs past their retention"),
                Err(err) => tracing::warn!(error = %err, "purge failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}
