//! An event is delivered once however often it is sent; permanent failures become dead letters
//! an operator can inspect and replay, one at a time or a whole source; the ops API needs the
//! admin token.

use std::time::Duration;

use genesys_bridge::simulator::Fault;
use reqwest::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

use super::{
    ACCOUNT_KEY, FAST, Ops, SOURCES, Sender, attribute_patches, attributes, landed, webhook,
};
use crate::app::spawn_app_with;

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

#[tokio::test]
async fn a_bulk_replay_with_a_limit_takes_the_oldest_dead_letters_first() {
    let app = spawn_app_with(SOURCES, FAST, None).await;
    app.simulator.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_method("PATCH")
            .with_status(400)
            .times(3),
    );
    let crm = Sender::for_app(&app, "crm");
    let ops = Ops::for_app(&app);
    let mut ids = Vec::new();
    for i in 0..3 {
        let conversation = format!("trickle-{i}");
        app.call_with_customer(&conversation);
        let id = crm
            .accepted(&webhook(&conversation, &[("accountId", &conversation)]))
            .await;
        // One at a time, so their ids (arrival order) are the order they went dead in.
        ops.dead(&id).await;
        ids.push(id);
    }

    let (status, answer) = ops.post("/deliveries/replay?source=cr%6D&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["replayed"], 2, "{answer}");
    ops.delivered(&ids[0]).await;
    ops.delivered(&ids[1]).await;
    let (_, still_dead) = ops.get("/deliveries?status=dead&source=crm").await;
    let still_dead: Vec<&Value> = still_dead["items"].as_array().unwrap().iter().collect();
    assert_eq!(still_dead.len(), 1, "{still_dead:?}");
    assert_eq!(still_dead[0]["delivery_id"], ids[2].as_str());

    let (status, answer) = ops
        .post(&format!("/deliveries/replay?cursor={}", ids[2]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["parameter"], "cursor", "{answer}");

    let (_, answer) = ops.post("/deliveries/replay?limit=2").await;
    assert_eq!(answer["replayed"], 1, "only one was left: {answer}");
    ops.delivered(&ids[2]).await;
    app.stop().await;
}

fn non_empty(value: &Value) -> bool {
    value.as_str().is_some_and(|s| !s.is_empty())
}
