//! The PostgreSQL store against a real database: what several replicas sharing it rely on. Each
//! test works in a schema of its own; two `PgStore`s on one schema are two replicas. They run
//! when `BRIDGE_TEST_DATABASE_URL` names a database and return at once otherwise (the
//! `postgres_notice` test target says so in the test output).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use sqlx::Connection;

use super::PgStore;
use crate::genesys::{ConversationId, ParticipantId};
use crate::queue::PostgresSettings;
use crate::queue::contract::{Batch, ClaimRequest};
use crate::queue::job::{
    ClaimedGroup, DeliveryId, Finish, Inserted, Lease, NewJob, ReplayKey, Status,
};

const LEASE: Duration = Duration::from_secs(30);

/// A fresh schema in the test database, or `None` when no database is configured.
async fn schema() -> Option<PostgresSettings> {
    let url = std::env::var("BRIDGE_TEST_DATABASE_URL").ok()?;
    let name = format!("store_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("BRIDGE_TEST_DATABASE_URL is set but unreachable: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(PostgresSettings {
        url: SecretString::from(format!("{url}{separator}options[search_path]={name}")),
        password: None,
        max_connections: 4,
        connect_timeout: Duration::from_secs(5),
    })
}

fn replica(settings: &PostgresSettings) -> PgStore {
    PgStore::connect_lazy(settings, "test-client").expect("store")
}

fn job(key: &str, conversation: &str, value: &str) -> NewJob {
    NewJob {
        id: DeliveryId::new(),
        idempotency_key: key.to_owned(),
        source: "crm".to_owned(),
        event_id: Some(key.to_owned()),
        conversation_id: Some(ConversationId::parse(conversation).expect("conversation id")),
        address: None,
        resolution: None,
        participant_id: Some(ParticipantId::parse("p1").expect("participant id")),
        attributes: BTreeMap::from([("k".to_owned(), value.to_owned())]),
        received_at: SystemTime::now(),
        replay_key: None,
    }
}

async fn insert(store: &PgStore, jobs: Vec<NewJob>) -> Vec<Inserted> {
    store
        .write_batch(&Batch {
            inserts: jobs,
            ..Batch::default()
        })
        .await
        .expect("insert")
        .inserted
}

async fn claim(store: &PgStore, limit: u32) -> Vec<ClaimedGroup> {
    store
        .write_batch(&Batch {
            claim: Some(ClaimRequest {
                limit,
                lease: LEASE,
                expire_leases: true,
            }),
            ..Batch::default()
        })
        .await
        .expect("claim")
        .claimed
}

async fn delivered(store: &PgStore, group: &ClaimedGroup) {
    let leases: Vec<Lease> = group.jobs.iter().map(Lease::of).collect();
    let finish = Finish::Delivered {
        newest: leases.iter().map(|l| l.id).max().unwrap_or_default(),
        leases,
        participant_id: ParticipantId::parse("p1").expect("participant id"),
        resolved: None,
        target: group.jobs[0].target.clone(),
        keys: vec!["k".to_owned()],
    };
    store
        .write_batch(&Batch {
            finishes: vec![finish],
            ..Batch::default()
        })
        .await
        .expect("finish");
}

#[tokio::test]
async fn replicas_migrating_together_apply_each_migration_once() {
    let Some(settings) = schema().await else {
        return;
    };
    let (a, b) = (replica(&settings), replica(&settings));
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let mut applied = ra.expect("a");
    applied.extend(rb.expect("b"));
    assert_eq!(applied, vec![1, 2, 3, 4]);
    assert_eq!(a.migrate().await.expect("again"), Vec::<i64>::new());
}

#[tokio::test]
async fn a_database_left_at_version_1_with_jobs_in_it_is_upgraded_in_place() {
    let Some(settings) = schema().await else {
        return;
    };
    let store = replica(&settings);
    let mut conn = store.pool.acquire().await.expect("connection");
    sqlx::raw_sql(sqlx::AssertSqlSafe(super::connect::MIGRATIONS[0].1))
        .execute(&mut *conn)
        .await
        .expect("version 1");
    sqlx::raw_sql(crate::queue::rows::VERSION_1_WITH_A_JOB)
        .execute(&mut *conn)
        .await
        .expect("a job from before");
    drop(conn);
    assert_eq!(store.migrate().await.expect("upgrade"), vec![2, 3, 4]);
    let groups = claim(&store, 10).await;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].jobs[0].event_id.as_deref(), Some("old"));
}

