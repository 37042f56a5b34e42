//! `GET /metrics`: what ops alert on, in the Prometheus text format. The recorder is shared by
//! every app in this test process, so assertions look for series and growth, not exact totals.

use crate::app::spawn_app;
use crate::smoke::DEMO_SOURCE;

fn value(text: &str, series_prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series_prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_count_webhooks_deliveries_and_genesys_calls_without_ids() {
    let app = spawn_app(DEMO_SOURCE).await;
    let customer = app.call_with_customer("metrics-call");
    let body = br#"{"conversationId":"metrics-call","fields":{"accountId":"ACC-9","tier":"gold"}}"#;
    assert_eq!(app.send_signed("demo", body).await.status(), 202);
    app.landed_attributes("metrics-call", &customer).await;
    let forged = app
        .http
        .post(app.url("/webhooks/demo"))
        .header("content-type", "application/json")
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let scrape = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scrape.text().await.unwrap();
    for series in [
        r#"bridge_webhooks_total{source="demo",outcome="accepted""#,
        r#"bridge_webhooks_total{source="demo",outcome="rejected",reason="missing_header"}"#,
        r#"bridge_deliveries_total{source="demo",outcome="delivered"}"#,
        r#"bridge_genesys_calls_total{operation="patch_attributes",status="202"}"#,
        r#"bridge_genesys_calls_total{operation="get_conversation",status="200"}"#,
        r#"bridge_genesys_token_requests_total{outcome="ok"}"#,
        "bridge_intake_duration_seconds_bucket",
        "bridge_end_to_end_seconds_bucket",
        "bridge_rate_budget_wait_seconds_count",
    ] {
        assert!(
            value(&text, series) >= 1.0,
            "{series} missing or zero in:\n{text}"
        );
    }
    assert!(
        text.contains("# HELP bridge_webhooks_total"),
        "series are described"
    );
    // Ids never become label values.
    assert!(
        !text.contains("metrics-call") && !text.contains(&customer),
        "no conversation or participant ids"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_sources_do_not_become_label_values() {
    let app = spawn_app(DEMO_SOURCE).await;
    let answer = app
        .http
        .post(app.url("/webhooks/attacker-chosen-name-123"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("attacker-chosen-name-123"));
    assert!(
        value(
            &text,
            r#"bridge_webhooks_total{source="unknown",outcome="rejected",reason="unknown-source"}"#
        ) >= 1.0
    );
    app.stop().await;
}
