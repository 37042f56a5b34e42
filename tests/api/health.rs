//! `GET /health/live` and `GET /health/ready`: what an orchestrator's probes see.

use std::collections::HashMap;

use axum_test::TestServer;
use genesys_bridge::config::{self, LoadOptions};
use genesys_bridge::startup::Application;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::{spawn_app, spawn_app_with, write_profile};
use crate::store::TestStore;

/// (name, status) of every readiness check, in the order reported.
fn checks(body: &Value) -> Vec<(String, String)> {
    body["checks"]
        .as_array()
        .expect("checks is a list")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `expected` (name, status) are all reported; any other check is `ok`.
fn assert_checks(body: &Value, expected: &[(&str, &str)]) {
    let reported = checks(body);
    for (name, status) in expected {
        assert!(
            reported.iter().any(|(n, s)| n == name && s == status),
            "no {name} check with status {status} in {body:#}"
        );
    }
    for (name, status) in &reported {
        assert!(
            status == "ok" || expected.iter().any(|(n, _)| n == name),
            "unexpected failing check {name} in {body:#}"
        );
    }
}

fn check<'b>(body: &'b Value, name: &str) -> &'b Value {
    body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {body:#}"))
}

#[tokio::test]
async fn live_answers_200_live() {
    let app = spawn_app("").await;

    let response = app.http.get(app.url("/health/live")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "live"})
    );
    app.stop().await;
}

#[tokio::test]
async fn ready_answers_200_with_every_check_ok() {
    let app = spawn_app("").await;

    let response = app.http.get(app.url("/health/ready")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_checks(
        &body,
        &[
            ("config", "ok"),
            ("accepting", "ok"),
            ("genesys_token", "ok"),
        ],
    );
    assert_eq!(
        app.simulator.stats().token_requests,
        1,
        "readiness proves the credentials with a real token"
    );
    app.stop().await;
}

#[tokio::test]
async fn ready_is_503_when_genesys_refuses_the_credentials_without_showing_the_secret() {
    const WRONG: &str = "wrong-secret-4f9d2c";
    let app = spawn_app_with("", &[("BRIDGE__GENESYS__CLIENT_SECRET", WRONG)], None).await;

    let response = app.http.get(app.url("/health/ready")).send().await.unwrap();

    assert_eq!(response.status(), 503);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "not_ready", "{body:#}");
    assert_checks(
        &body,
        &[
            ("config", "ok"),
            ("accepting", "ok"),
            ("genesys_token", "failing"),
        ],
    );
    let detail = check(&body, "genesys_token")["detail"]
        .as_str()
        .expect("a failing check says why");
    assert!(
        detail.contains("client credentials") && detail.contains("genesys.client_secret"),
        "the detail names the credentials problem: {detail}"
    );
    assert!(!text.contains(WRONG), "the secret leaked: {text}");
    assert!(!text.contains("sim-secret"), "a secret leaked: {text}");
    app.stop().await;
}

/// Once shutdown has begun the listener stops accepting, so a probe cannot reach a running
/// server at that moment through a socket without racing it; the router is asked directly,
/// with the shutdown token of a fully built application cancelled.
#[tokio::test]
async fn ready_is_503_not_accepting_once_shutdown_has_begun() {
    let config_dir = write_profile(
        "[server]\nport = 0\n[simulator]\nenabled = true\nport = 0\n\
         [genesys]\nclient_id = \"sim-client\"\nclient_secret = \"sim-secret\"\n",
    );
    let _cleanup = RemoveOnDrop(config_dir.clone());
    let settings = config::load(&LoadOptions {
        config_dir: config_dir.clone(),
        profile: "test".to_owned(),
        // A store of its own, as spawn_app gives.
        env: Some(
            TestStore::create(&config_dir)
                .await
                .env()
                .iter()
                .cloned()
                .collect::<HashMap<_, _>>(),
        ),
    })
    .unwrap();
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let router =
        genesys_bridge::http::router(app.state().clone(), std::time::Duration::from_secs(5));
    let server = TestServer::new(router);

    let before = server.get("/health/ready").await;
    shutdown.cancel();
    let during = server.get("/health/ready").await;

    assert_eq!(before.status_code(), 200);
    assert_eq!(during.status_code(), 503);
    let body: Value = during.json();
    assert_eq!(body["status"], "not_ready");
    assert_checks(
        &body,
        &[
            ("config", "ok"),
            ("accepting", "failing"),
            ("genesys_token", "ok"),
        ],
    );
    assert_eq!(check(&body, "accepting")["detail"], "shutting down");
    drop(app); // stops its simulator
}

/// Removes the directory on every way out of the test.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