/// A claim (pending → in flight) changes no indexed column, so PostgreSQL rewrites the row in
/// place (HOT) instead of adding an entry to every index; that is most of what a claim costs.
#[tokio::test]
async fn a_claim_updates_the_row_in_place_without_touching_an_index() {
    let Some(mut settings) = schema().await else {
        return;
    };
    // One connection: the statistics read below are the ones this backend flushed.
    settings.max_connections = 1;
    let store = replica(&settings);
    store.migrate().await.expect("migrate");
    let definitions: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'deliveries'",
    )
    .fetch_all(&store.pool)
    .await
    .expect("indexes");
    assert!(definitions.len() >= 5, "{definitions:?}");
    for definition in &definitions {
        for column in ["status", "attempts", "lease_until", "updated_at"] {
            assert!(!definition.contains(column), "{definition}");
        }
    }
    insert(&store, vec![job("e1", "c1", "1")]).await;
    assert_eq!(claim(&store, 1).await.len(), 1);
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&store.pool)
        .await
        .expect("flush");
    let (updated, in_place): (i64, i64) = sqlx::query_as(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'deliveries'::regclass",
    )
    .fetch_one(&store.pool)
    .await
    .expect("statistics");
    assert_eq!((updated, in_place), (1, 1));
}

#[tokio::test]
async fn the_same_event_sent_to_two_replicas_is_one_job() {
    let Some(settings) = schema().await else {
        return;
    };
    let (a, b) = (replica(&settings), replica(&settings));
    let first = job("crm:event:1", "c1", "one");
    let copy = job("crm:event:1", "c1", "one");
    let (ra, rb) = tokio::join!(insert(&a, vec![first.clone()]), insert(&b, vec![copy]));
    let outcomes = [ra[0], rb[0]];
    let new: Vec<DeliveryId> = outcomes
        .iter()
        .filter_map(|o| match o {
            Inserted::New(id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().any(
            |o| matches!(o, Inserted::Duplicate { id, status: Status::Pending } if *id == new[0])
        ),
        "{outcomes:?}"
    );
    // Copies inside one batch: the first is stored, the rest answer with it.
    let twins = insert(
        &a,
        vec![job("crm:event:2", "c1", "x"), job("crm:event:2", "c1", "x")],
    )
    .await;
    assert!(matches!(twins[0], Inserted::New(_)));
    assert_eq!(
        twins[1],
        Inserted::Duplicate {
            id: twins[0].clone_id(),
            status: Status::Pending
        }
    );
}

#[tokio::test]
async fn a_signature_replayed_at_another_replica_for_another_event_is_refused() {
    let Some(settings) = schema().await else {
        return;
    };
    let (a, b) = (replica(&settings), replica(&settings));
    let signed = |event: &str| NewJob {
        replay_key: Some(ReplayKey {
            key: "crm:sig-1".to_owned(),
            expires_at: SystemTime::now() + Duration::from_secs(600),
        }),
        ..job(event, "c1", event)
    };
    assert!(matches!(
        insert(&a, vec![signed("crm:event:a")]).await[0],
        Inserted::New(_)
    ));
    // The sender's retry of the same event: a duplicate, not a replay.
    assert!(matches!(
        insert(&b, vec![signed("crm:event:a")]).await[0],
        Inserted::Duplicate { .. }
    ));
    // The same signature on an altered event id: a replay, whichever replica gets it.
    assert_eq!(
        insert(&b, vec![signed("crm:event:b")]).await[0],
        Inserted::Replayed
    );
    assert!(matches!(
        insert(&a, vec![job("crm:event:b", "c1", "b")]).await[0],
        Inserted::New(_)
    ));
}

#[tokio::test]
async fn one_replica_at_a_time_owns_a_participants_jobs() {
    let Some(settings) = schema().await else {
        return;
    };
    let (a, b) = (replica(&settings), replica(&settings));
    insert(&a, vec![job("e1", "c1", "1"), job("e2", "c1", "2")]).await;
    let owned = claim(&a, 10).await;
    assert_eq!(owned.len(), 1);
    assert_eq!(
        owned[0].jobs.len(),
        2,
        "due jobs of a target go out together"
    );
    // A later update for the same participant waits for the owner, on every replica.
    insert(&b, vec![job("e3", "c1", "3")]).await;
    assert!(claim(&b, 10).await.is_empty());
    assert!(claim(&a, 10).await.is_empty());
    delivered(&a, &owned[0]).await;
    let next = claim(&b, 10).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].jobs[0].attributes["k"], "3");
}

