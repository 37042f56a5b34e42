//! The local demo's path through the whole bridge: sign, send, see the attributes land.

use std::time::Duration;

use genesys_bridge::simulator::NewConversation;

use crate::app::spawn_app;

pub const DEMO_SOURCE: &str = r#"
[sources.demo]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ="

[sources.demo.mapping.keys]
accountId = "crmAccountId"
tier = "customerTier"
"#;

#[tokio::test]
async fn a_signed_webhook_lands_on_the_callers_participant() {
    let app = spawn_app(DEMO_SOURCE).await;
    let conversation = app
        .simulator
        .create_conversation(NewConversation::with_id("call-1"));
    let customer = conversation
        .participants
        .iter()
        .find(|p| p.purpose == "customer")
        .unwrap()
        .id
        .clone();
    let body =
        br#"{"conversationId":"call-1","fields":{"accountId":"ACC-1","tier":"gold","ignored":1}}"#;
    let response = app.send_signed("demo", body).await;
    assert_eq!(response.status(), 202);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(answer["delivery_id"].is_string());

    let mut landed = None;
    for _ in 0..100 {
        landed = app
            .simulator
            .participant_attributes("call-1", &customer)
            .filter(|a| !a.is_empty());
        if landed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let landed = landed.expect("the attributes landed within 2 s");
    assert_eq!(
        landed.get("crmAccountId").map(String::as_str),
        Some("ACC-1")
    );
    assert_eq!(landed.get("customerTier").map(String::as_str), Some("gold"));
    assert_eq!(landed.len(), 2, "unmapped fields are dropped");
    app.stop().await;
}
