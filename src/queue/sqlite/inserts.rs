//! New jobs: one prepared insert per job, a duplicate's original looked up only when it is one.

use rusqlite::{Connection, params};

use super::calls::remember_values;
use super::open_jobs::OpenJobs;
use crate::queue::contract::StoreError;
use crate::queue::job::{Inserted, NewJob, Status, to_ms};
use crate::queue::rows::delivery_id;

/// Stores each job unless its idempotency key is taken — by an earlier job, or by one earlier
/// in this batch — in which case it is a duplicate of that one.
pub(super) fn insert(
    tx: &Connection,
    open: &mut OpenJobs,
    jobs: &[NewJob],
    now: i64,
) -> Result<Vec<Inserted>, StoreError> {
    let mut add = tx.prepare_cached(
        "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, participant_id, \
         target, attributes, status, run_at, received_at, updated_at, address, resolution) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9, ?10, ?11, ?12) \
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
            job.conversation_id.as_ref().map_or("", |c| c.as_str()),
            job.participant_id.as_ref().map(|p| p.as_str()),
            target.as_str(),
            attributes,
            received_at,
            now,
            job.address.as_ref().map(|a| a.stored()),
            job.resolution,
        ])?;
        out.push(if stored == 1 {
            open.add(job.id, target.as_str(), received_at);
            remember_values(tx, job, now)?;
            Inserted::New(job.id)
        } else {
            // A CRM's retry: rare, so looked up only now.
            let mut find =
                tx.prepare_cached("SELECT id, status FROM deliveries WHERE idempotency_key = ?1")?;
            let (id, status): (String, String) =
                find.query_row([&job.idempotency_key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Inserted::Duplicate {
                id: delivery_id(&id)?,
                status: Status::parse(&status).unwrap_or(Status::Pending),
            }
        });
    }
    Ok(out)
}
