//! `GET /v1/calls/{conversationId}/data`: the flow pulls what arrived, always as a 200 a Data
//! Action can read.

use std::time::Instant;

use serde_json::json;

use super::*;

#[tokio::test]
async fn an_unknown_call_is_a_200_unknown_call_with_every_key_empty() {
    let app = ivr_app().await;
    let (status, body) = pull(&app, "never-registered", "?waitMs=2000").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "unknown_call", "found": false, "ageSeconds": 0,
               "crmAccountId": "", "crmOpenCase": "", "customerTier": ""})
    );
    app.stop().await;
}

#[tokio::test]
async fn a_pull_waits_for_the_first_webhook_and_answers_when_it_is_committed() {
    let app = ivr_app().await;
    register(
        &app,
        json!({"conversationId": "pull-1", "participantId": "p-1"}),
    )
    .await;
    let (status, pending) = pull(&app, "pull-1", "?waitMs=100").await;
    assert_eq!(status, 200);
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["customerTier"], "");

    let started = Instant::now();
    let waiting = pull(&app, "pull-1", "?waitMs=4000");
    let send = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        webhook(
            &app,
            "crm",
            json!({"conversationId": "pull-1", "fields": {"tier": "gold"}}),
        )
        .await
    };
    let ((status, found), (accepted, _)) = tokio::join!(waiting, send);
    assert_eq!((status, accepted), (200, 202));
    assert_eq!(found["status"], "found", "{found}");
    assert_eq!(found["found"], true);
    assert_eq!(found["customerTier"], "gold");
    assert_eq!(found["crmAccountId"], "");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered when the webhook landed, not at the end of the wait"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_newest_value_of_each_key_wins() {
    let app = ivr_app().await;
    register(
        &app,
        json!({"conversationId": "pull-2", "participantId": "p-2", "ani": "+13175550122"}),
    )
    .await;
    webhook(
        &app,
        "crm",
        json!({"conversationId": "pull-2", "fields": {"tier": "silver"}}),
    )
    .await;
    webhook(
        &app,
        "phone",
        json!({"phone": "+13175550122", "fields": {"tier": "gold", "accountId": "ACC-2"}}),
    )
    .await;
    let (_, body) = pull(&app, "pull-2", "").await;
    assert_eq!(body["customerTier"], "gold");
    assert_eq!(body["crmAccountId"], "ACC-2");
    assert_eq!(body["status"], "found");
    app.stop().await;
}

#[tokio::test]
async fn a_wait_is_capped_by_ivr_max_wait() {
    let app =
        crate::app::spawn_app_with(PROFILE, &[("BRIDGE__IVR__MAX_WAIT", "200ms")], None).await;
    register(&app, json!({"conversationId": "pull-3"})).await;
    let started = Instant::now();
    let (status, body) = pull(&app, "pull-3", "?waitMs=30000").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bad_wait_or_conversation_id_is_a_400() {
    let app = ivr_app().await;
    for (path, kind) in [
        ("/v1/calls/pull-4/data?waitMs=soon", "invalid-parameter"),
        ("/v1/calls/pull-4/data?waitMs=-1", "invalid-parameter"),
        (
            "/v1/calls/pull-4/data?waitMs=1&waitMs=2",
            "invalid-parameter",
        ),
        ("/v1/calls/a%2Fb/data", "invalid-conversation-id"),
    ] {
        let answer = app
            .http
            .get(app.url(path))
            .header("authorization", IVR)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{path}");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(
            problem["type"],
            format!("urn:genesys-bridge:problem:{kind}"),
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_committed_before_the_call_registered_is_the_flows_to_pull() {
    let app = ivr_app().await;
    let customer = app.call_with_customer("early-1");
    // The CRM was quicker than the flow: its webhook names the conversation before the
    // registration arrives.
    let (accepted, body) = webhook(
        &app,
        "crm",
        json!({"conversationId": "early-1", "fields": {"tier": "gold"}}),
    )
    .await;
    assert_eq!(accepted, 202, "{body}");
    let (status, _) = pull(&app, "early-1", "").await;
    assert_eq!(status, 200);
    let (registered, call) = register(
        &app,
        json!({"conversationId": "early-1", "participantId": customer}),
    )
    .await;
    assert_eq!(registered, 200, "{call}");
    let (_, found) = pull(&app, "early-1", "?waitMs=0").await;
    assert_eq!(found["status"], "found", "{found}");
    assert_eq!(found["customerTier"], "gold");
    app.stop().await;
}
