//! Two replicas, one database: webhooks are spread over both, one is killed with `kill -9`
//! half-way, and the survivor takes over its leased deliveries once their lease runs out.
//! Every webhook answered `202` (or `200 duplicate`, for a retry of one the dead replica had
//! committed) lands exactly once and each participant's updates land in order.
//!
//! "Exactly once" with one honest exception: a delivery the dead replica had sent to Genesys
//! but not yet recorded when it died is sent again by the survivor (a lease promises at least
//! once). Such a second write must follow a first one made before the kill, and belong to a job
//! that was leased again (`attempts` ≥ 2).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use genesys_bridge::simulator::{Fault, NewConversation, SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

use crate::delivery::process::{BridgeProcess, ProcessDir, child_profile};
use crate::delivery::{Ops, Sender, webhook};
use crate::helpers::spawn_sim;

const CONVERSATIONS: usize = 200;
const UPDATES: usize = 25;
const WEBHOOKS: usize = CONVERSATIONS * UPDATES;
/// The dead replica's deliveries are due again this long after they were leased.
const LEASE: Duration = Duration::from_secs(5);
/// Genesys writes that are slow at the moment of the kill, so the replica dies holding leases.
const SLOW_WRITES: u32 = 64;
/// Genesys writes one replica has in flight at most (`queue.workers`).
const WORKERS: usize = 32;
const MARKER: &str = "/api/v2/conversations/marker-replica-a-is-dead";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_deliver_every_webhook_once_in_order_when_one_is_killed() {
    let limit = Duration::from_secs(55);
    tokio::time::timeout(limit, scenario())
        .await
        .unwrap_or_else(|_| panic!("the scenario did not finish within {limit:?}"));
}

/// The webhooks of one participant, sent one after the other, alternating replicas.
#[derive(Debug, Default)]
struct Lane {
    conversation: String,
    customer: String,
    /// The delivery id each webhook was answered with, in order.
    deliveries: Vec<String>,
    /// Webhooks that got no answer from the dead replica and were sent again to the survivor.
    resent: usize,
    /// Answers that were neither `202` nor a `200 duplicate` of a resent webhook.
    refused: Vec<String>,
}

struct Cluster {
    a: Sender,
    b: Sender,
    a_dead: AtomicBool,
    answered: tokio::sync::watch::Sender<usize>,
}

