//! One writer transaction: everything a batch holds, in as few round trips as its size allows.

use std::time::SystemTime;

use super::PgStore;
use super::calls::register;
use super::claims::{claim_due, claim_target};
use super::inserts::insert;
use super::updates::{apply_delivered, apply_finish, replay};
use crate::queue::contract::{Batch, BatchResult, StoreError};
use crate::queue::job::{Finish, to_ms};

impl PgStore {
    /// Everything in `batch`, in one transaction.
    pub async fn write_batch(&self, batch: &Batch) -> Result<BatchResult, StoreError> {
        self.ready().await?;
        let now = to_ms(SystemTime::now());
        let only_inserts = batch.finishes.is_empty()
            && batch.registrations.is_empty()
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
        let mut registered = Vec::with_capacity(batch.registrations.len());
        for call in &batch.registrations {
            registered.push(register(&mut tx, call, now).await?);
        }
        let mut result = BatchResult {
            inserted: insert(&mut tx, &batch.inserts, now).await?,
            registered,
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
}
