//! New jobs, in one `UNNEST` statement per batch, with their replay keys and the values a
//! registered call's flow may pull (and a notification to the replicas its pulls may wait on).

use std::collections::{HashMap, HashSet};

use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::listen::CALL_DATA_CHANNEL;
use crate::queue::contract::StoreError;
use crate::queue::job::{Inserted, NewJob, Status, to_ms};
use crate::queue::rows::delivery_id;

/// Inserts new jobs in one statement (remembering their replay keys in the same one), so an
/// intake batch costs one round trip. A replay key already accepted for another event makes the
/// job a replay; an idempotency key already stored (by any replica, or earlier in this batch)
/// makes it a duplicate of that job. Rows go in key order, so two replicas inserting overlapping
/// batches wait for each other instead of deadlocking.
pub(super) async fn insert(
    conn: &mut PgConnection,
    jobs: &[NewJob],
    now: i64,
) -> Result<Vec<Inserted>, StoreError> {
    let plan = Plan::of(jobs);
    let mut columns = Columns::default();
    for &i in &plan.sent {
        columns.push(&jobs[i], plan.replay_key_sent[i].then_some(&jobs[i]));
    }
    let mut answers: HashMap<String, Inserted> = HashMap::new();
    if !plan.sent.is_empty() {
        let rows = sqlx::query(
            "WITH input AS ( \
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                                      $7::text[], $8::text[], $9::bigint[], $10::text[], $11::bigint[], \
                                      $13::text[], $14::text[]) \
                 AS t(id, key, source, event_id, conversation_id, participant_id, target, attributes, received_at, \
                      replay_key, replay_expires, address, resolution)), \
             refused AS ( \
                 SELECT i.key FROM input i JOIN replay_keys r ON r.key = i.replay_key \
                 WHERE r.expires_at > $12 AND r.idempotency_key <> i.key), \
             remembered AS ( \
                 INSERT INTO replay_keys (key, idempotency_key, expires_at) \
                 SELECT replay_key, key, replay_expires FROM input \
                 WHERE replay_key IS NOT NULL AND key NOT IN (SELECT key FROM refused) \
                 ON CONFLICT (key) DO UPDATE SET idempotency_key = excluded.idempotency_key, expires_at = excluded.expires_at \
                 WHERE replay_keys.expires_at <= $12), \
             stored AS ( \
                 INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, participant_id, \
                                         target, attributes, status, run_at, received_at, updated_at, address, resolution) \
                 SELECT id, key, source, event_id, conversation_id, participant_id, target, attributes, 'pending', \
                        received_at, received_at, $12, address, resolution \
                 FROM input WHERE key NOT IN (SELECT key FROM refused) \
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key), \
             kept AS ( \
                 INSERT INTO call_data (conversation_id, key, value, delivery_id, updated_at) \
                 SELECT DISTINCT ON (i.conversation_id, a.key) i.conversation_id, a.key, a.value, i.id, $12 \
                 FROM input i JOIN calls c ON c.conversation_id = i.conversation_id \
                      CROSS JOIN LATERAL jsonb_each_text(i.attributes::jsonb) AS a(key, value) \
                 WHERE i.key IN (SELECT idempotency_key FROM stored) \
                 ORDER BY i.conversation_id, a.key, i.id DESC \
                 ON CONFLICT (conversation_id, key) DO UPDATE SET value = excluded.value, \
                     delivery_id = excluded.delivery_id, updated_at = excluded.updated_at \
                 WHERE excluded.delivery_id > call_data.delivery_id \
                 RETURNING conversation_id), \
             notified AS ( \
                 SELECT pg_notify($15, conversation_id) FROM (SELECT DISTINCT conversation_id FROM kept) k) \
             SELECT i.key, i.id::text AS id, (SELECT count(*) FROM notified) AS notified, \
                    EXISTS (SELECT 1 FROM refused f WHERE f.key = i.key) AS replayed, \
                    EXISTS (SELECT 1 FROM stored s WHERE s.idempotency_key = i.key) AS new, \
                    d.id::text AS existing_id, d.status AS existing_status \
             FROM input i LEFT JOIN deliveries d ON d.idempotency_key = i.key",
        )
        .bind(columns.ids)
        .bind(columns.keys)
        .bind(columns.sources)
        .bind(columns.event_ids)
        .bind(columns.conversations)
        .bind(columns.participants)
        .bind(columns.targets)
        .bind(columns.attributes)
        .bind(columns.received)
        .bind(columns.replay_keys)
        .bind(columns.replay_expiries)
        .bind(now)
        .bind(columns.addresses)
        .bind(columns.resolutions)
        .bind(CALL_DATA_CHANNEL)
        .fetch_all(&mut *conn)
        .await?;
        let mut unseen = Vec::new();
        for row in rows {
            let key: String = row.try_get("key")?;
            let answer = if row.try_get("replayed")? {
                Inserted::Replayed
            } else if row.try_get("new")? {
                Inserted::New(delivery_id(&row.try_get::<String, _>("id")?)?)
            } else if let Some(id) = row.try_get::<Option<String>, _>("existing_id")? {
                let status: Option<String> = row.try_get("existing_status")?;
                Inserted::Duplicate {
                    id: delivery_id(&id)?,
                    status: status
                        .as_deref()
                        .and_then(Status::parse)
                        .unwrap_or(Status::Pending),
                }
            } else {
                // Stored by a transaction that committed while this statement ran.
                unseen.push(key);
                continue;
            };
            answers.insert(key, answer);
        }
        if !unseen.is_empty() {
            for row in sqlx::query(
                "SELECT idempotency_key, id::text AS id, status FROM deliveries WHERE idempotency_key = ANY($1)",
            )
            .bind(&unseen)
            .fetch_all(&mut *conn)
            .await?
            {
                let status: String = row.try_get("status")?;
                answers.insert(
                    row.try_get("idempotency_key")?,
                    Inserted::Duplicate {
                        id: delivery_id(&row.try_get::<String, _>("id")?)?,
                        status: Status::parse(&status).unwrap_or(Status::Pending),
                    },
                );
            }
        }
    }
    jobs.iter()
        .enumerate()
        .map(|(i, job)| {
            if plan.replayed_in_batch.contains(&i) {
                return Ok(Inserted::Replayed);
            }
            let answer = answers.get(&job.idempotency_key).copied().ok_or_else(|| {
                // Conflicted with a job that is gone already: vanishingly rare.
                StoreError::Unavailable(format!(
                    "idempotency key {:?} conflicted with a job that is gone; try again",
                    job.idempotency_key
                ))
            })?;
            Ok(match answer {
                // A copy of a job stored earlier in this batch.
                Inserted::New(id) if id != job.id => Inserted::Duplicate {
                    id,
                    status: Status::Pending,
                },
                other => other,
            })
        })
        .collect()
}