#[tokio::test]
async fn concurrent_claims_never_deliver_a_participant_twice_at_once() {
    let Some(settings) = schema().await else {
        return;
    };
    let (a, b) = (replica(&settings), replica(&settings));
    let mut jobs = Vec::new();
    for n in 0..400 {
        jobs.push(job(
            &format!("e{n}"),
            &format!("c{}", n % 40),
            &n.to_string(),
        ));
    }
    insert(&a, jobs).await;
    // Targets some replica holds right now: a claim of one of them would be a second owner.
    let owned = std::sync::Arc::new(std::sync::Mutex::new(HashSet::<String>::new()));
    // Both replicas claim and deliver as fast as they can until nothing is left.
    let run = |store: PgStore| {
        let owned = std::sync::Arc::clone(&owned);
        async move {
            let mut seen = Vec::new();
            let mut idle = 0;
            while idle < 3 {
                let groups = claim(&store, 8).await;
                if groups.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                for group in &groups {
                    let target = group.jobs[0].target.clone();
                    assert!(
                        owned.lock().expect("lock").insert(target.to_string()),
                        "{target} claimed by two replicas at once"
                    );
                    seen.extend(group.jobs.iter().map(|j| j.id));
                }
                for group in &groups {
                    // Released just before the outcome commits: never a false alarm.
                    owned
                        .lock()
                        .expect("lock")
                        .remove(group.jobs[0].target.as_str());
                    delivered(&store, group).await;
                }
            }
            seen
        }
    };
    let (sa, sb) = tokio::join!(run(a.clone()), run(b));
    let all: Vec<DeliveryId> = sa.iter().chain(&sb).copied().collect();
    let unique: HashSet<DeliveryId> = all.iter().copied().collect();
    assert_eq!(all.len(), 400, "every job claimed exactly once");
    assert_eq!(unique.len(), 400);
    let counts = a
        .reads()
        .await
        .expect("ready")
        .counts()
        .await
        .expect("counts");
    assert_eq!(counts, vec![(Status::Delivered, 400)]);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_by_another_replica() {
    let Some(settings) = schema().await else {
        return;
    };
    let (a, b) = (replica(&settings), replica(&settings));
    insert(&a, vec![job("e1", "c1", "1")]).await;
    b.ready().await.expect("b migrated");
    let short = a
        .write_batch(&Batch {
            claim: Some(ClaimRequest {
                limit: 1,
                lease: Duration::from_millis(500),
                expire_leases: true,
            }),
            ..Batch::default()
        })
        .await
        .expect("claim")
        .claimed;
    assert_eq!(short.len(), 1);
    assert!(claim(&b, 1).await.is_empty(), "still leased");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let taken = claim(&b, 1).await;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].jobs[0].attempts, 2);
    // The first replica's late outcome no longer applies: the job is the second one's.
    delivered(&a, &short[0]).await;
    let reads = b.reads().await.expect("ready");
    let job = reads
        .get(taken[0].jobs[0].id)
        .await
        .expect("get")
        .expect("job");
    assert_eq!(job.status, Status::InFlight);
}

