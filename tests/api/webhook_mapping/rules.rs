//! The mapping rules: JSON pointers into objects and arrays, the whole body as the fields, and
//! what `unmapped = "pass"` and `unmapped = "reject"` do with fields no rule names.

use super::*;

#[tokio::test]
async fn pointer_rules_read_inside_objects_and_arrays() {
    let app = spawn_app(&format!("{SALESFORCE}\n{STRICT}")).await;
    let customer = app.call_with_customer("call-pointer");
    let fields = json!({
        "AccountId": "001E",
        "Owner": {"Name": "Ann Lee", "Email": "ann@example.com"},
        "Contacts": [{"Email": "first@example.com"}, {"Email": "second@example.com"}],
    });

    accepted(
        app.send_signed("salesforce", &body("call-pointer", fields))
            .await,
    )
    .await;

    assert_eq!(
        landed(&app, "call-pointer", &customer).await,
        attrs(&[
            ("crmAccountId", "001E"),
            ("crmOwner", "Ann Lee"),
            ("crmPrimaryEmail", "first@example.com"),
        ])
    );

    // A field a pointer rule reads from is not "unmapped", even where a source rejects those.
    let other = app.call_with_customer("call-pointer-strict");
    let fields =
        json!({"AccountId": "001F", "Owner": {"Name": "Bo Chan", "Email": "bo@example.com"}});
    accepted(
        app.send_signed("strict", &body("call-pointer-strict", fields))
            .await,
    )
    .await;
    assert_eq!(
        landed(&app, "call-pointer-strict", &other).await,
        attrs(&[("crmAccountId", "001F"), ("crmOwner", "Bo Chan")])
    );
    app.stop().await;
}

#[tokio::test]
async fn whole_body_mode_maps_top_level_fields_and_points_into_the_body() {
    let app = spawn_app(FLAT).await;
    let customer = app.call_with_customer("call-flat");
    let payload = json!({
        "conversationId": "call-flat",
        "AccountId": "001G",
        "Owner": {"Name": "Ann Lee"},
        "Industry": "Retail",
    });

    accepted(
        app.send_signed("flat", payload.to_string().as_bytes())
            .await,
    )
    .await;

    assert_eq!(
        landed(&app, "call-flat", &customer).await,
        attrs(&[("crmAccountId", "001G"), ("crmOwner", "Ann Lee")]),
        "the conversation id and unmapped fields are not written"
    );

    let refused = json!({"conversationId": "call-flat", "Notes": {"text": "hi"}});
    let response = app
        .send_signed("flat", refused.to_string().as_bytes())
        .await;
    let (errors, _) = mapping_failed(response).await;
    assert_eq!(errors, pairs(&[("/Notes", "nested_value")]));
    app.stop().await;
}

#[tokio::test]
async fn unmapped_pass_sends_fields_under_their_crm_key() {
    let app = spawn_app(PASSTHROUGH).await;
    let customer = app.call_with_customer("call-pass");
    let fields = json!({
        "AccountId": "001H",
        "Industry": "Retail",
        "NumberOfEmployees": 250,
        "crmAccountId": "spoofed",
        "Fax": null,
    });

    accepted(
        app.send_signed("passthrough", &body("call-pass", fields))
            .await,
    )
    .await;

    assert_eq!(
        landed(&app, "call-pass", &customer).await,
        attrs(&[
            ("crmAccountId", "001H"),
            ("Industry", "Retail"),
            ("NumberOfEmployees", "250"),
        ]),
        "a passed field never overwrites a key the table writes"
    );
    app.stop().await;
}

#[tokio::test]
async fn unmapped_pass_refuses_nested_values_and_unusable_keys() {
    let app = spawn_app_with(
        PASSTHROUGH,
        &[("BRIDGE__LIMITS__MAX_KEY_CHARS", "12")],
        None,
    )
    .await;
    app.call_with_customer("call-pass-bad");
    let before = app.simulator.stats().api_requests;
    let fields = json!({
        "AccountId": "001I",
        "Address": {"City": "Leeds"},
        "AnnualRevenueUSD": 1000,
        " Padded": "x",
    });

    let response = app
        .send_signed("passthrough", &body("call-pass-bad", fields))
        .await;

    let (errors, _) = mapping_failed(response).await;
    assert_eq!(
        errors,
        pairs(&[
            ("/fields/ Padded", "invalid_key"),
            ("/fields/Address", "nested_value"),
            ("/fields/AnnualRevenueUSD", "key_too_long"),
        ])
    );
    assert_no_genesys_call(&app, before).await;
    app.stop().await;
}

#[tokio::test]
async fn unmapped_reject_refuses_the_webhook_naming_each_field() {
    let app = spawn_app(STRICT).await;
    app.call_with_customer("call-reject");
    let before = app.simulator.stats().api_requests;
    let fields = json!({"AccountId": "001J", "Industry": "Retail", "Rating": "Hot"});

    let response = app
        .send_signed("strict", &body("call-reject", fields))
        .await;

    let (errors, _) = mapping_failed(response).await;
    assert_eq!(
        errors,
        pairs(&[
            ("/fields/Industry", "unmapped_field"),
            ("/fields/Rating", "unmapped_field"),
        ])
    );
    assert_no_genesys_call(&app, before).await;
    app.stop().await;
}
