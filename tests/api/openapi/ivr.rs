//! The IVR handshake: every documented answer of `/v1/calls…`, provoked.

use super::*;

const IVR: &str = "Bearer test-ivr-token-0123456789";

async fn post(app: &TestApp, body: &str, authorization: &str) -> Answer {
    let mut request = app.http.post(app.url("/v1/calls")).body(body.to_owned());
    if !authorization.is_empty() {
        request = request.header("authorization", authorization);
    }
    Answer::of(request.send().await.expect("the bridge answers")).await
}

#[tokio::test]
async fn every_ivr_answer_is_documented_and_matches_its_schema() {
    let env = [
        ("BRIDGE__IVR__TOKEN", "test-ivr-token-0123456789"),
        ("BRIDGE__SERVER__MAX_BODY_BYTES", "4096"),
    ];
    let app = spawn_app_with(SOURCES, &env, None).await;
    let mut register = Contract::new("POST /v1/calls");
    let registration =
        json!({"conversationId": "oa-ivr", "ani": "+13175550100", "x": 1}).to_string();
    let body = register.expect("registered", 200, &post(&app, &registration, IVR).await);
    assert_eq!(body["ignoredFields"], "x");
    register.expect(
        "no conversation id",
        400,
        &post(&app, r#"{"ani": "+1"}"#, IVR).await,
    );
    register.expect("not JSON", 400, &post(&app, "{", IVR).await);
    register.expect("no credential", 401, &post(&app, &registration, "").await);
    register.expect(
        "the admin token",
        401,
        &post(&app, &registration, ADMIN).await,
    );
    let huge = format!(
        r#"{{"conversationId": "oa-ivr", "pad": "{}"}}"#,
        "x".repeat(8192)
    );
    register.expect("too large", 413, &post(&app, &huge, IVR).await);
    register.covered_except(&[
        (408, "the webhook's 408: one timeout layer"),
        (500, "a bug"),
        (503, "the webhook's 503: the same store problem"),
    ]);

    let mut data = Contract::new("GET /v1/calls/{conversationId}/data");
    let ivr = [("authorization", IVR)];
    let found = data.expect(
        "registered",
        200,
        &send(&app, "GET", "/v1/calls/oa-ivr/data?waitMs=10", &ivr).await,
    );
    assert_eq!(found["status"], "pending");
    let unknown = data.expect(
        "unknown",
        200,
        &send(&app, "GET", "/v1/calls/oa-nobody/data", &ivr).await,
    );
    assert_eq!(unknown["status"], "unknown_call");
    data.expect(
        "bad wait",
        400,
        &send(&app, "GET", "/v1/calls/oa-ivr/data?waitMs=x", &ivr).await,
    );
    data.expect(
        "no credential",
        401,
        &send(&app, "GET", "/v1/calls/oa-ivr/data", &[]).await,
    );
    data.covered_except(&[
        (408, "the webhook's 408: one timeout layer"),
        (500, "a bug"),
        (503, "the webhook's 503: the same store problem"),
    ]);
    app.stop().await;
}