#[tokio::test]
async fn a_429_recorded_by_one_replica_stops_claims_on_every_replica() {
    let Some(settings) = schema().await else {
        return;
    };
    let (a, b) = (replica(&settings), replica(&settings));
    insert(&a, vec![job("e1", "c1", "1")]).await;
    let until = SystemTime::now() + Duration::from_millis(300);
    a.record_throttle(until).await.expect("record");
    // An earlier time never shortens it.
    a.record_throttle(SystemTime::now()).await.expect("record");
    assert!(b.throttled_until().await.expect("read").is_some());
    assert!(claim(&b, 1).await.is_empty());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(b.throttled_until().await.expect("read"), None);
    assert_eq!(claim(&b, 1).await.len(), 1);
}

#[tokio::test]
async fn a_store_that_starts_while_the_database_is_down_fails_cleanly() {
    // Port 9 (discard) on loopback: nothing listens there.
    let settings = PostgresSettings {
        url: SecretString::from("postgres://postgres@127.0.0.1:9/none".to_owned()),
        password: None,
        max_connections: 2,
        connect_timeout: Duration::from_millis(300),
    };
    let store = replica(&settings);
    let err = store.check_writable().await.expect_err("down");
    assert!(
        matches!(err, crate::queue::StoreError::Unavailable(_)),
        "{err:?}"
    );
}

impl Inserted {
    fn clone_id(&self) -> DeliveryId {
        match self {
            Inserted::New(id) | Inserted::Duplicate { id, .. } => *id,
            Inserted::Replayed => DeliveryId::default(),
        }
    }
}

#[tokio::test]
async fn a_commit_for_a_registered_call_is_announced_to_the_other_replicas() {
    let Some(settings) = schema().await else {
        return;
    };
    let (a, b) = (replica(&settings), replica(&settings));
    a.ready().await.expect("migrated");
    let (tx, mut announced) = tokio::sync::mpsc::unbounded_channel::<String>();
    let listening = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let relay = tokio::spawn({
        let (b, listening, shutdown) = (b.clone(), listening.clone(), shutdown.clone());
        async move {
            b.relay_call_data(&listening, |id| drop(tx.send(id.to_owned())), shutdown)
                .await;
        }
    });
    for _ in 0..500 {
        if listening.load(std::sync::atomic::Ordering::Acquire) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        listening.load(std::sync::atomic::Ordering::Acquire),
        "b subscribed"
    );
    let now = SystemTime::now();
    a.write_batch(&Batch {
        registrations: vec![crate::queue::NewCall {
            conversation_id: ConversationId::parse("registered").expect("id"),
            participant_id: None,
            ani: None,
            dnis: None,
            keys: BTreeMap::new(),
            at: now,
            expires_at: now + Duration::from_secs(3600),
        }],
        ..Batch::default()
    })
    .await
    .expect("registered");
    // A job for a call nobody registered is nobody's to pull: no announcement; then two for the
    // registered call in one batch.
    insert(&a, vec![job("n-1", "unregistered", "x")]).await;
    insert(
        &a,
        vec![job("r-1", "registered", "1"), job("r-2", "registered", "2")],
    )
    .await;
    let first = tokio::time::timeout(Duration::from_secs(10), announced.recv())
        .await
        .expect("announced within 10 s")
        .expect("relay running");
    assert_eq!(first, "registered");
    insert(&a, vec![job("r-3", "registered", "3")]).await;
    let second = tokio::time::timeout(Duration::from_secs(10), announced.recv())
        .await
        .expect("announced within 10 s")
        .expect("relay running");
    assert_eq!(second, "registered", "announced again for the next commit");
    shutdown.cancel();
    relay.await.expect("the relay stops on shutdown");
    assert!(!listening.load(std::sync::atomic::Ordering::Acquire));
}
