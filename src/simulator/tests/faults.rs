//! Injected faults as a client meets them.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::*;
use crate::simulator::Fault;

#[tokio::test]
async fn two_503s_then_success() {
    let (sim, server) = serve(SimConfig::default());
    customer(&sim);
    let token = token(&server).await;
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");
    sim.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_status(503)
            .times(2),
    );

    for _ in 0..2 {
        let response = server.get(&path).authorization_bearer(&token).await;
        assert_genesys_error(&response, 503, "service.unavailable");
    }
    server
        .get(&path)
        .authorization_bearer(&token)
        .await
        .assert_status_ok();
    assert_eq!(sim.stats().faults_served, 2);
    assert!(sim.faults().is_empty(), "spent faults are gone");
}

#[tokio::test]
async fn retry_after_is_passed_through_verbatim() {
    let (sim, server) = serve(SimConfig::default());
    customer(&sim);
    let token = token(&server).await;
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");
    let date = "Wed, 21 Oct 2026 07:28:00 GMT";
    sim.inject_fault(Fault::new(&path).with_status(429).with_retry_after("42"));
    sim.inject_fault(Fault::new(&path).with_status(503).with_retry_after(date));

    let limited = server.get(&path).authorization_bearer(&token).await;
    let body = assert_genesys_error(&limited, 429, "too.many.requests.retry.after");
    assert_eq!(limited.header("retry-after"), "42");
    assert!(body["message"].as_str().unwrap().contains("[42]"));
    let unavailable = server.get(&path).authorization_bearer(&token).await;
    assert_eq!(unavailable.header("retry-after"), date);
    assert_eq!(
        sim.stats().rate_limited,
        0,
        "injected 429s are faults, not the limiter"
    );
}

#[tokio::test(start_paused = true)]
async fn latency_delays_the_answer() {
    let (sim, server) = serve(SimConfig::default());
    customer(&sim);
    let token = token(&server).await;
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");
    sim.inject_fault(Fault::new(&path).with_latency_ms(1_500).times(2));

    let started = Instant::now();
    server
        .get(&path)
        .authorization_bearer(&token)
        .await
        .assert_status_ok();
    assert_eq!(started.elapsed(), Duration::from_millis(1_500));

    let impatient = tokio::time::timeout(
        Duration::from_millis(1_000),
        server.get(&path).authorization_bearer(&token).into_future(),
    )
    .await;
    assert!(impatient.is_err(), "a client with a 1 s timeout gives up");
    tokio::task::yield_now().await;
    let statuses: Vec<_> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.last(),
        Some(&499),
        "the abandoned request is still recorded"
    );
}

#[tokio::test]
async fn faults_match_method_and_come_before_authentication() {
    let (sim, server) = serve(SimConfig::default());
    let customer_id = customer(&sim);
    sim.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_method("patch")
            .with_status(409)
            .with_code("conversation.ended"),
    );
    let get = server
        .get(&format!("/api/v2/conversations/{CONVERSATION_ID}"))
        .await;
    assert_genesys_error(&get, 401, "authentication.required");
    let patch = server
        .patch(&attributes_path(&customer_id))
        .json(&json!({"attributes": {}}))
        .await;
    assert_genesys_error(&patch, 409, "conversation.ended");
}

#[tokio::test]
async fn token_endpoint_faults_use_the_oauth_shape() {
    let (sim, server) = serve(SimConfig::default());
    sim.inject_fault(
        Fault::new("/oauth/token")
            .with_status(503)
            .with_retry_after("7"),
    );
    let response = server
        .post("/oauth/token")
        .authorization(basic("sim-client", "sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .await;
    response.assert_status_service_unavailable();
    assert_eq!(response.header("retry-after"), "7");
    let body: Value = response.json();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("contextId").is_none());
    token(&server).await;
}

#[tokio::test]
async fn faults_are_managed_over_http() {
    let (_sim, server) = serve(SimConfig::default());
    let created = server
        .post("/sim/faults")
        .json(&json!({"path": "/api/v2/*", "status": 502, "count": 3}))
        .await;
    created.assert_status(axum::http::StatusCode::CREATED);
    let id = created.json::<Value>()["id"].clone();
    assert!(id.is_u64());

    let listed: Value = server.get("/sim/faults").await.json();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["remaining"], 3);
    assert_eq!(listed[0]["fault"]["status"], 502);

    for bad in [
        json!({"path": "/x", "status": 200}),
        json!({"status": 503}),
        json!({"path": "/x", "colour": 1}),
    ] {
        let response = server.post("/sim/faults").json(&bad).await;
        response.assert_status_bad_request();
        assert_eq!(response.content_type(), "application/problem+json");
    }

    server
        .delete("/sim/faults")
        .await
        .assert_status(axum::http::StatusCode::NO_CONTENT);
    assert_eq!(server.get("/sim/faults").await.json::<Value>(), json!([]));
}
