//! Reading `deliveries` rows into [`Job`]s, for either backend: both select the same columns
//! with the same SQL types (text, bigint), so one decoder serves both.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::genesys::{CallAddress, ConversationId, ParticipantId, PhoneNumber};
use crate::queue::calls::{Call, NewCall};
use crate::queue::contract::{Gauges, StoreError};
use crate::queue::job::{DeliveryId, Job, LastError, Status, Target, WrittenKeys, from_ms};

/// The columns [`job`] reads, as SQLite stores them.
pub(super) const COLUMNS: &str = "id, source, event_id, conversation_id, participant_id, address, resolution, target, \
     attributes, status, attempts, run_at, received_at, updated_at, finished_at, delivered_to, last_error, last_status, last_code, \
     last_correlation_id, dead_reason";

/// The same columns on PostgreSQL, where the id is a `uuid`.
pub(super) const PG_COLUMNS: &str = "id::text AS id, source, event_id, conversation_id, participant_id, address, resolution, \
     target, attributes, status, attempts, run_at, received_at, updated_at, finished_at, delivered_to, last_error, last_status, last_code, \
     last_correlation_id, dead_reason";

/// What the decoders read of a row, whichever driver returned it: sqlx (both backends' reads,
/// PostgreSQL's writes) or rusqlite (SQLite's writer).
pub(super) trait Columns {
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn text_opt(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn int_opt(&self, name: &str) -> Result<Option<i64>, StoreError>;
}

/// A sqlx row seen through [`Columns`].
struct Sqlx<'r, R>(&'r R);

impl<R> Columns for Sqlx<'_, R>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.0.try_get(name)?)
    }
    fn text_opt(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.0.try_get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.0.try_get(name)?)
    }
    fn int_opt(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.0.try_get(name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.get(name)?)
    }
    fn text_opt(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.get(name)?)
    }
    fn int_opt(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.get(name)?)
    }
}

/// A job from a sqlx row holding [`COLUMNS`] (or [`PG_COLUMNS`]).
pub(super) fn job<R>(row: &R) -> Result<Job, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    decode_job(&Sqlx(row))
}

/// A job from any row holding [`COLUMNS`].
pub(super) fn decode_job(row: &impl Columns) -> Result<Job, StoreError> {
    let id = row.text("id")?;
    let status = row.text("status")?;
    let attributes = row.text("attributes")?;
    // Parsed here, once: the worker gets ids it can put in a URL, and a row the intake could
    // not have written is the store's problem, not a Genesys error.
    // '' (SQLite cannot drop the column's NOT NULL) or NULL: a job still waiting for its call.
    let conversation_id = row
        .text_opt("conversation_id")?
        .filter(|c| !c.is_empty())
        .map(ConversationId::parse)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("conversation of {id}: {e}")))?;
    let address = row
        .text_opt("address")?
        .map(|text| {
            CallAddress::from_stored(&text)
                .ok_or_else(|| StoreError::Corrupt(format!("address {text:?} of {id}")))
        })
        .transpose()?;
    if conversation_id.is_none() && address.is_none() {
        return Err(StoreError::Corrupt(format!(
            "conversation of {id}: neither a conversation id nor an address"
        )));
    }
    let participant_id = row
        .text_opt("participant_id")?
        .map(ParticipantId::parse)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("participant of {id}: {e}")))?;
    Ok(Job {
        id: delivery_id(&id)?,
        source: row.text("source")?,
        event_id: row.text_opt("event_id")?,
        target: Target::stored(row.text("target")?),
        conversation_id,
        participant_id,
        address,
        resolution: row.text_opt("resolution")?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Corrupt(format!("attributes of {id}: {e}")))?,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status:?} of {id}")))?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(0),
        run_at: from_ms(row.int("run_at")?),
        received_at: from_ms(row.int("received_at")?),
        updated_at: from_ms(row.int("updated_at")?),
        finished_at: row.int_opt("finished_at")?.map(from_ms),
        delivered_to: row.text_opt("delivered_to")?,
        last_error: match row.text_opt("last_error")? {
            Some(message) => Some(LastError {
                message,
                status: row
                    .int_opt("last_status")?
                    .and_then(|s| u16::try_from(s).ok()),
                code: row.text_opt("last_code")?,
                correlation_id: row.text_opt("last_correlation_id")?,
            }),
            None => None,
        },
        dead_reason: row.text_opt("dead_reason")?,
    })
}

/// The columns [`decode_call`] reads, on either backend.
pub(super) const CALL_COLUMNS: &str =
    "conversation_id, participant_id, ani, dnis, keys, registered_at, updated_at, expires_at";

/// A sqlx row holding [`CALL_COLUMNS`].
pub(super) fn call<R>(row: &R) -> Result<Call, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    decode_call(&Sqlx(row))
}

/// A registered call from any row holding [`CALL_COLUMNS`].
pub(super) fn decode_call(row: &impl Columns) -> Result<Call, StoreError> {
    let id = row.text("conversation_id")?;
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("{what} of call {id}: {e}"))
    };
    Ok(Call {
        conversation_id: ConversationId::parse(id.clone()).map_err(|e| corrupt("id", &e))?,
        participant_id: row
            .text_opt("participant_id")?
            .map(ParticipantId::parse)
            .transpose()
            .map_err(|e| corrupt("participant", &e))?,
        ani: row
            .text_opt("ani")?
            .map(|n| PhoneNumber::parse(&n, None))
            .transpose()
            .map_err(|e| corrupt("number", &e))?,
        dnis: row.text_opt("dnis")?,
        keys: serde_json::from_str(&row.text("keys")?).map_err(|e| corrupt("keys", &e))?,
        registered_at: from_ms(row.int("registered_at")?),
        updated_at: from_ms(row.int("updated_at")?),
        expires_at: from_ms(row.int("expires_at")?),
    })
}