/// Which of a batch's jobs go to the database, and which the batch answers itself.
struct Plan {
    /// Positions of the jobs sent: the first of each idempotency key, in key order.
    sent: Vec<usize>,
    /// Per position: whether its replay key is sent (only the first holder of a key is).
    replay_key_sent: Vec<bool>,
    /// Positions whose replay key an earlier job of this batch holds for another event.
    replayed_in_batch: HashSet<usize>,
}

impl Plan {
    fn of(jobs: &[NewJob]) -> Self {
        let mut replay_owner: HashMap<&str, &str> = HashMap::new();
        let mut replayed_in_batch = HashSet::new();
        let mut replay_key_sent = vec![false; jobs.len()];
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, job) in jobs.iter().enumerate() {
            if let Some(replay) = &job.replay_key {
                match replay_owner.get(replay.key.as_str()) {
                    Some(owner) if *owner != job.idempotency_key => {
                        replayed_in_batch.insert(i);
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        replay_owner.insert(&replay.key, &job.idempotency_key);
                        replay_key_sent[i] = true;
                    }
                }
            }
            first.entry(job.idempotency_key.as_str()).or_insert(i);
        }
        let mut sent: Vec<usize> = first.into_values().collect();
        sent.sort_by(|a, b| jobs[*a].idempotency_key.cmp(&jobs[*b].idempotency_key));
        Self {
            sent,
            replay_key_sent,
            replayed_in_batch,
        }
    }
}

/// Column arrays for one `UNNEST` insert.
#[derive(Default)]
struct Columns {
    ids: Vec<uuid::Uuid>,
    keys: Vec<String>,
    sources: Vec<String>,
    event_ids: Vec<Option<String>>,
    conversations: Vec<String>,
    participants: Vec<Option<String>>,
    targets: Vec<String>,
    attributes: Vec<String>,
    received: Vec<i64>,
    replay_keys: Vec<Option<String>>,
    replay_expiries: Vec<Option<i64>>,
    addresses: Vec<Option<String>>,
    resolutions: Vec<Option<String>>,
}

impl Columns {
    /// One job; `replay` is the job again when its replay key is to be remembered.
    fn push(&mut self, job: &NewJob, replay: Option<&NewJob>) {
        self.ids.push(job.id.as_uuid());
        self.keys.push(job.idempotency_key.clone());
        self.sources.push(job.source.clone());
        self.event_ids.push(job.event_id.clone());
        self.conversations.push(
            job.conversation_id
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
        );
        self.participants
            .push(job.participant_id.as_ref().map(ToString::to_string));
        self.targets.push(job.target().to_string());
        self.attributes
            .push(serde_json::to_string(&job.attributes).unwrap_or_else(|_| "{}".to_owned()));
        self.received.push(to_ms(job.received_at));
        let replay = replay.and_then(|j| j.replay_key.as_ref());
        self.replay_keys.push(replay.map(|r| r.key.clone()));
        self.replay_expiries
            .push(replay.map(|r| to_ms(r.expires_at)));
        self.addresses
            .push(job.address.as_ref().map(|a| a.stored()));
        self.resolutions.push(job.resolution.clone());
    }
}
