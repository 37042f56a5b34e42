//! The per-token rate limit as a client meets it.

use std::time::Duration;

use super::*;

#[tokio::test(start_paused = true)]
async fn fourth_request_in_the_window_is_told_when_to_retry() {
    let (sim, server) = serve(SimConfig {
        rate_limit: Some(3),
        rate_window: Duration::from_secs(60),
        ..SimConfig::default()
    });
    customer(&sim);
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");
    let token = token(&server).await;

    server
        .get(&path)
        .authorization_bearer(&token)
        .await
        .assert_status_ok();
    tokio::time::advance(Duration::from_secs(10)).await;
    server
        .get(&path)
        .authorization_bearer(&token)
        .await
        .assert_status_ok();
    server
        .get(&path)
        .authorization_bearer(&token)
        .await
        .assert_status_ok();

    let limited = server.get(&path).authorization_bearer(&token).await;
    let body = assert_genesys_error(&limited, 429, "too.many.requests.retry.after");
    assert_eq!(limited.header("retry-after"), "50");
    assert_eq!(
        body["message"],
        "Rate limit exceeded the maximum. Retry the request in [50] seconds"
    );

    // A rejected retry does not push the wait further out.
    tokio::time::advance(Duration::from_secs(49)).await;
    let early = server.get(&path).authorization_bearer(&token).await;
    assert_eq!(early.header("retry-after"), "1");

    tokio::time::advance(Duration::from_secs(1)).await;
    server
        .get(&path)
        .authorization_bearer(&token)
        .await
        .assert_status_ok();
    assert_eq!(sim.stats().rate_limited, 2);
}

#[tokio::test(start_paused = true)]
async fn limit_is_per_token_and_can_be_lifted() {
    let (sim, server) = serve(SimConfig {
        rate_limit: Some(1),
        ..SimConfig::default()
    });
    customer(&sim);
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");
    let first = token(&server).await;
    let second = token(&server).await;

    server
        .get(&path)
        .authorization_bearer(&first)
        .await
        .assert_status_ok();
    server
        .get(&path)
        .authorization_bearer(&second)
        .await
        .assert_status_ok();
    server
        .get(&path)
        .authorization_bearer(&first)
        .await
        .assert_status_too_many_requests();

    server
        .put("/sim/rate-limit")
        .json(&serde_json::json!({"limit": null}))
        .await
        .assert_status_ok();
    for _ in 0..10 {
        server
            .get(&path)
            .authorization_bearer(&first)
            .await
            .assert_status_ok();
    }
}

#[tokio::test(start_paused = true)]
async fn unauthenticated_requests_do_not_use_up_the_limit() {
    let (sim, server) = serve(SimConfig {
        rate_limit: Some(1),
        ..SimConfig::default()
    });
    customer(&sim);
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");
    for _ in 0..3 {
        server
            .get(&path)
            .authorization_bearer("made-up")
            .await
            .assert_status_unauthorized();
    }
    let token = token(&server).await;
    server
        .get(&path)
        .authorization_bearer(&token)
        .await
        .assert_status_ok();
    assert_eq!(sim.stats().rate_limited, 0);
}
