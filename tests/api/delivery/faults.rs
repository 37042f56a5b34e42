//! Faults on the Genesys side delay deliveries but lose none: a 503 outage, a 429 storm waited
//! out, a write still under way when the bridge stops; a participant's updates land in order,
//! coalesced; `Prefer: wait` answers with the outcome.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use genesys_bridge::simulator::{Fault, RecordedRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    ACCOUNT_KEY, FAST, Ops, SOURCES, Sender, attribute_patches, attributes, landed, webhook,
};
use crate::app::spawn_app_with;

const CONVERSATION_GET: &str = "GET /api/v2/conversations/{conversationId}";

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

/// A stopping bridge gives deliveries under way `server.shutdown_grace` to finish; one that
/// does not finish in time is put back to pending (another replica takes it at once), not left
/// leased until its lease runs out.
#[tokio::test]
async fn a_delivery_unfinished_at_the_shutdown_deadline_is_pending_again() {
    let env = [FAST, &[("BRIDGE__SERVER__SHUTDOWN_GRACE", "300ms")]].concat();
    let app = spawn_app_with(SOURCES, &env, None).await;
    app.call_with_customer("drain-1");
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/drain-1/*")
            .with_method("PATCH")
            .with_latency_ms(2_000),
    );
    let id = Sender::for_app(&app, "crm")
        .accepted(&webhook("drain-1", &[("accountId", "ACC-DRAIN")]))
        .await;
    Ops::for_app(&app).await_status(&id, "in_flight").await;
    let job = app.stop_and_read(&id).await.expect("the job is kept");
    assert_eq!(job.status.as_str(), "pending", "{job:?}");
    assert_eq!(job.attempts, 1, "the attempt under way counts: {job:?}");
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
