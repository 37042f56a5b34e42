//! The IVR handshake's writes, in the writer's transaction: registrations, and the values a new
//! job brings to the call it is for.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::open_jobs::OpenJobs;
use crate::queue::calls::{Call, NewCall};
use crate::queue::contract::StoreError;
use crate::queue::job::{NewJob, to_ms};
use crate::queue::rows;

/// Stores or updates a registration; answers the call as it now stands.
pub(super) fn register(
    tx: &Connection,
    open: &mut OpenJobs,
    call: &NewCall,
    now: i64,
) -> Result<Call, StoreError> {
    let id = call.conversation_id.as_str();
    let mut get = tx.prepare_cached(&format!(
        "SELECT {} FROM calls WHERE conversation_id = ?1",
        rows::CALL_COLUMNS
    ))?;
    let before = get
        .query_row([id], |row| Ok(rows::decode_call(row)))
        .optional()?
        .transpose()?;
    let first = before.is_none();
    let merged = rows::merge_registration(before, call);
    let keys = serde_json::to_string(&merged.keys)
        .map_err(|e| StoreError::Corrupt(format!("keys of call {id}: {e}")))?;
    tx.prepare_cached(
        "INSERT INTO calls (conversation_id, participant_id, ani, dnis, keys, registered_at, updated_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (conversation_id) DO UPDATE SET participant_id = excluded.participant_id, ani = excluded.ani, \
             dnis = excluded.dnis, keys = excluded.keys, updated_at = excluded.updated_at, expires_at = excluded.expires_at",
    )?
    .execute(params![
        id,
        merged.participant_id.as_ref().map(|p| p.as_str()),
        merged.ani.as_ref().map(|n| n.as_str()),
        merged.dnis,
        keys,
        to_ms(merged.registered_at),
        to_ms(merged.updated_at),
        to_ms(merged.expires_at),
    ])?;
    tx.prepare_cached("DELETE FROM call_keys WHERE conversation_id = ?1")?
        .execute([id])?;
    let mut add_key = tx.prepare_cached(
        "INSERT OR IGNORE INTO call_keys (name, value, conversation_id) VALUES (?1, ?2, ?3)",
    )?;
    for (name, value) in &merged.keys {
        add_key.execute(params![name, value, id])?;
    }
    adopt_waiting(tx, open, &merged, now)?;
    if first {
        adopt_earlier(tx, &merged)?;
    }
    Ok(merged)
}

/// Webhooks that named the conversation before its flow registered it (the CRM was quicker
/// than the flow): their values are the flow's to pull too. Later ones are kept as they are
/// committed.
fn adopt_earlier(tx: &Connection, call: &Call) -> Result<(), StoreError> {
    let earlier = tx
        .prepare_cached(
            "SELECT id, attributes, received_at FROM deliveries WHERE conversation_id = ?1 ORDER BY id",
        )?
        .query_map([call.conversation_id.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, attributes, received_at) in earlier {
        let attributes: BTreeMap<String, String> = serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Corrupt(format!("attributes of {id}: {e}")))?;
        put_values(
            tx,
            call.conversation_id.as_str(),
            &id,
            &attributes,
            received_at,
        )?;
    }
    Ok(())
}

/// Jobs that named this call by its number or a key before it registered are the flow's to
/// pull now, and due at once: their delivery finds the call instead of waiting for its next
/// re-check.
fn adopt_waiting(
    tx: &Connection,
    open: &mut OpenJobs,
    call: &Call,
    now: i64,
) -> Result<(), StoreError> {
    let mut find = tx.prepare_cached(
        "SELECT id, target, attributes, received_at, status FROM deliveries \
         WHERE address = ?1 AND conversation_id = '' AND finished_at IS NULL ORDER BY id",
    )?;
    let mut due = tx.prepare_cached(
        "UPDATE deliveries SET run_at = ?2 WHERE id = ?1 AND status = 'pending' AND run_at > ?2",
    )?;
    for address in call.addresses() {
        let waiting = find
            .query_map([address.stored()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (id, target, attributes, received_at, status) in waiting {
            if status == "pending" && due.execute(params![id, now])? == 1 {
                open.pending(rows::delivery_id(&id)?, &target, Some(now));
            }
            let attributes: BTreeMap<String, String> = serde_json::from_str(&attributes)
                .map_err(|e| StoreError::Corrupt(format!("attributes of {id}: {e}")))?;
            put_values(
                tx,
                call.conversation_id.as_str(),
                &id,
                &attributes,
                received_at,
            )?;
        }
    }
    Ok(())
}

/// A new job's values, kept for the flow to pull when its call is registered.
pub(super) fn remember_values(tx: &Connection, job: &NewJob, now: i64) -> Result<(), StoreError> {
    let Some(conversation) = &job.conversation_id else {
        return Ok(());
    };
    let registered = tx
        .prepare_cached("SELECT 1 FROM calls WHERE conversation_id = ?1")?
        .exists([conversation.as_str()])?;
    if registered {
        put_values(
            tx,
            conversation.as_str(),
            &job.id.to_string(),
            &job.attributes,
            now,
        )?;
    }
    Ok(())
}

/// Newest wins: a value from an older job (by its time-ordered id) never replaces a newer one.
fn put_values(
    tx: &Connection,
    conversation: &str,
    delivery_id: &str,
    attributes: &BTreeMap<String, String>,
    at: i64,
) -> Result<(), StoreError> {
    let mut put = tx.prepare_cached(
        "INSERT INTO call_data (conversation_id, key, value, delivery_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (conversation_id, key) DO UPDATE SET value = excluded.value, delivery_id = excluded.delivery_id, \
             updated_at = excluded.updated_at WHERE excluded.delivery_id > call_data.delivery_id",
    )?;
    for (key, value) in attributes {
        put.execute(params![conversation, key, value, delivery_id, at])?;
    }
    Ok(())
}
