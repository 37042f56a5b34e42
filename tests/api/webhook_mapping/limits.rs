//! What stops a webhook with a 422 before anything is written: values, keys and bytes past
//! their limits, every bad field in one problem, and fields that are missing or not an object.

use super::*;

#[tokio::test]
async fn values_longer_than_max_value_chars_are_refused() {
    let app = spawn_app_with(
        SALESFORCE,
        &[("BRIDGE__LIMITS__MAX_VALUE_CHARS", "5")],
        None,
    )
    .await;
    let customer = app.call_with_customer("call-long");
    let before = app.simulator.stats().api_requests;

    let response = app
        .send_signed(
            "salesforce",
            &body("call-long", json!({"AccountId": "001KLM"})),
        )
        .await;
    let (errors, problem) = mapping_failed(response).await;
    assert_eq!(errors, pairs(&[("/fields/AccountId", "value_too_long")]));
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("limits.max_value_chars"), "{message}");
    assert_no_genesys_call(&app, before).await;

    // Counted in characters, not bytes: five letters of two bytes each fit.
    accepted(
        app.send_signed("salesforce", &body("call-long", json!({"Name": "ÄÖÜßé"})))
            .await,
    )
    .await;
    assert_eq!(
        landed(&app, "call-long", &customer).await,
        attrs(&[("crmName", "ÄÖÜßé")])
    );
    app.stop().await;
}

#[tokio::test]
async fn more_keys_than_max_keys_are_refused() {
    let app = spawn_app_with(SALESFORCE, &[("BRIDGE__LIMITS__MAX_KEYS", "2")], None).await;
    let customer = app.call_with_customer("call-keys");
    let before = app.simulator.stats().api_requests;

    let three = json!({"AccountId": "001L", "Phone": "+1 555 0101", "IsVip": true});
    let response = app
        .send_signed("salesforce", &body("call-keys", three))
        .await;
    let (errors, _) = mapping_failed(response).await;
    assert_eq!(errors, pairs(&[("/fields", "too_many_keys")]));
    assert_no_genesys_call(&app, before).await;

    // Nulls and dropped fields do not count: only what would be written.
    let two = json!({"AccountId": "001L", "Phone": "+1 555 0101", "IsVip": null, "Industry": "x"});
    accepted(app.send_signed("salesforce", &body("call-keys", two)).await).await;
    assert_eq!(
        landed(&app, "call-keys", &customer).await,
        attrs(&[("crmAccountId", "001L"), ("crmPhone", "+1 555 0101")])
    );
    app.stop().await;
}

#[tokio::test]
async fn attributes_larger_than_max_total_bytes_are_refused() {
    // crmAccountId + 001M = 16 bytes, crmPhone + "+44 20 7946 0958" = 24: 40 fits exactly.
    let app = spawn_app_with(
        SALESFORCE,
        &[("BRIDGE__LIMITS__MAX_TOTAL_BYTES", "40")],
        None,
    )
    .await;
    let customer = app.call_with_customer("call-large");
    let before = app.simulator.stats().api_requests;

    let over = json!({"AccountId": "001M", "Phone": "+44 20 7946 0958", "IsVip": true});
    let response = app
        .send_signed("salesforce", &body("call-large", over))
        .await;
    let (errors, problem) = mapping_failed(response).await;
    assert_eq!(errors, pairs(&[("/fields", "too_large")]));
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("limits.max_total_bytes"), "{message}");
    assert_no_genesys_call(&app, before).await;

    let fits = json!({"AccountId": "001M", "Phone": "+44 20 7946 0958"});
    accepted(
        app.send_signed("salesforce", &body("call-large", fits))
            .await,
    )
    .await;
    assert_eq!(
        landed(&app, "call-large", &customer).await,
        attrs(&[("crmAccountId", "001M"), ("crmPhone", "+44 20 7946 0958")])
    );
    app.stop().await;
}

#[tokio::test]
async fn every_bad_field_is_listed_in_one_problem_and_nothing_is_written() {
    let app = spawn_app_with(
        STRICT,
        &[
            ("BRIDGE__LIMITS__MAX_VALUE_CHARS", "20"),
            ("BRIDGE__LIMITS__MAX_KEYS", "1"),
        ],
        None,
    )
    .await;
    let customer = app.call_with_customer("call-many");
    let before = app.simulator.stats().api_requests;
    let fields = json!({
        "AccountId": "001N",
        "Phone": "+1 555 0102",
        "Address": {"City": "Leeds"},
        "Description": "Wants to cancel the contract today",
        "Industry": "Retail",
        "Rating": "Hot",
    });

    let response = app.send_signed("strict", &body("call-many", fields)).await;

    let (errors, problem) = mapping_failed(response).await;
    assert_eq!(
        errors,
        pairs(&[
            ("/fields/Address", "nested_value"),
            ("/fields/Description", "value_too_long"),
            ("/fields/Industry", "unmapped_field"),
            ("/fields/Rating", "unmapped_field"),
            ("/fields", "too_many_keys"),
        ])
    );
    let text = problem.to_string();
    assert!(
        !text.contains("cancel the contract") && !text.contains("Leeds"),
        "the problem never quotes CRM values: {text}"
    );
    assert_no_genesys_call(&app, before).await;
    assert_eq!(
        app.simulator.participant_attributes("call-many", &customer),
        Some(BTreeMap::new())
    );
    app.stop().await;
}

#[tokio::test]
async fn fields_that_are_missing_or_not_an_object_are_refused() {
    let app = spawn_app(SALESFORCE).await;
    app.call_with_customer("call-shape");
    let before = app.simulator.stats().api_requests;

    let missing = json!({"conversationId": "call-shape", "AccountId": "001S"});
    let response = app
        .send_signed("salesforce", missing.to_string().as_bytes())
        .await;
    let (errors, _) = mapping_failed(response).await;
    assert_eq!(errors, pairs(&[("/fields", "fields_missing")]));

    let list = json!({"conversationId": "call-shape", "fields": ["001S"]});
    let response = app
        .send_signed("salesforce", list.to_string().as_bytes())
        .await;
    let (errors, _) = mapping_failed(response).await;
    assert_eq!(errors, pairs(&[("/fields", "fields_not_object")]));

    assert_no_genesys_call(&app, before).await;
    app.stop().await;
}
