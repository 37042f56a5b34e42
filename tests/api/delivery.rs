//! Proven under faults: what a `202` promises. Accepted webhooks reach Genesys through a
//! `kill -9`, an outage and a 429 storm; an event is delivered once however often it is sent;
//! permanent failures become dead letters an operator can inspect and replay; a participant's
//! updates land in order, coalesced; `Prefer: wait` answers with the outcome.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use genesys_bridge::cli::sign::{SignOptions, sign};
use genesys_bridge::config::{self, LoadOptions};
use genesys_bridge::simulator::{
    Conversation, Fault, NewConversation, RecordedRequest, SimConfig, Simulator,
};
use genesys_bridge::webhook::source::Source;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::{TestApp, spawn_app_with};

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Two senders. Fields the table does not name pass through under their own names, so a
/// webhook can carry a key of its own (`seen3`) next to the shared `accountId`.
const SOURCES: &str = r#"
[sources.crm]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ="

[sources.crm.mapping]
fields = "/fields"
unmapped = "pass"

[sources.crm.mapping.keys]
accountId = "crmAccountId"

[sources.billing]
verifier = { type = "standard_webhooks" }
secret = "whsec_YmlsbGluZy1zZWNyZXQtZm9yLWRlbGl2ZXJ5LXRlc3Rz"

[sources.billing.mapping.keys]
accountId = "crmAccountId"
"#;

/// Retries in tens of milliseconds; one attempt per Genesys call, so every failure is the
/// queue's to handle; no rate budget on either side.
const FAST: &[(&str, &str)] = &[
    ("BRIDGE__QUEUE__INITIAL_BACKOFF", "50ms"),
    ("BRIDGE__QUEUE__MAX_BACKOFF", "200ms"),
    ("BRIDGE__QUEUE__POLL_INTERVAL", "20ms"),
    ("BRIDGE__QUEUE__RECHECK_DELAY", "50ms"),
    ("BRIDGE__GENESYS__RETRY__MAX_ATTEMPTS", "1"),
    ("BRIDGE__GENESYS__RATE_LIMIT__REQUESTS_PER_WINDOW", "0"),
    ("BRIDGE__SIMULATOR__RATE_LIMIT", "0"),
];

const ACCOUNT_KEY: &str = "crmAccountId";
const CONVERSATION_GET: &str = "GET /api/v2/conversations/{conversationId}";

// ---- kill -9 ----------------------------------------------------------------------------------

const LANES: usize = 30;
const PER_LANE: usize = 10;
const KILL_AFTER: usize = 100;

