//! The IVR handshake's writes, in the writer's transaction: a registration, with the CRM keys
//! it names and the values of jobs that were waiting for it. (The values a new job brings to a
//! registered call are written by the job's own insert statement, in `inserts`.)

use sqlx::AssertSqlSafe;

use super::Tx;
use crate::queue::calls::{Call, NewCall};
use crate::queue::contract::StoreError;
use crate::queue::job::to_ms;
use crate::queue::rows;

/// Stores or updates a registration; answers the call as it now stands.
pub(super) async fn register(
    tx: &mut Tx<'_>,
    call: &NewCall,
    now: i64,
) -> Result<Call, StoreError> {
    let id = call.conversation_id.to_string();
    let before = sqlx::query(AssertSqlSafe(format!(
        "SELECT {} FROM calls WHERE conversation_id = $1 FOR UPDATE",
        rows::CALL_COLUMNS
    )))
    .bind(&id)
    .fetch_optional(&mut **tx)
    .await?
    .map(|row| rows::call(&row))
    .transpose()?;
    let first = before.is_none();
    let merged = rows::merge_registration(before, call);
    let keys = serde_json::to_string(&merged.keys)
        .map_err(|e| StoreError::Corrupt(format!("keys of call {id}: {e}")))?;
    sqlx::query(
        "INSERT INTO calls (conversation_id, participant_id, ani, dnis, keys, registered_at, updated_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (conversation_id) DO UPDATE SET participant_id = excluded.participant_id, ani = excluded.ani, \
             dnis = excluded.dnis, keys = excluded.keys, updated_at = excluded.updated_at, expires_at = excluded.expires_at",
    )
    .bind(&id)
    .bind(merged.participant_id.as_ref().map(ToString::to_string))
    .bind(merged.ani.as_ref().map(ToString::to_string))
    .bind(&merged.dnis)
    .bind(keys)
    .bind(to_ms(merged.registered_at))
    .bind(to_ms(merged.updated_at))
    .bind(to_ms(merged.expires_at))
    .execute(&mut **tx)
    .await?;
    let (names, values): (Vec<String>, Vec<String>) = merged
        .keys
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unzip();
    sqlx::query(
        "WITH gone AS (DELETE FROM call_keys WHERE conversation_id = $1) \
         INSERT INTO call_keys (name, value, conversation_id) \
         SELECT name, value, $1 FROM UNNEST($2::text[], $3::text[]) AS k(name, value) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(names)
    .bind(values)
    .execute(&mut **tx)
    .await?;
    // Jobs that named the call by its number or a key before it registered, and on its first
    // registration those that named its conversation (the CRM was quicker than the flow): the
    // flow's to pull now ...
    let addresses: Vec<String> = merged.addresses().iter().map(|a| a.stored()).collect();
    sqlx::query(
        "INSERT INTO call_data (conversation_id, key, value, delivery_id, updated_at) \
         SELECT DISTINCT ON (a.key) $1, a.key, a.value, d.id, d.received_at \
         FROM deliveries d CROSS JOIN LATERAL jsonb_each_text(d.attributes::jsonb) AS a(key, value) \
         WHERE (d.address = ANY($2) AND d.conversation_id = '' AND d.finished_at IS NULL) \
            OR ($3 AND d.conversation_id = $1) \
         ORDER BY a.key, d.id DESC \
         ON CONFLICT (conversation_id, key) DO UPDATE SET value = excluded.value, \
             delivery_id = excluded.delivery_id, updated_at = excluded.updated_at \
         WHERE excluded.delivery_id > call_data.delivery_id",
    )
    .bind(&id)
    .bind(&addresses)
    .bind(first)
    .execute(&mut **tx)
    .await?;
    // ... and due at once: their delivery finds the call instead of waiting for a re-check.
    sqlx::query(
        "UPDATE deliveries SET run_at = $2 \
         WHERE address = ANY($1) AND conversation_id = '' AND finished_at IS NULL AND status = 'pending' AND run_at > $2",
    )
    .bind(&addresses)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(merged)
}
