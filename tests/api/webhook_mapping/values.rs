//! How values land: strings, numbers and booleans exactly as written; unmapped fields dropped by
//! default; nulls not sent; nested values only with `json = true`, as compact JSON text.

use super::*;

#[tokio::test]
async fn strings_numbers_and_booleans_land_exactly_as_written() {
    let app = spawn_app(SALESFORCE).await;
    let customer = app.call_with_customer("call-values");
    // Raw text, so the numbers are exactly what a CRM would put on the wire.
    let raw = br#"{"conversationId":"call-values","fields":{
        "AccountId":"001Dn00000XyZ12",
        "Name":"Zo\u00eb \"Z\" O'Brien",
        "AccountNumber":98765432109876543210,
        "AnnualRevenue":1.50,
        "IsVip":true,
        "HasOpenCase":false,
        "Phone":"+44 20 7946 0958"}}"#;

    accepted(app.send_signed("salesforce", raw).await).await;

    assert_eq!(
        landed(&app, "call-values", &customer).await,
        attrs(&[
            ("crmAccountId", "001Dn00000XyZ12"),
            ("crmName", "Zoë \"Z\" O'Brien"),
            ("crmAccountNumber", "98765432109876543210"),
            ("crmAnnualRevenue", "1.50"),
            ("crmVip", "true"),
            ("crmOpenCase", "false"),
            ("crmPhone", "+44 20 7946 0958"),
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn unmapped_fields_are_dropped_by_default() {
    let app = spawn_app(SALESFORCE).await;
    let customer = app.call_with_customer("call-drop");
    let fields = json!({"AccountId": "001A", "Industry": "Retail", "SSN__c": "078-05-1120"});

    accepted(
        app.send_signed("salesforce", &body("call-drop", fields))
            .await,
    )
    .await;

    assert_eq!(
        landed(&app, "call-drop", &customer).await,
        attrs(&[("crmAccountId", "001A")])
    );
    let patch = app
        .simulator
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert!(
        !patch.body.contains("078-05-1120") && !patch.body.contains("Industry"),
        "dropped fields never leave the bridge: {}",
        patch.body
    );
    app.stop().await;
}

#[tokio::test]
async fn null_fields_are_not_sent_and_keep_what_the_participant_had() {
    let app = spawn_app(SALESFORCE).await;
    let mut customer = NewParticipant::active("customer");
    customer.id = Some("caller".to_owned());
    customer.attributes = attrs(&[("crmPhone", "+1 555 0100")]);
    app.simulator.create_conversation(NewConversation {
        id: Some("call-null".to_owned()),
        participants: Some(vec![NewParticipant::active("ivr"), customer]),
    });

    let fields = json!({"AccountId": "001B", "Phone": null});
    accepted(
        app.send_signed("salesforce", &body("call-null", fields))
            .await,
    )
    .await;

    assert_eq!(
        landed(&app, "call-null", "caller").await,
        attrs(&[("crmAccountId", "001B"), ("crmPhone", "+1 555 0100")])
    );
    let patch = app
        .simulator
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    let sent: Value = serde_json::from_str(&patch.body).unwrap();
    assert_eq!(sent["attributes"], json!({"crmAccountId": "001B"}));
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_of_only_nulls_writes_nothing() {
    let app = spawn_app(SALESFORCE).await;
    app.call_with_customer("call-nulls");
    let before = app.simulator.stats().api_requests;

    let fields = json!({"AccountId": null, "Phone": null, "Industry": "Retail"});
    let response = app
        .send_signed("salesforce", &body("call-nulls", fields))
        .await;

    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "nothing_to_write");
    assert_eq!(
        answer["skipped_null"],
        json!(["/fields/AccountId", "/fields/Phone"])
    );
    assert_eq!(answer["dropped"], json!(["/fields/Industry"]));
    assert_no_genesys_call(&app, before).await;
    app.stop().await;
}

#[tokio::test]
async fn nested_values_are_refused_without_json_true() {
    let app = spawn_app(SALESFORCE).await;
    app.call_with_customer("call-nested");
    let before = app.simulator.stats().api_requests;
    let fields = json!({
        "AccountId": "001C",
        "Address": {"Street": "1 Main St", "City": "Leeds"},
        "Tags": ["vip", "churn-risk"],
    });

    let response = app
        .send_signed("salesforce", &body("call-nested", fields))
        .await;

    let (errors, problem) = mapping_failed(response).await;
    assert_eq!(
        errors,
        pairs(&[
            ("/fields/Address", "nested_value"),
            ("/fields/Tags", "nested_value"),
        ])
    );
    let messages = problem["errors"].to_string();
    assert!(messages.contains("json = true"), "{messages}");
    assert!(
        !messages.contains("Main St") && !messages.contains("churn-risk"),
        "the problem never quotes CRM values: {messages}"
    );
    assert_no_genesys_call(&app, before).await;
    app.stop().await;
}

#[tokio::test]
async fn json_true_sends_objects_and_arrays_as_compact_json_text() {
    let app = spawn_app(SALESFORCE).await;
    let customer = app.call_with_customer("call-json");
    // Raw text: a `json!` literal would hold 1.50 as the f64 1.5.
    let notes = r#"{"text":"Called twice","amount":1.50,"tags":["vip","churn-risk"]}"#;
    let raw = format!(
        r#"{{"conversationId":"call-json","fields":{{"AccountId":"001D","Notes":{notes}}}}}"#
    );

    accepted(app.send_signed("salesforce", raw.as_bytes()).await).await;

    let landed = landed(&app, "call-json", &customer).await;
    assert_eq!(landed.len(), 2, "{landed:?}");
    assert_eq!(landed["crmAccountId"], "001D");
    let text = &landed["crmNotes"];
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        serde_json::from_str::<Value>(notes).unwrap(),
        "{text}"
    );
    assert!(
        !text.contains('\n') && !text.contains("\": ") && !text.contains(", \""),
        "compact JSON text: {text}"
    );
    assert!(text.contains("1.50"), "numbers keep their digits: {text}");
    app.stop().await;
}
