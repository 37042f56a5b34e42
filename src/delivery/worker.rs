//! The delivery loop: lease due jobs, hand each target's group to an attempt, and at shutdown
//! put back what is still under way. Woken by every commit that adds jobs; otherwise it looks
//! again every `poll_interval` for retries that came due.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::attempt::deliver;
use super::deliverer::Deliverer;
use crate::queue::{ClaimRequest, Finish};

/// How long a stopping process waits to put its unfinished deliveries back.
const RELEASE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a busy loop lets free slots gather before it claims again.
const CLAIM_GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// How often a claim first takes back jobs whose lease ran out. Leases last `queue.lease`
/// (a minute by default), so a second's delay is noise, and the look costs a read of every
/// open job.
const LEASE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs until `shutdown`; then waits (up to `grace`) for deliveries under way. Jobs it did not
/// finish are put back to pending: another replica takes them at once, or the next start does.
pub(super) async fn run(deliverer: Deliverer, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(deliverer.settings.workers.max(1)));
    let tasks = TaskTracker::new();
    let mut busy = false;
    let mut failing = false;
    let mut leases_checked: Option<std::time::Instant> = None;
    loop {
        let first = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            () = shutdown.cancelled() => break,
        };
        if busy {
            // Under load, wait a moment for more deliveries to finish: one claim for several
            // free slots costs the store one scan instead of one per slot.
            tokio::time::sleep(CLAIM_GATHER).await;
        }
        let mut permits = vec![first];
        while let Ok(p) = Arc::clone(&slots).try_acquire_owned() {
            permits.push(p);
        }
        let wanted = permits.len();
        let expire_leases = leases_checked.is_none_or(|at| at.elapsed() >= LEASE_CHECK);
        let claimed = deliverer
            .store
            .claim(ClaimRequest {
                limit: u32::try_from(wanted).unwrap_or(u32::MAX),
                lease: deliverer.settings.lease,
                expire_leases,
            })
            .await;
        if expire_leases && claimed.is_ok() {
            leases_checked = Some(std::time::Instant::now());
        }
        let groups = match claimed {
            Ok(groups) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("leasing jobs again");
                }
                groups
            }
            // Said once per outage, not every poll; readiness reports the store meanwhile.
            Err(err) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::error!(error = %err, "cannot lease jobs; trying again every poll interval");
                }
                Vec::new()
            }
        };
        let idle = groups.len() < wanted;
        busy = !idle;
        for (group, permit) in groups.into_iter().zip(permits.drain(..)) {
            let deliverer = deliverer.clone();
            tasks.spawn(deliver(deliverer, group, permit));
        }
        drop(permits);
        if idle {
            tokio::select! {
                () = deliverer.store.arrivals().notified() => {}
                () = tokio::time::sleep(deliverer.settings.poll_interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
    }
    tasks.close();
    if tokio::time::timeout(deliverer.settings.shutdown_grace, tasks.wait())
        .await
        .is_err()
    {
        release_unfinished(&deliverer, tasks.len()).await;
    }
}

/// Puts the jobs of deliveries still under way back to pending. One that finishes meanwhile
/// either records its outcome first (the release then finds nothing held) or finds its jobs
/// pending and records nothing: they are delivered again, at least once as always.
async fn release_unfinished(deliverer: &Deliverer, deliveries: usize) {
    let leases = deliverer.held.take();
    let jobs = leases.len();
    let released = tokio::time::timeout(
        RELEASE_WITHIN,
        deliverer.store.finish(Finish::Released { leases }),
    )
    .await;
    match released {
        Ok(Ok(())) => tracing::warn!(
            deliveries,
            jobs,
            "deliveries still under way at the deadline: their jobs are pending again"
        ),
        Ok(Err(err)) => tracing::warn!(
            deliveries, jobs, error = %err,
            "deliveries still under way at the deadline stay leased: due again when the lease runs out, or at the next start"
        ),
        Err(_) => tracing::warn!(
            deliveries,
            jobs,
            "deliveries still under way at the deadline stay leased (the store did not answer in time): due again when the lease runs out, or at the next start"
        ),
    }
}
