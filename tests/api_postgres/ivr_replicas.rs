//! The IVR handshake across replicas sharing one database: a call registered on one replica is
//! reached by number through the other, and a pull waiting on one wakes when the other commits.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::app::spawn_app_with;
use crate::ivr::{PROFILE, fields, pull, register, webhook};

#[tokio::test]
async fn a_webhook_accepted_by_one_replica_wakes_a_pull_waiting_on_the_other() {
    let a = spawn_app_with(PROFILE, &[], None).await;
    // b shares a's schema: the same store, two processes' worth of bridge.
    let shared: Vec<(&str, &str)> = a
        .store
        .env()
        .iter()
        .filter(|(k, _)| k == "BRIDGE__STORE__URL")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(shared.len(), 1, "a runs on PostgreSQL");
    let b = spawn_app_with(PROFILE, &shared, None).await;
    let customer = a.call_with_customer("replicated-1");
    let (status, registered) = register(
        &b,
        json!({"conversationId": "replicated-1", "participantId": customer, "ani": "+13175550160"}),
    )
    .await;
    assert_eq!(status, 200, "{registered}");

    let waiting = tokio::spawn({
        let (http, url) = (
            b.http.clone(),
            b.url("/v1/calls/replicated-1/data?waitMs=4000"),
        );
        async move {
            let started = Instant::now();
            let answer: serde_json::Value = http
                .get(url)
                .header("authorization", crate::ivr::IVR)
                .send()
                .await
                .expect("b answers")
                .json()
                .await
                .expect("JSON");
            (answer, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    let (status, accepted) = webhook(
        &a,
        "phone",
        json!({"phone": "317-555-0160", "fields": fields(&[("tier", "platinum")])}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["conversation_id"], "replicated-1");
    let (answer, waited) = waiting.await.unwrap();
    let after_webhook = sent.elapsed();
    assert_eq!(answer["status"], "found", "{answer}");
    assert_eq!(answer["customerTier"], "platinum");
    assert!(
        waited < Duration::from_secs(3),
        "the pull answered {waited:?} after it started ({after_webhook:?} after the webhook): it did not wake on the commit"
    );
    // And a's own pull sees it at once.
    let (_, seen) = pull(&a, "replicated-1", "").await;
    assert_eq!(seen["customerTier"], "platinum");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_webhook_committed_before_the_call_registered_is_the_flows_to_pull() {
    let app = spawn_app_with(PROFILE, &[], None).await;
    let customer = app.call_with_customer("early-pg");
    let (accepted, body) = webhook(
        &app,
        "crm",
        json!({"conversationId": "early-pg", "fields": fields(&[("tier", "gold")])}),
    )
    .await;
    assert_eq!(accepted, 202, "{body}");
    let (registered, call) = register(
        &app,
        json!({"conversationId": "early-pg", "participantId": customer}),
    )
    .await;
    assert_eq!(registered, 200, "{call}");
    let (_, found) = pull(&app, "early-pg", "?waitMs=0").await;
    assert_eq!(found["status"], "found", "{found}");
    assert_eq!(found["customerTier"], "gold");
    app.stop().await;
}
