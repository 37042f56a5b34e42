//! Which participant gets the write: the one the payload names, else the present customer; a
//! conversation the bridge cannot find is accepted and nothing lands.

use super::*;

#[tokio::test]
async fn a_participant_id_in_the_payload_chooses_the_participant() {
    let app = spawn_app(ROUTED).await;
    let participant = |id: &str, purpose: &str| NewParticipant {
        id: Some(id.to_owned()),
        ..NewParticipant::active(purpose)
    };
    app.simulator.create_conversation(NewConversation {
        id: Some("call-routed".to_owned()),
        participants: Some(vec![
            participant("ivr-1", "ivr"),
            participant("caller", "customer"),
            participant("agent-7", "agent"),
        ]),
    });
    let payload = json!({
        "conversationId": "call-routed",
        "participantId": "agent-7",
        "fields": {"AccountId": "001P"},
    });

    accepted(
        app.send_signed("routed", payload.to_string().as_bytes())
            .await,
    )
    .await;

    assert_eq!(
        landed(&app, "call-routed", "agent-7").await,
        attrs(&[("crmAccountId", "001P")])
    );
    assert_eq!(
        app.simulator
            .participant_attributes("call-routed", "caller"),
        Some(BTreeMap::new()),
        "the customer is left alone"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_participant_id_the_present_customer_gets_the_write() {
    let app = spawn_app(SALESFORCE).await;
    let participant = |id: &str, purpose: &str, ended: bool| NewParticipant {
        id: Some(id.to_owned()),
        ended,
        ..NewParticipant::active(purpose)
    };
    app.simulator.create_conversation(NewConversation {
        id: Some("call-transfer".to_owned()),
        participants: Some(vec![
            participant("ivr-1", "ivr", false),
            participant("caller", "customer", false),
            participant("agent-7", "agent", false),
            participant("earlier-leg", "customer", true),
        ]),
    });

    accepted(
        app.send_signed(
            "salesforce",
            &body("call-transfer", json!({"AccountId": "001Q"})),
        )
        .await,
    )
    .await;

    assert_eq!(
        landed(&app, "call-transfer", "caller").await,
        attrs(&[("crmAccountId", "001Q")])
    );
    for other in ["ivr-1", "agent-7", "earlier-leg"] {
        assert_eq!(
            app.simulator.participant_attributes("call-transfer", other),
            Some(BTreeMap::new()),
            "{other} is left alone"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_for_an_unknown_conversation_is_accepted_and_nothing_lands() {
    let app = spawn_app(SALESFORCE).await;
    let customer = app.call_with_customer("call-real");

    let response = app
        .send_signed(
            "salesforce",
            &body("call-ghost", json!({"AccountId": "001R"})),
        )
        .await;

    // Delivery is asynchronous today: the sender hears 202 before Genesys is asked.
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["conversation_id"], "call-ghost");
    let mut looked_up = false;
    for _ in 0..100 {
        looked_up = app
            .simulator
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/conversations/call-ghost") && r.status == 404);
        if looked_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(looked_up, "the bridge asked Genesys about the conversation");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let requests = app.simulator.requests();
    assert!(
        requests.iter().all(|r| r.method != "PATCH"),
        "nothing is written: {requests:#?}"
    );
    assert!(app.simulator.conversation("call-ghost").is_none());
    assert_eq!(
        app.simulator.participant_attributes("call-real", &customer),
        Some(BTreeMap::new())
    );
    app.stop().await;
}