/// One conversation's webhooks, sent one after the other (each after the previous one's
/// answer), so their order is known.
#[derive(Debug, Default)]
struct Lane {
    conversation: String,
    customer: String,
    /// Delivery ids of the webhooks answered 202, in order (`None`: the body was cut short).
    accepted: Vec<Option<String>>,
    /// The webhook after the accepted ones got no answer: the bridge died with it in hand, so
    /// it may or may not have been committed.
    unanswered: bool,
    /// Answers other than 202 (there should be none).
    refused: Vec<u16>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_answered_202_survive_kill_9_in_the_middle_of_a_burst() {
    // The simulator lives in this process, so it outlives the bridge.
    let sim = Simulator::new(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    .await
    .unwrap();
    let mut lanes: Vec<Lane> = (0..LANES)
        .map(|i| {
            let conversation = format!("burst-{i:02}");
            let created = sim
                .simulator
                .create_conversation(NewConversation::with_id(&conversation));
            Lane {
                customer: customer_of(&created),
                conversation,
                ..Lane::default()
            }
        })
        .collect();
    // A slow first contact with each call: the first process dies before it writes anything.
    sim.simulator.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_method("GET")
            .with_latency_ms(1_000)
            .times(LANES as u32),
    );
    let dir = TempDir::with_profile(&child_profile(&sim.base_url));
    let mut first = BridgeProcess::start(dir.path(), "first").await;
    let sender = Arc::new(Sender::new(dir.path(), "crm", &first.base_url));

    let (count, mut counted) = tokio::sync::watch::channel(0usize);
    let count = Arc::new(count);
    let mut running = Vec::new();
    for lane in lanes.drain(..) {
        let (sender, count) = (Arc::clone(&sender), Arc::clone(&count));
        running.push(tokio::spawn(async move {
            let mut lane = lane;
            for k in 0..PER_LANE {
                let body = burst_webhook(&lane.conversation, k);
                match sender
                    .try_post(&body, None, OffsetDateTime::now_utc(), &[])
                    .await
                {
                    Ok(answer) if answer.status() == StatusCode::ACCEPTED => {
                        let id = answer
                            .json::<Value>()
                            .await
                            .ok()
                            .and_then(|b| b["delivery_id"].as_str().map(str::to_owned));
                        lane.accepted.push(id);
                        count.send_modify(|n| *n += 1);
                    }
                    Ok(answer) => {
                        lane.refused.push(answer.status().as_u16());
                        break;
                    }
                    Err(_) => {
                        lane.unanswered = true;
                        break;
                    }
                }
            }
            lane
        }));
    }
    tokio::time::timeout(
        Duration::from_secs(20),
        counted.wait_for(|n| *n >= KILL_AFTER),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{KILL_AFTER} webhooks were not accepted within 20 s:\n{}",
            first.log()
        )
    })
    .unwrap();
    let status = first.kill_9();
    assert_eq!(
        status.signal(),
        Some(9),
        "the bridge died of SIGKILL: {status:?}"
    );
    let patched_before_restart = successful_patches(&sim.simulator, "burst-").len();

    for lane in running {
        lanes.push(
            tokio::time::timeout(Duration::from_secs(20), lane)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let accepted: usize = lanes.iter().map(|l| l.accepted.len()).sum();
    let unanswered = lanes.iter().filter(|l| l.unanswered).count();
    assert!(accepted >= KILL_AFTER, "{accepted}");
    assert!(
        accepted < LANES * PER_LANE,
        "the kill came after the whole burst"
    );
    for lane in &lanes {
        assert!(
            lane.refused.is_empty(),
            "{}: refused {:?}",
            lane.conversation,
            lane.refused
        );
    }
    assert!(
        patched_before_restart < accepted,
        "the first process had delivered everything before it died ({patched_before_restart} PATCHes)"
    );

    let second = BridgeProcess::start(dir.path(), "second").await;
    let ops = Ops::new(&second.base_url);
    // Drained: one listing (one consistent snapshot) where every job is finished.
    let deadline = Instant::now() + Duration::from_secs(20);
    let all = loop {
        let (status, page) = ops.get("/deliveries?limit=500").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let unfinished: Vec<&Value> = items
            .iter()
            .filter(|d| d["status"] != "delivered" && d["status"] != "dead")
            .collect();
        if unfinished.is_empty() {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted bridge left {} of {} jobs unfinished after 20 s, e.g. {}\n{}",
            unfinished.len(),
            items.len(),
            unfinished[0],
            second.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dead: Vec<&Value> = all.iter().filter(|d| d["status"] == "dead").collect();
    assert!(dead.is_empty(), "dead letters: {dead:?}\n{}", second.log());
    // What is stored: every accepted webhook, plus at most the one per lane that died in hand.
    assert!(
        (accepted..=accepted + unanswered).contains(&all.len()),
        "{} jobs stored for {accepted} accepted and {unanswered} unanswered webhooks",
        all.len()
    );
    for id in lanes.iter().flat_map(|l| l.accepted.iter().flatten()) {
        assert!(
            all.iter()
                .any(|d| d["delivery_id"] == id.as_str() && d["status"] == "delivered"),
            "accepted delivery {id} is not delivered"
        );
    }
    // Webhook k of a lane writes its own key `seen{k}` and sets the shared account id to the
    // same value. PATCHes merge, so the participant's attributes are the union of every PATCH
    // that landed. Exact expectations per lane, with `a` webhooks answered 202:
    // - `seen0..seen{a-1}` are all there with their values: nothing accepted is lost;
    // - `seen{a}` may be there only if that request died in hand (committed, answer lost), and
    //   no later key is, since those were never sent;
    // - the account id is the value of the newest webhook that landed: order is kept.
    for lane in &lanes {
        let landed = sim
            .simulator
            .participant_attributes(&lane.conversation, &lane.customer)
            .unwrap_or_default();
        let a = lane.accepted.len();
        for k in 0..a {
            assert_eq!(
                landed.get(&format!("seen{k}")),
                Some(&burst_value(&lane.conversation, k)),
                "{}: accepted webhook {k} is lost; landed {landed:?}",
                lane.conversation
            );
        }
        let newest = if lane.unanswered && landed.contains_key(&format!("seen{a}")) {
            Some(a)
        } else {
            a.checked_sub(1)
        };
        for k in newest.map_or(0, |n| n + 1)..=PER_LANE {
            assert!(
                !landed.contains_key(&format!("seen{k}")),
                "{}: {landed:?}",
                lane.conversation
            );
        }
        assert_eq!(
            landed.get(ACCOUNT_KEY),
            newest.map(|n| burst_value(&lane.conversation, n)).as_ref(),
            "{}: the last accepted value is not the one left",
            lane.conversation
        );
    }
}

fn burst_value(conversation: &str, k: usize) -> String {
    format!("{conversation}#{k}")
}

fn burst_webhook(conversation: &str, k: usize) -> Vec<u8> {
    let value = burst_value(conversation, k);
    webhook(
        conversation,
        &[("accountId", &value), (&format!("seen{k}"), &value)],
    )
}

/// A profile for the real binary: no simulator of its own, the test's simulator as Genesys.
fn child_profile(sim_url: &str) -> impl Fn(&Path) -> String {
    let sim_url = sim_url.to_owned();
    move |dir| {
        format!(
            r#"
[server]
port = 0
shutdown_grace = "2s"

[log]
format = "json"

[simulator]
enabled = false

[genesys]
api_base_url = "{sim_url}"
login_base_url = "{sim_url}"
client_id = "sim-client"
client_secret = "sim-secret"

[genesys.retry]
max_attempts = 1

[genesys.rate_limit]
requests_per_window = 0

[queue]
data_dir = "{data}"
poll_interval = "20ms"
initial_backoff = "50ms"
max_backoff = "200ms"
recheck_delay = "50ms"

[admin]
token = "{ADMIN_TOKEN}"
{SOURCES}"#,
            data = dir.join("data").display()
        )
    }
}

// ---- outages ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_503_outage_delays_accepted_webhooks_but_loses_none() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    let calls: Vec<(String, String)> = (0..6)
        .map(|i| {
            let id = format!("outage-{i}");
            let customer = app.call_with_customer(&id);
            (id, customer)
        })
        .collect();
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_status(503)
            .times(20),
    );
    let sender = Sender::for_app(&app, "crm");
    let mut ids = Vec::new();
    for (conversation, _) in &calls {
        for k in 0..2 {
            let value = format!("{conversation}-v{k}");
            ids.push(
                sender
                    .accepted(&webhook(conversation, &[("accountId", &value)]))
                    .await,
            );
        }
    }

    let ops = Ops::for_app(&app);
    let mut attempts = Vec::new();
    for id in &ids {
        let view = ops.delivered(id).await;
        attempts.push(view["attempts"].as_u64().unwrap());
    }
    assert!(
        app.simulator.faults().is_empty(),
        "the whole outage was served"
    );
    assert!(attempts.iter().any(|a| *a > 1), "attempts: {attempts:?}");
    for (conversation, customer) in &calls {
        assert_eq!(
            landed(&app.simulator, conversation, customer),
            attributes(&[(ACCOUNT_KEY, &format!("{conversation}-v1"))])
        );
    }
    let (_, dead) = ops.get("/deliveries?status=dead").await;
    assert_eq!(dead["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_429_storm_is_waited_out_never_retried_before_retry_after() {
    // A call may retry (4 attempts) but spend only 1 s: a 2 s Retry-After is the queue's wait.
    let env = [
        FAST,
        &[
            ("BRIDGE__GENESYS__RETRY__MAX_ATTEMPTS", "4"),
            ("BRIDGE__GENESYS__RETRY__MAX_ELAPSED", "1s"),
        ],
    ]
    .concat();
    let app = spawn_app_with(SOURCES, &env, None).await;
    let calls: Vec<(String, String)> = (0..4)
        .map(|i| {
            let id = format!("storm-{i}");
            let customer = app.call_with_customer(&id);
            (id, customer)
        })
        .collect();
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_method("PATCH")
            .with_status(429)
            .with_retry_after("2")
            .times(6),
    );
    let sender = Sender::for_app(&app, "crm");
    let started = Instant::now();
    let mut ids = Vec::new();
    for (conversation, _) in &calls {
        ids.push(
            sender
                .accepted(&webhook(conversation, &[("accountId", conversation)]))
                .await,
        );
    }

    let ops = Ops::for_app(&app);
    let waiting = eventually(
        "the 429 shows on a delivery waiting in the queue",
        Duration::from_secs(5),
        async || {
            let (_, view) = ops.get(&format!("/deliveries/{}", ids[0])).await;
            (view["status"] == "pending" && view["last_error"]["status"] == 429).then_some(view)
        },
    )
    .await;
    assert!(waiting["next_attempt_at"].is_i64(), "{waiting}");
    for id in &ids {
        ops.delivered(id).await;
    }
    assert!(
        app.simulator.faults().is_empty(),
        "all six 429s were answered"
    );
    let mut waited_out = 0;
    for (conversation, customer) in &calls {
        assert_eq!(
            landed(&app.simulator, conversation, customer),
            attributes(&[(ACCOUNT_KEY, conversation)])
        );
        // Each PATCH that succeeded came at least Retry-After (2 s) after the latest 429 on the
        // same participant. Both clocks keep whole milliseconds (the log's timestamps, the
        // store's run_at), which can take up to 2 ms off the gap measured here.
        let mut last_429 = None;
        for patch in attribute_patches(&app.simulator, conversation) {
            match patch.status {
                429 => last_429 = Some(received_ms(&patch)),
                202 => {
                    if let Some(limited) = last_429 {
                        let gap = received_ms(&patch) - limited;
                        assert!(
                            gap >= 1_998,
                            "{conversation}: PATCH {gap} ms after a 429 with Retry-After: 2"
                        );
                        waited_out += 1;
                    }
                }
                other => panic!("{conversation}: unexpected PATCH status {other}"),
            }
        }
    }
    assert_eq!(
        waited_out,
        calls.len(),
        "every participant's first PATCH met a 429"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    app.stop().await;
}

// ---- idempotency ------------------------------------------------------------------------------

#[tokio::test]
async fn the_same_event_sent_five_times_is_delivered_once() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    let customer = app.call_with_customer("dup-1");
    let sender = Sender::for_app(&app, "crm");
    let body = webhook("dup-1", &[("accountId", "ACC-DUP")]);
    let now = OffsetDateTime::now_utc();
    // A sender's retries: the same event id, signed afresh each time (a new timestamp).
    let send = async |retry: i64| {
        let answer = sender
            .try_post(
                &body,
                Some("evt-dup-0001"),
                now - time::Duration::seconds(retry),
                &[],
            )
            .await
            .unwrap();
        (answer.status(), answer.json::<Value>().await.unwrap())
    };

    let (status, first) = send(0).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let id = first["delivery_id"].as_str().unwrap().to_owned();
    for retry in 1..=3 {
        let (status, answer) = send(retry).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["status"], "duplicate");
        assert_eq!(answer["delivery_id"], id.as_str());
    }
    Ops::for_app(&app).delivered(&id).await;
    let (status, late) = send(4).await;
    assert_eq!(status, StatusCode::OK, "{late}");
    assert_eq!(late["status"], "duplicate");
    assert_eq!(late["delivery_id"], id.as_str());
    assert_eq!(late["delivery_status"], "delivered");

    // Several poll intervals later, still one write.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attribute_patches(&app.simulator, "dup-1").len(), 1);
    assert_eq!(
        landed(&app.simulator, "dup-1", &customer),
        attributes(&[(ACCOUNT_KEY, "ACC-DUP")])
    );
    app.stop().await;
}

#[tokio::test]
async fn retries_of_an_event_sent_together_are_answered_with_the_one_delivery() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    app.call_with_customer("dup-2");
    let sender = Sender::for_app(&app, "crm");
    let body = webhook("dup-2", &[("accountId", "ACC-DUP")]);
    let now = OffsetDateTime::now_utc();
    let send = async |retry: i64| {
        let answer = sender
            .try_post(
                &body,
                Some("evt-dup-0002"),
                now - time::Duration::seconds(retry),
                &[],
            )
            .await
            .unwrap();
        (answer.status(), answer.json::<Value>().await.unwrap())
    };

    let (a, b, c, d, e) = tokio::join!(send(0), send(1), send(2), send(3), send(4));

    let answers = [a, b, c, d, e];
    let accepted = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .count();
    assert_eq!(accepted, 1, "{answers:?}");
    let id = &answers
        .iter()
        .find(|(s, _)| *s == StatusCode::ACCEPTED)
        .unwrap()
        .1["delivery_id"];
    for (status, answer) in &answers {
        assert!(
            *status == StatusCode::ACCEPTED
                || (*status == StatusCode::OK && answer["status"] == "duplicate"),
            "{status}: {answer}"
        );
        assert_eq!(&answer["delivery_id"], id, "{answer}");
    }
    Ops::for_app(&app).delivered(id.as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attribute_patches(&app.simulator, "dup-2").len(), 1);
    app.stop().await;
}

