//! The `/sim` control API, the request log and what every response carries.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::simulator::Fault;

#[tokio::test]
async fn every_response_carries_a_fresh_correlation_id() {
    let (sim, server) = serve(SimConfig::default());
    customer(&sim);
    let token = token(&server).await;
    let responses = [
        server
            .post("/oauth/token")
            .authorization(basic("sim-client", "sim-secret"))
            .form(&[("grant_type", "client_credentials")])
            .await,
        server.post("/oauth/token").await,
        server
            .get(&format!("/api/v2/conversations/{CONVERSATION_ID}"))
            .await,
        server
            .get(&format!("/api/v2/conversations/{CONVERSATION_ID}"))
            .authorization_bearer(&token)
            .await,
        server.get("/nowhere").await,
        server.get("/sim/stats").await,
        server.get("/sim/nowhere").await,
        server.post("/sim/conversations/nope/end").await,
    ];
    let mut ids: Vec<_> = responses.iter().map(correlation_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), responses.len(), "one id per response");
}

#[tokio::test]
async fn request_log_redacts_credentials_and_skips_control_paths() {
    let (sim, server) = serve(SimConfig::default());
    let customer_id = customer(&sim);
    let token = token(&server).await;
    server
        .patch(&attributes_path(&customer_id))
        .authorization_bearer(&token)
        .add_query_param("trace", "1")
        .json(&json!({"attributes": {"crmAccountId": "ACC-1"}}))
        .await;
    server.get("/sim/stats").await;

    let response = server.get("/sim/requests").await;
    let raw = response.text();
    assert!(!raw.contains(&token), "the access token is never logged");
    assert!(!raw.contains(&basic("sim-client", "sim-secret")[6..]));
    let log: Value = response.json();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");

    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/oauth/token");
    assert_eq!(log[0]["headers"]["authorization"], "Basic <redacted>");
    assert_eq!(log[0]["body"], "grant_type=client_credentials");
    assert_eq!(log[0]["status"], 200);

    assert_eq!(log[1]["method"], "PATCH");
    assert_eq!(log[1]["query"], "trace=1");
    assert_eq!(log[1]["headers"]["authorization"], "Bearer <redacted>");
    assert_eq!(log[1]["headers"]["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(log[1]["body"].as_str().unwrap()).unwrap(),
        json!({"attributes": {"crmAccountId": "ACC-1"}})
    );
    assert_eq!(log[1]["status"], 202);
    assert!(log[1]["received_at"].as_str().unwrap().ends_with('Z'));

    server
        .delete("/sim/requests")
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn stats_count_by_route_template() {
    let (sim, server) = serve(SimConfig::default());
    let customer_id = customer(&sim);
    let token = token(&server).await;
    for _ in 0..2 {
        server
            .patch(&attributes_path(&customer_id))
            .authorization_bearer(&token)
            .json(&json!({"attributes": {"a": "b"}}))
            .await;
    }
    server.get("/api/v2/unknown").await;
    let stats: Value = server.get("/sim/stats").await.json();
    assert_eq!(stats["token_requests"], 1);
    assert_eq!(stats["api_requests"], 3);
    assert_eq!(
        stats["requests_by_route"]["PATCH /api/v2/conversations/{conversationId}/participants/{participantId}/attributes"],
        2
    );
    assert_eq!(stats["requests_by_route"]["POST /oauth/token"], 1);
}

#[tokio::test]
async fn conversations_are_managed_over_http() {
    let (_sim, server) = serve(SimConfig::default());
    let created = server.post("/sim/conversations").await;
    created.assert_status(StatusCode::CREATED);
    let created: Value = created.json();
    let purposes: Vec<_> = created["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["purpose"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(purposes, ["ivr", "customer"]);

    let custom: Value = server
        .post("/sim/conversations")
        .json(&json!({"id": "c2", "participants": [
            {"id": "p1", "purpose": "external", "attributes": {"lang": "en"}},
            {"purpose": "customer", "ended": true}
        ]}))
        .await
        .json();
    assert_eq!(custom["participants"][0]["attributes"]["lang"], "en");
    assert!(custom["participants"][1]["endTime"].is_string());

    let list: Value = server.get("/sim/conversations").await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let attributes: Value = server
        .get("/sim/conversations/c2/participants/p1/attributes")
        .await
        .json();
    assert_eq!(attributes, json!({"attributes": {"lang": "en"}}));
    let ended: Value = server
        .post("/sim/conversations/c2/participants/p1/end")
        .await
        .json();
    assert!(ended["endTime"].is_string());
}

#[tokio::test]
async fn control_errors_are_problems_not_crashes() {
    let (_sim, server) = serve(SimConfig::default());
    let cases = [
        server.post("/sim/conversations/nope/end").await,
        server
            .post("/sim/conversations/nope/participants/p/end")
            .await,
        server
            .get("/sim/conversations/nope/participants/p/attributes")
            .await,
        server.get("/sim/conversations/nope/secureattributes").await,
        server.get("/sim/nowhere").await,
    ];
    for response in &cases {
        response.assert_status_not_found();
        assert_eq!(response.content_type(), "application/problem+json");
        assert_eq!(response.json::<Value>()["status"], 404);
    }
    for (body, what) in [
        (
            json!({"participants": [{"id": "x"}]}),
            "participant without purpose",
        ),
        (json!({"participants": "many"}), "participants not a list"),
    ] {
        let response = server.post("/sim/conversations").json(&body).await;
        assert_eq!(response.status_code(), StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(response.content_type(), "application/problem+json");
    }
    let garbage = server.post("/sim/conversations").text("{{{").await;
    garbage.assert_status_bad_request();
    let no_limit = server
        .put("/sim/rate-limit")
        .json(&json!({"window_secs": 5}))
        .await;
    no_limit.assert_status_bad_request();
    let wrong_method = server.delete("/sim/stats").await;
    assert_eq!(wrong_method.status_code(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn rate_limit_is_set_over_http() {
    let (sim, server) = serve(SimConfig::default());
    let setting: Value = server
        .put("/sim/rate-limit")
        .json(&json!({"limit": 5, "window_secs": 10}))
        .await
        .json();
    assert_eq!(setting, json!({"limit": 5, "window_secs": 10}));
    let kept_window: Value = server
        .put("/sim/rate-limit")
        .json(&json!({"limit": 7}))
        .await
        .json();
    assert_eq!(kept_window, json!({"limit": 7, "window_secs": 10}));
    sim.set_rate_limit(None, Some(Duration::from_secs(1)));
    assert_eq!(sim.rate_limit().limit, None);
}

#[tokio::test]
async fn reset_forgets_everything_and_restores_the_config() {
    let (sim, server) = serve(SimConfig {
        rate_limit: Some(50),
        ..SimConfig::default()
    });
    customer(&sim);
    let old_token = token(&server).await;
    sim.inject_fault(Fault::new("/oauth/token").with_status(500));
    sim.set_rate_limit(Some(1), None);

    server
        .post("/sim/reset")
        .await
        .assert_status(StatusCode::NO_CONTENT);

    assert!(sim.conversations().is_empty());
    assert!(sim.faults().is_empty());
    assert!(sim.requests().is_empty());
    assert_eq!(sim.stats(), crate::simulator::SimStats::default());
    assert_eq!(sim.rate_limit().limit, Some(50));
    let response = server
        .get("/api/v2/conversations/anything")
        .authorization_bearer(&old_token)
        .await;
    assert_genesys_error(&response, 401, "bad.credentials");
    token(&server).await;
}
