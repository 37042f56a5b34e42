//! The token endpoint and bearer authentication of API paths.

use std::time::Duration;

use serde_json::Value;

use super::*;

#[tokio::test]
async fn issues_a_bearer_token_for_good_basic_credentials() {
    let (sim, server) = serve(SimConfig::default());
    let response = server
        .post("/oauth/token")
        .authorization(basic("sim-client", "sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .await;
    response.assert_status_ok();
    assert_eq!(response.header("cache-control"), "no-store");
    let body: Value = response.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 86_400);
    assert!(body["access_token"].as_str().unwrap().len() >= 32);
    assert_eq!(sim.stats().token_requests, 1);
}

#[tokio::test]
async fn refuses_bad_credentials_with_invalid_client() {
    let (_sim, server) = serve(SimConfig::default());
    for authorization in [
        Some(basic("sim-client", "wrong")),
        Some(basic("other", "sim-secret")),
        Some("Basic not-base64!".to_owned()),
        Some("Bearer sim-secret".to_owned()),
        None,
    ] {
        let mut request = server
            .post("/oauth/token")
            .form(&[("grant_type", "client_credentials")]);
        if let Some(value) = &authorization {
            request = request.authorization(value);
        }
        let response = request.await;
        response.assert_status_unauthorized();
        let body: Value = response.json();
        assert_eq!(body["error"], "invalid_client", "{authorization:?}");
        assert!(body["error_description"].is_string());
        assert!(body["description"].is_string());
        assert!(
            body.get("code").is_none(),
            "OAuth shape, not the Genesys one"
        );
    }
}

#[tokio::test]
async fn refuses_other_or_missing_grant_types() {
    let (_sim, server) = serve(SimConfig::default());
    for form in [&[("grant_type", "password")][..], &[("scope", "x")][..]] {
        let response = server
            .post("/oauth/token")
            .authorization(basic("sim-client", "sim-secret"))
            .form(&form)
            .await;
        response.assert_status_bad_request();
        assert_eq!(response.json::<Value>()["error"], "unsupported_grant_type");
    }
    let json = server
        .post("/oauth/token")
        .authorization(basic("sim-client", "sim-secret"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .await;
    json.assert_status_bad_request();
    assert_eq!(json.json::<Value>()["error"], "invalid_request");
}

#[tokio::test]
async fn api_needs_a_bearer_token() {
    let (sim, server) = serve(SimConfig::default());
    customer(&sim);
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");

    let missing = server.get(&path).await;
    assert_genesys_error(&missing, 401, "authentication.required");
    let basic_scheme = server
        .get(&path)
        .authorization(basic("sim-client", "sim-secret"))
        .await;
    assert_genesys_error(&basic_scheme, 401, "authentication.required");
    let unknown = server.get(&path).authorization_bearer("made-up").await;
    assert_genesys_error(&unknown, 401, "bad.credentials");

    let token = token(&server).await;
    let lower_case_scheme = server
        .get(&path)
        .authorization(format!("bearer {token}"))
        .await;
    lower_case_scheme.assert_status_ok();
}

#[tokio::test(start_paused = true)]
async fn tokens_expire_after_their_ttl() {
    let (sim, server) = serve(SimConfig {
        token_ttl: Duration::from_secs(300),
        ..SimConfig::default()
    });
    customer(&sim);
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");
    let token = token(&server).await;

    tokio::time::advance(Duration::from_secs(299)).await;
    server
        .get(&path)
        .authorization_bearer(&token)
        .await
        .assert_status_ok();

    tokio::time::advance(Duration::from_secs(1)).await;
    let expired = server.get(&path).authorization_bearer(&token).await;
    assert_genesys_error(&expired, 401, "credentials.expired");

    let fresh = super::token(&server).await;
    server
        .get(&path)
        .authorization_bearer(&fresh)
        .await
        .assert_status_ok();
}