async fn scenario() {
    // The simulator lives in this process: it outlives both replicas.
    let sim = spawn_sim(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .await;
    let lanes: Vec<Lane> = (0..CONVERSATIONS)
        .map(|i| {
            let conversation = format!("replica-{i:03}");
            let created = sim
                .simulator
                .create_conversation(NewConversation::with_id(&conversation));
            let customer = created
                .participants
                .iter()
                .find(|p| p.purpose == "customer")
                .unwrap()
                .id
                .clone();
            Lane {
                conversation,
                customer,
                ..Lane::default()
            }
        })
        .collect();
    let lease = format!("{}s", LEASE.as_secs());
    let dir = ProcessDir::with_profile(&child_profile(&sim.base_url, &lease)).await;
    let mut a = BridgeProcess::start(&dir, "a").await;
    let b = BridgeProcess::start(&dir, "b").await;
    let (answered, mut counted) = tokio::sync::watch::channel(0usize);
    let cluster = Arc::new(Cluster {
        a: Sender::new(dir.path(), "crm", &a.base_url),
        b: Sender::new(dir.path(), "crm", &b.base_url),
        a_dead: AtomicBool::new(false),
        answered,
    });
    let started = Instant::now();
    let running: Vec<_> = lanes
        .into_iter()
        .enumerate()
        .map(|(i, lane)| tokio::spawn(run_lane(Arc::clone(&cluster), i, lane)))
        .collect();

    // Half-way: slow Genesys writes down so replica a holds leases, then kill it.
    tokio::time::timeout(
        Duration::from_secs(25),
        counted.wait_for(|n| *n >= WEBHOOKS / 2),
    )
    .await
    .unwrap_or_else(|_| panic!("{} webhooks were not answered within 25 s", WEBHOOKS / 2))
    .unwrap();
    let slow = sim.simulator.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_method("PATCH")
            .with_latency_ms(1_000)
            .times(SLOW_WRITES),
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while sim
        .simulator
        .faults()
        .iter()
        .find(|f| f.id == slow)
        .is_some_and(|f| f.remaining > SLOW_WRITES - 16)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.kill_9();
    cluster.a_dead.store(true, Ordering::SeqCst);
    let killed_after = *counted.borrow();
    // Whatever replica a sent before it died has reached the simulator by now; every request
    // logged after this marker comes from the survivor.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = reqwest::get(format!("{}{MARKER}", sim.base_url)).await;

    let mut lanes = Vec::new();
    for lane in running {
        lanes.push(lane.await.unwrap());
    }
    let sent_in = started.elapsed();
    let refused: Vec<&String> = lanes.iter().flat_map(|l| &l.refused).collect();
    assert!(refused.is_empty(), "refused: {refused:?}\n{}", b.log());
    assert!(
        killed_after < WEBHOOKS,
        "the kill came after the last webhook"
    );

    // The survivor finishes everything, the dead replica's leased jobs included.
    let ops = Ops::new(&b.base_url);
    let drain_deadline = Instant::now() + LEASE + Duration::from_secs(15);
    loop {
        let (_, pending) = ops.get("/deliveries?status=pending&limit=5").await;
        let (_, in_flight) = ops.get("/deliveries?status=in_flight&limit=5").await;
        if pending["items"] == serde_json::json!([]) && in_flight["items"] == serde_json::json!([])
        {
            break;
        }
        assert!(
            Instant::now() < drain_deadline,
            "jobs left {:?} after the webhooks were sent in {sent_in:?}: pending {pending}, \
             in flight {in_flight}\n{}",
            LEASE + Duration::from_secs(15),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, dead) = ops.get("/deliveries?status=dead&limit=5").await;
    assert_eq!(dead["items"], serde_json::json!([]), "dead letters");
    let attempts = delivered(&ops).await;
    assert_eq!(
        attempts.len(),
        WEBHOOKS,
        "one job per webhook, each delivered"
    );
    for id in lanes.iter().flat_map(|l| &l.deliveries) {
        assert!(
            attempts.contains_key(id),
            "accepted delivery {id} is not delivered"
        );
    }
    let taken_over = attempts.values().filter(|a| **a >= 2).count();
    let resent: usize = lanes.iter().map(|l| l.resent).sum();
    assert!(
        taken_over > 0,
        "no delivery was leased again: the killed replica held no lease, or the survivor never \
         took one over (killed after {killed_after} answers; {resent} webhooks resent)"
    );

    assert_written_once_in_order(&sim.simulator, &lanes, &attempts);
}

/// Sends a lane's webhooks; those for a dead replica, or unanswered by it, go to the survivor.
async fn run_lane(cluster: Arc<Cluster>, i: usize, mut lane: Lane) -> Lane {
    for k in 0..UPDATES {
        let body = update(&lane.conversation, k);
        let event_id = format!("{}-{k}", lane.conversation);
        let to_a = (i + k).is_multiple_of(2) && !cluster.a_dead.load(Ordering::SeqCst);
        let mut answer = post(if to_a { &cluster.a } else { &cluster.b }, &body, &event_id).await;
        let resent = to_a && answer.is_err();
        if resent {
            lane.resent += 1;
            answer = post(&cluster.b, &body, &event_id).await;
        }
        let answer = answer.unwrap_or_else(|e| panic!("the survivor did not answer: {e}"));
        let duplicate = answer.0 == StatusCode::OK && answer.1["status"] == "duplicate";
        match answer.1["delivery_id"].as_str() {
            Some(id) if answer.0 == StatusCode::ACCEPTED || (duplicate && resent) => {
                lane.deliveries.push(id.to_owned());
            }
            _ => {
                lane.refused
                    .push(format!("{event_id}: {} {}", answer.0, answer.1));
                break;
            }
        }
        cluster.answered.send_modify(|n| *n += 1);
    }
    lane
}

async fn post(
    sender: &Sender,
    body: &[u8],
    event_id: &str,
) -> reqwest::Result<(StatusCode, Value)> {
    let answer = sender
        .try_post(body, Some(event_id), OffsetDateTime::now_utc(), &[])
        .await?;
    let status = answer.status();
    Ok((status, answer.json().await?))
}

/// Update `k` of a conversation: its sequence number `seq`, and a key of its own `seen{k}`.
fn update(conversation: &str, k: usize) -> Vec<u8> {
    webhook(
        conversation,
        &[
            ("seq", &k.to_string()),
            (&format!("seen{k}"), &k.to_string()),
        ],
    )
}

/// `attempts` of every delivered job, by delivery id.
async fn delivered(ops: &Ops) -> HashMap<String, u64> {
    let mut all = HashMap::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = ops
            .get(&format!("/deliveries?status=delivered&limit=500{cursor}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().unwrap() {
            all.insert(
                item["delivery_id"].as_str().unwrap().to_owned(),
                item["attempts"].as_u64().unwrap(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return all,
        }
    }
}

/// From the simulator's log of every request: each update was written once (or, if the dead
/// replica wrote it before the kill, once more by the survivor), and a participant's `seq`
/// never went back; the participant ends with the last update.
fn assert_written_once_in_order(sim: &Simulator, lanes: &[Lane], attempts: &HashMap<String, u64>) {
    let log = sim.requests();
    let stats = sim.stats();
    assert_eq!(
        log.len() as u64,
        stats.api_requests + stats.token_requests,
        "the simulator's request log overflowed: raise its capacity or send fewer webhooks"
    );
    let marker = log
        .iter()
        .position(|r| r.path == MARKER)
        .expect("the marker is logged");
    // (conversation, k) -> positions in the log of the writes that carried update k.
    let mut writes: HashMap<(String, usize), Vec<usize>> = HashMap::new();
    let mut seqs: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (at, request) in log.iter().enumerate() {
        if request.method != "PATCH" || request.status != 202 {
            continue;
        }
        let conversation = request.path.split('/').nth(4).unwrap().to_owned();
        let body: Value = serde_json::from_str(&request.body).unwrap();
        let attributes = body["attributes"].as_object().unwrap();
        for key in attributes.keys() {
            if let Some(k) = key.strip_prefix("seen") {
                writes
                    .entry((conversation.clone(), k.parse().unwrap()))
                    .or_default()
                    .push(at);
            }
        }
        let seq = attributes["seq"].as_str().unwrap().parse().unwrap();
        seqs.entry(conversation).or_default().push(seq);
    }
    // Log positions of the dead replica's writes that the survivor made again.
    let mut rewritten = HashSet::new();
    for lane in lanes {
        for (k, id) in lane.deliveries.iter().enumerate() {
            let at = writes
                .get(&(lane.conversation.clone(), k))
                .map_or(&[][..], Vec::as_slice);
            let what = format!("{} update {k} (delivery {id})", lane.conversation);
            match at {
                [_] => {}
                [first, second] => {
                    assert!(
                        *first < marker && *second > marker && attempts[id] >= 2,
                        "{what} was written twice, not as a takeover of the dead replica's \
                         lease: log positions {first} and {second}, kill marker at {marker}, \
                         {} attempts",
                        attempts[id]
                    );
                    rewritten.insert(*first);
                }
                _ => panic!("{what} was written {} times", at.len()),
            }
        }
        let order = &seqs[&lane.conversation];
        assert!(
            order.is_sorted(),
            "{}: seq went back: {order:?}",
            lane.conversation
        );
        let landed = sim
            .participant_attributes(&lane.conversation, &lane.customer)
            .unwrap();
        assert_eq!(
            landed.get("seq").map(String::as_str),
            Some((UPDATES - 1).to_string().as_str()),
            "{}: the last update is not the one left; {landed:?}",
            lane.conversation
        );
    }
    assert!(
        rewritten.len() <= WORKERS,
        "{} of the dead replica's writes were made again: more than it could have had in flight",
        rewritten.len()
    );
}