// ---- dead letters and the ops API ---------------------------------------------------------------

#[tokio::test]
async fn a_refused_write_becomes_a_dead_letter_that_a_replay_delivers() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    let customer = app.call_with_customer("dead-1");
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/dead-1/*")
            .with_method("PATCH")
            .with_status(400),
    );
    let id = Sender::for_app(&app, "crm")
        .accepted(&webhook("dead-1", &[("accountId", "ACC-DEAD")]))
        .await;
    let ops = Ops::for_app(&app);

    let dead = ops.dead(&id).await;
    assert_eq!(dead["last_error"]["status"], 400, "{dead}");
    assert!(non_empty(&dead["last_error"]["code"]), "{dead}");
    assert!(non_empty(&dead["last_error"]["correlation_id"]), "{dead}");
    assert!(non_empty(&dead["dead_reason"]), "{dead}");
    assert!(landed(&app.simulator, "dead-1", &customer).is_empty());
    let (status, listed) = ops.get("/deliveries?status=dead").await;
    assert_eq!(status, StatusCode::OK);
    let listed = listed["items"].as_array().unwrap();
    assert!(
        listed.iter().any(|d| d["delivery_id"] == id.as_str()),
        "{listed:?}"
    );
    assert!(listed.iter().all(|d| d["status"] == "dead"), "{listed:?}");

    let (status, replayed) = ops.post(&format!("/deliveries/{id}/replay")).await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["replayed"], 1);
    ops.delivered(&id).await;
    assert_eq!(
        landed(&app.simulator, "dead-1", &customer),
        attributes(&[(ACCOUNT_KEY, "ACC-DEAD")])
    );

    let (status, again) = ops.post(&format!("/deliveries/{id}/replay")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["type"], "urn:genesys-bridge:problem:not-replayable");
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_dead_letter_does_not_overwrite_a_newer_value() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    let customer = app.call_with_customer("stale-1");
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/stale-1/*")
            .with_method("PATCH")
            .with_status(400),
    );
    let sender = Sender::for_app(&app, "crm");
    let ops = Ops::for_app(&app);
    let old = sender
        .accepted(&webhook(
            "stale-1",
            &[("accountId", "OLD"), ("tier", "gold")],
        ))
        .await;
    ops.dead(&old).await;
    let new = sender
        .accepted(&webhook("stale-1", &[("accountId", "NEW")]))
        .await;
    ops.delivered(&new).await;

    let (status, replayed) = ops.post(&format!("/deliveries/{old}/replay")).await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    ops.delivered(&old).await;
    assert_eq!(
        landed(&app.simulator, "stale-1", &customer),
        attributes(&[(ACCOUNT_KEY, "NEW"), ("tier", "gold")]),
        "the replay writes what no newer webhook has written since"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_ops_api_refuses_a_missing_or_wrong_token() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    let id = uuid::Uuid::now_v7();
    let requests = [
        app.http.get(app.url("/deliveries?status=dead")),
        app.http.get(app.url(&format!("/deliveries/{id}"))),
        app.http.post(app.url(&format!("/deliveries/{id}/replay"))),
        app.http.post(app.url("/deliveries/replay?source=crm")),
    ];
    for request in requests {
        let wrong = request
            .try_clone()
            .unwrap()
            .bearer_auth("test-admin-token-0123456788");
        for request in [request, wrong] {
            let answer = request.send().await.unwrap();
            assert_eq!(
                answer.status(),
                StatusCode::UNAUTHORIZED,
                "{:?}",
                answer.url()
            );
            assert_eq!(answer.headers()["content-type"], "application/problem+json");
            let problem: Value = answer.json().await.unwrap();
            assert_eq!(problem["type"], "urn:genesys-bridge:problem:unauthorized");
            assert_eq!(problem["status"], 401);
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_bulk_replay_redelivers_every_dead_letter_of_one_source() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_method("PATCH")
            .with_status(400)
            .times(4),
    );
    let crm = Sender::for_app(&app, "crm");
    let mut crm_ids = Vec::new();
    let mut customers = Vec::new();
    for i in 0..3 {
        let conversation = format!("bulk-{i}");
        customers.push((conversation.clone(), app.call_with_customer(&conversation)));
        crm_ids.push(
            crm.accepted(&webhook(&conversation, &[("accountId", &conversation)]))
                .await,
        );
    }
    let billing_customer = app.call_with_customer("bulk-billing");
    let billing_id = Sender::for_app(&app, "billing")
        .accepted(&webhook("bulk-billing", &[("accountId", "B-1")]))
        .await;
    let ops = Ops::for_app(&app);
    for id in crm_ids.iter().chain([&billing_id]) {
        ops.dead(id).await;
    }

    let (status, replayed) = ops.post("/deliveries/replay?source=crm").await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(
        replayed["replayed"], 3,
        "only crm's dead letters: {replayed}"
    );
    for id in &crm_ids {
        ops.delivered(id).await;
    }
    for (conversation, customer) in &customers {
        assert_eq!(
            landed(&app.simulator, conversation, customer),
            attributes(&[(ACCOUNT_KEY, conversation)])
        );
    }
    let (_, still_dead) = ops.get("/deliveries?status=dead").await;
    let still_dead: Vec<&Value> = still_dead["items"].as_array().unwrap().iter().collect();
    assert_eq!(still_dead.len(), 1, "{still_dead:?}");
    assert_eq!(still_dead[0]["delivery_id"], billing_id.as_str());
    assert!(
        landed(&app.simulator, "bulk-billing", &billing_customer).is_empty(),
        "the other source's dead letter stays where it was"
    );
    app.stop().await;
}

// ---- order, coalescing, Prefer: wait ----------------------------------------------------------

#[tokio::test]
async fn a_participants_updates_land_in_order_even_when_the_first_fails() {
    // Retries after 0.5-1 s: B surely arrives while A waits for its second attempt.
    let env = [FAST, &[("BRIDGE__QUEUE__INITIAL_BACKOFF", "1s")]].concat();
    let app = spawn_app_with(SOURCES, &env, None).await;
    let customer = app.call_with_customer("order-1");
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/order-1/*")
            .with_method("PATCH")
            .with_status(503),
    );
    let sender = Sender::for_app(&app, "crm");
    let a = sender
        .accepted(&webhook("order-1", &[("accountId", "A")]))
        .await;
    eventually(
        "A's first PATCH fails",
        Duration::from_secs(5),
        async || app.simulator.faults().is_empty().then_some(()),
    )
    .await;
    let b = sender
        .accepted(&webhook("order-1", &[("accountId", "B")]))
        .await;

    let ops = Ops::for_app(&app);
    let first = ops.delivered(&a).await;
    let second = ops.delivered(&b).await;
    assert!(first["attempts"].as_u64().unwrap() > 1, "{first}");
    assert!(
        second["finished_at"].as_i64() >= first["finished_at"].as_i64(),
        "B was delivered before A: {first} {second}"
    );
    assert_eq!(
        landed(&app.simulator, "order-1", &customer),
        attributes(&[(ACCOUNT_KEY, "B")])
    );
    // Never A after B, in anything Genesys accepted.
    let written: Vec<String> = attribute_patches(&app.simulator, "order-1")
        .iter()
        .filter(|p| p.status == 202)
        .filter_map(|p| sent_attributes(p).remove(ACCOUNT_KEY))
        .collect();
    let b_at = written
        .iter()
        .position(|v| v == "B")
        .expect("B was written");
    assert!(!written[b_at..].contains(&"A".to_owned()), "{written:?}");
    app.stop().await;
}

#[tokio::test]
async fn updates_that_pile_up_behind_a_slow_call_go_out_together() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    let customer = app.call_with_customer("pile-1");
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/pile-1")
            .with_method("GET")
            .with_latency_ms(300),
    );
    let sender = Sender::for_app(&app, "crm");
    let mut ids = Vec::new();
    let mut expected = BTreeMap::new();
    for k in 0..6 {
        let (account, note) = (format!("acc-{k}"), format!("note-{k}"));
        let key = format!("note{k}");
        ids.push(
            sender
                .accepted(&webhook(
                    "pile-1",
                    &[("accountId", &account), (&key, &note)],
                ))
                .await,
        );
        expected.insert(ACCOUNT_KEY.to_owned(), account);
        expected.insert(key, note);
    }
    let ops = Ops::for_app(&app);
    for id in &ids {
        let view = ops.delivered(id).await;
        assert_eq!(view["delivered_to"], customer.as_str());
    }

    let patches = attribute_patches(&app.simulator, "pile-1");
    assert!(
        patches.len() < ids.len(),
        "{} PATCHes for {} webhooks",
        patches.len(),
        ids.len()
    );
    assert_eq!(
        landed(&app.simulator, "pile-1", &customer),
        expected,
        "the union, later values winning"
    );
    assert_eq!(
        app.simulator
            .stats()
            .requests_by_route
            .get(CONVERSATION_GET),
        Some(&1),
        "the call is looked up once"
    );

    // The participant is remembered: a later update needs no second look at the call.
    let later = sender
        .accepted(&webhook("pile-1", &[("accountId", "acc-later")]))
        .await;
    ops.delivered(&later).await;
    assert_eq!(
        attribute_patches(&app.simulator, "pile-1").len(),
        patches.len() + 1,
        "one more PATCH for the later update"
    );
    assert_eq!(
        app.simulator
            .stats()
            .requests_by_route
            .get(CONVERSATION_GET),
        Some(&1),
        "the call is looked up once"
    );
    app.stop().await;
}

#[tokio::test]
async fn prefer_wait_answers_with_the_delivery_or_202_when_it_takes_longer() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    let quick_customer = app.call_with_customer("wait-quick");
    app.call_with_customer("wait-slow");
    let sender = Sender::for_app(&app, "crm");

    let answer = sender
        .try_post(
            &webhook("wait-quick", &[("accountId", "Q")]),
            None,
            OffsetDateTime::now_utc(),
            &[("prefer", "wait=5")],
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["preference-applied"], "wait=5");
    let delivered: Value = answer.json().await.unwrap();
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(
        delivered["delivered_to"],
        quick_customer.as_str(),
        "{delivered}"
    );
    assert!(delivered["delivery_id"].is_string(), "{delivered}");

    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/wait-slow/*")
            .with_method("PATCH")
            .with_latency_ms(3_000),
    );
    let started = Instant::now();
    let answer = sender
        .try_post(
            &webhook("wait-slow", &[("accountId", "S")]),
            None,
            OffsetDateTime::now_utc(),
            &[("prefer", "wait=1")],
        )
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert!(
        (Duration::from_secs(1)..Duration::from_millis(2_500)).contains(&waited),
        "answered after {waited:?}"
    );
    let accepted: Value = answer.json().await.unwrap();
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    let id = accepted["delivery_id"].as_str().unwrap();
    Ops::for_app(&app).delivered(id).await;
    app.stop().await;
}

// ---- helpers ----------------------------------------------------------------------------------

/// `{"conversationId": .., "fields": {..}}`, as the sources above read it.
fn webhook(conversation: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let fields: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    serde_json::to_vec(&json!({ "conversationId": conversation, "fields": fields })).unwrap()
}

/// The participant's attributes as the simulator holds them now.
fn landed(sim: &Simulator, conversation: &str, participant: &str) -> BTreeMap<String, String> {
    sim.participant_attributes(conversation, participant)
        .expect("the participant exists")
}

fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn non_empty(value: &Value) -> bool {
    value.as_str().is_some_and(|s| !s.is_empty())
}

fn customer_of(conversation: &Conversation) -> String {
    conversation
        .participants
        .iter()
        .find(|p| p.purpose == "customer")
        .expect("default conversations have a customer")
        .id
        .clone()
}

/// Every attributes PATCH on `conversation` the simulator answered, in arrival order.
fn attribute_patches(sim: &Simulator, conversation: &str) -> Vec<RecordedRequest> {
    let prefix = format!("/api/v2/conversations/{conversation}/participants/");
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with(&prefix))
        .collect()
}

/// Attributes PATCHes answered 202 on conversations whose id starts with `prefix`.
fn successful_patches(sim: &Simulator, prefix: &str) -> Vec<RecordedRequest> {
    let prefix = format!("/api/v2/conversations/{prefix}");
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with(&prefix) && r.status == 202)
        .collect()
}

fn sent_attributes(patch: &RecordedRequest) -> BTreeMap<String, String> {
    let body: Value = serde_json::from_str(&patch.body).unwrap();
    serde_json::from_value(body["attributes"].clone()).unwrap()
}

/// When the simulator received the request, in Unix milliseconds.
fn received_ms(request: &RecordedRequest) -> i128 {
    OffsetDateTime::parse(&request.received_at, &Rfc3339)
        .unwrap()
        .unix_timestamp_nanos()
        / 1_000_000
}

/// Polls `probe` every 20 ms until it gives a value; fails after `within`.
async fn eventually<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signs webhooks for one configured source, as the sender would.
struct Sender {
    source: Source,
    base_url: String,
    http: reqwest::Client,
}

impl Sender {
    fn new(config_dir: &Path, source: &str, base_url: &str) -> Self {
        let settings = config::load(&LoadOptions {
            config_dir: config_dir.to_owned(),
            profile: "test".to_owned(),
            env: Some(Default::default()),
        })
        .expect("the test profile loads");
        let source = settings
            .sources
            .into_iter()
            .find(|s| s.name() == source)
            .expect("source configured");
        Self {
            source,
            base_url: base_url.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
        }
    }

    fn for_app(app: &TestApp, source: &str) -> Self {
        Self::new(&app.config_dir, source, &app.address)
    }

    /// Posts `body` signed at `at` (with `event_id` as the event id when given) and `extra`
    /// headers.
    async fn try_post(
        &self,
        body: &[u8],
        event_id: Option<&str>,
        at: OffsetDateTime,
        extra: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::Response> {
        let options = SignOptions {
            base_url: &self.base_url,
            event_id,
            dry_run: false,
        };
        let signed = sign(&self.source, body, &options, at).expect("signs");
        let mut request = self.http.post(&signed.url).body(body.to_vec());
        for (name, value) in signed
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(extra.iter().copied())
        {
            request = request.header(name, value);
        }
        request.send().await
    }

    /// Posts `body`, requires a 202, returns its delivery id.
    async fn accepted(&self, body: &[u8]) -> String {
        let answer = self
            .try_post(body, None, OffsetDateTime::now_utc(), &[])
            .await
            .expect("the bridge answers");
        let status = answer.status();
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answer["delivery_id"].as_str().unwrap().to_owned()
    }
}

/// The ops API with the admin token.
struct Ops {
    base_url: String,
    http: reqwest::Client,
}

impl Ops {
    fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    fn for_app(app: &TestApp) -> Self {
        Self::new(&app.address)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.get(format!("{}{path}", self.base_url));
        Self::send(request).await
    }

    async fn post(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.post(format!("{}{path}", self.base_url));
        Self::send(request).await
    }

    async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let answer = request.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = answer.status();
        (status, answer.json().await.unwrap())
    }

    async fn delivered(&self, id: &str) -> Value {
        self.await_status(id, "delivered").await
    }

    async fn dead(&self, id: &str) -> Value {
        self.await_status(id, "dead").await
    }

    /// Polls `GET /deliveries/{id}` until it shows `status` (12 s at most); returns that view.
    async fn await_status(&self, id: &str, status: &str) -> Value {
        let within = Duration::from_secs(12);
        let deadline = Instant::now() + within;
        loop {
            let (code, view) = self.get(&format!("/deliveries/{id}")).await;
            assert_eq!(code, StatusCode::OK, "{view}");
            if view["status"] == status {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "delivery {id} is not {status} within {within:?}; last seen: {view}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A throw-away directory holding `test.toml`; removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn with_profile(profile: &impl Fn(&Path) -> String) -> Self {
        let dir =
            std::env::temp_dir().join(format!("genesys-bridge-delivery-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("test.toml"), profile(&dir)).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A real `genesys-bridge serve`, killed when dropped so no failure leaves it behind.
struct BridgeProcess {
    child: Child,
    log: PathBuf,
    base_url: String,
}

impl BridgeProcess {
    /// Starts the binary with nothing from this environment and waits until it listens.
    async fn start(dir: &Path, name: &str) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_genesys-bridge"))
            .env_clear()
            .arg("--config-dir")
            .arg(dir)
            .args(["--env", "test", "serve"])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .current_dir(dir)
            .spawn()
            .unwrap();
        let mut process = Self {
            child,
            log,
            base_url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(address) = process.listening_on() {
                process.base_url = format!("http://{address}");
                return process;
            }
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!("the bridge exited with {status}:\n{}", process.log());
            }
            assert!(
                Instant::now() < deadline,
                "the bridge did not listen within 15 s:\n{}",
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The address in the JSON log line `genesys-bridge listening`.
    fn listening_on(&self) -> Option<String> {
        self.log()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["message"] == "genesys-bridge listening")
            .and_then(|line| line["addr"].as_str().map(str::to_owned))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no shutdown code runs.
    fn kill_9(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(killed.success(), "kill -9 {pid} failed");
        self.child.wait().unwrap()
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
