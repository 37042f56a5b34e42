//! The probes and the metrics: `/health/live`, `/health/ready` and `/metrics` as documented.

use super::*;

#[tokio::test]
async fn every_health_and_metrics_answer_is_documented_and_matches_its_schema() {
    let app = spawn_app(SOURCES).await;
    let mut live = Contract::new("GET /health/live");
    let mut ready = Contract::new("GET /health/ready");
    let mut metrics = Contract::new("GET /metrics");
    live.expect(
        "running",
        200,
        &send(&app, "GET", "/health/live", &[]).await,
    );
    let text = metrics.expect("running", 200, &send(&app, "GET", "/metrics", &[]).await);
    assert!(
        text.as_str().is_some_and(|t| t.contains("# TYPE")),
        "{text}"
    );
    let answer = ready.expect("ready", 200, &get(&app, "/health/ready").await);
    assert_eq!(answer["status"], "ready");
    app.stop().await;

    let env = [(
        "BRIDGE__GENESYS__CLIENT_SECRET",
        "not-the-simulators-secret",
    )];
    let refused = spawn_app_with(SOURCES, &env, None).await;
    let answer = get(&refused, "/health/ready").await;
    let answer = ready.expect("credentials refused", 503, &answer);
    let checks = answer["checks"].as_array().unwrap();
    let failing = |c: &&Value| c["status"] == "failing";
    assert_eq!(
        checks.iter().find(failing).map(|c| &c["name"]),
        Some(&json!("genesys_token"))
    );
    refused.stop().await;

    let elsewhere = [
        (408, "the webhook's 408: one timeout layer"),
        (500, "a bug"),
    ];
    for contract in [live, ready, metrics] {
        contract.covered_except(&elsewhere);
    }
}