/// A registration over what was stored before (if anything): the time to live starts again,
/// keys merge (new values win), and a number or participant already known stays unless a new
/// one is given.
pub(super) fn merge_registration(before: Option<Call>, new: &NewCall) -> Call {
    let (registered_at, mut keys, participant, ani, dnis) = match before {
        Some(old) => (
            old.registered_at,
            old.keys,
            old.participant_id,
            old.ani,
            old.dnis,
        ),
        None => (new.at, Default::default(), None, None, None),
    };
    keys.extend(new.keys.iter().map(|(k, v)| (k.clone(), v.clone())));
    Call {
        conversation_id: new.conversation_id.clone(),
        participant_id: new.participant_id.clone().or(participant),
        ani: new.ani.clone().or(ani),
        dnis: new.dnis.clone().or(dnis),
        keys,
        registered_at,
        updated_at: new.at,
        expires_at: new.expires_at,
    }
}

/// Forgets calls whose time to live is over, with their keys and pulled values (one script,
/// both dialects; `now` is a number, so nothing foreign reaches the SQL).
pub(super) fn purge_calls(now: i64) -> String {
    format!(
        "DELETE FROM call_keys WHERE conversation_id IN (SELECT conversation_id FROM calls WHERE expires_at <= {now}); \
         DELETE FROM call_data WHERE conversation_id IN (SELECT conversation_id FROM calls WHERE expires_at <= {now}); \
         DELETE FROM calls WHERE expires_at <= {now};"
    )
}

/// A delivery id read back from the store.
pub(super) fn delivery_id(text: &str) -> Result<DeliveryId, StoreError> {
    DeliveryId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("bad delivery id {text:?}")))
}

/// Rows of `SELECT status, COUNT(*) AS n … GROUP BY status`.
pub(super) fn counts<R>(found: &[R]) -> Result<Vec<(Status, u64)>, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut counts = Vec::new();
    for row in found {
        let status: String = row.try_get("status")?;
        let n: i64 = row.try_get("n")?;
        if let Some(status) = Status::parse(&status) {
            counts.push((status, u64::try_from(n).unwrap_or(0)));
        }
    }
    Ok(counts)
}

/// `target_keys` rows (`target`, `key`, `delivery_id` as text), per target: what deliveries
/// newer than a claimed group already wrote.
pub(super) fn written_keys<R>(found: &[R]) -> Result<WrittenKeys, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut written = WrittenKeys::new();
    for row in found {
        add_written_key(&mut written, &Sqlx(row))?;
    }
    Ok(written)
}

/// Adds one `target_keys` row to `written`.
pub(super) fn add_written_key(
    written: &mut WrittenKeys,
    row: &impl Columns,
) -> Result<(), StoreError> {
    let writer = row.text("delivery_id")?;
    let writer = delivery_id(&writer)?;
    written
        .entry(row.text("target")?)
        .or_default()
        .push((writer, row.text("key")?));
    Ok(())
}

/// What the gauges read: one row of counts (`pending`, `in_flight`, `dead`) and `oldest`.
/// Each count reads one of the partial indexes (`finished_at IS NULL` holds exactly for pending
/// and in-flight jobs, `dead_reason IS NOT NULL` for dead ones), never the whole table.
pub(super) const GAUGES: &str = "SELECT \
            (SELECT COUNT(*) FROM deliveries WHERE finished_at IS NULL AND status = 'pending') AS pending, \
            (SELECT COUNT(*) FROM deliveries WHERE finished_at IS NULL AND status = 'in_flight') AS in_flight, \
            (SELECT COUNT(*) FROM deliveries WHERE dead_reason IS NOT NULL AND status = 'dead') AS dead, \
            (SELECT MIN(received_at) FROM deliveries WHERE finished_at IS NULL AND status = 'pending') AS oldest";

pub(super) fn gauges<R>(row: &R) -> Result<Gauges, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let count = |name: &str| -> Result<u64, StoreError> {
        Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
    };
    Ok(Gauges {
        pending: count("pending")?,
        in_flight: count("in_flight")?,
        dead: count("dead")?,
        oldest_pending: row.try_get::<Option<i64>, _>("oldest")?.map(from_ms),
    })
}

/// A store as migration 1 left it, with one job still pending, for the tests that upgrade one.
/// Both dialects take it as written.
#[cfg(test)]
pub(super) const VERSION_1_WITH_A_JOB: &str = "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, applied_at bigint NOT NULL); \
     INSERT INTO schema_migrations VALUES (1, 0); \
     INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, target, \
                             attributes, status, run_at, received_at, updated_at) \
     VALUES ('0190f0c4-9f7e-7000-8000-000000000001', 'crm:event:old', 'crm', 'old', 'c1', 'c1/p1', \
             '{\"k\":\"v\"}', 'pending', 0, 0, 0)";
