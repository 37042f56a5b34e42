//! The key-translation table through HTTP: what a signed CRM webhook writes on the participant,
//! or the 422 that lists every field that stops it.

use std::collections::BTreeMap;
use std::time::Duration;

use genesys_bridge::simulator::{NewConversation, NewParticipant};
use serde_json::{Value, json};

use crate::app::{TestApp, spawn_app, spawn_app_with};
use crate::helpers::attrs;

/// A Salesforce-like source: Standard Webhooks, the CRM fields under `/fields`.
const SALESFORCE: &str = r#"
[sources.salesforce]
verifier = { type = "standard_webhooks" }
secret = "whsec_c2FsZXNmb3JjZS10ZXN0LXNpZ25pbmcta2V5LTAx"

[sources.salesforce.mapping]
fields = "/fields"
unmapped = "drop"

[sources.salesforce.mapping.keys]
AccountId = "crmAccountId"
AccountNumber = "crmAccountNumber"
AnnualRevenue = "crmAnnualRevenue"
IsVip = "crmVip"
HasOpenCase = "crmOpenCase"
Phone = "crmPhone"
Name = "crmName"
"/Owner/Name" = "crmOwner"
"/Contacts/0/Email" = "crmPrimaryEmail"
Address = "crmAddress"
Tags = "crmTags"
Notes = { key = "crmNotes", json = true }
"#;

/// Refuses fields its table does not name.
const STRICT: &str = r#"
[sources.strict]
verifier = { type = "standard_webhooks" }
secret = "whsec_c2FsZXNmb3JjZS10ZXN0LXNpZ25pbmcta2V5LTAx"

[sources.strict.mapping]
unmapped = "reject"

[sources.strict.mapping.keys]
AccountId = "crmAccountId"
Address = "crmAddress"
Description = "crmDescription"
Phone = "crmPhone"
"/Owner/Name" = "crmOwner"
"#;

/// Sends fields no rule names under their CRM key.
const PASSTHROUGH: &str = r#"
[sources.passthrough]
verifier = { type = "standard_webhooks" }
secret = "whsec_c2FsZXNmb3JjZS10ZXN0LXNpZ25pbmcta2V5LTAx"

[sources.passthrough.mapping]
unmapped = "pass"

[sources.passthrough.mapping.keys]
AccountId = "crmAccountId"
"#;

/// The CRM fields are the whole body.
const FLAT: &str = r#"
[sources.flat]
verifier = { type = "standard_webhooks" }
secret = "whsec_c2FsZXNmb3JjZS10ZXN0LXNpZ25pbmcta2V5LTAx"

[sources.flat.mapping]
fields = ""

[sources.flat.mapping.keys]
AccountId = "crmAccountId"
"/Owner/Name" = "crmOwner"
Notes = "crmNotes"
"#;

/// The payload names the participant to write to.
const ROUTED: &str = r#"
[sources.routed]
verifier = { type = "standard_webhooks" }
secret = "whsec_c2FsZXNmb3JjZS10ZXN0LXNpZ25pbmcta2V5LTAx"
participant_id = "/participantId"

[sources.routed.mapping.keys]
AccountId = "crmAccountId"
"#;

const MAPPING_FAILED: &str = "urn:genesys-bridge:problem:mapping-failed";

fn body(conversation: &str, fields: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "conversationId": conversation, "fields": fields })).unwrap()
}

async fn accepted(response: reqwest::Response) {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 202, "{text}");
}

/// Waits up to 2 s for the simulator to have taken an attributes PATCH on `conversation`, then
/// returns what `participant` holds.
async fn landed(app: &TestApp, conversation: &str, participant: &str) -> BTreeMap<String, String> {
    for _ in 0..100 {
        let written = app
            .simulator
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains(conversation) && r.status < 300);
        if written {
            return app
                .simulator
                .participant_attributes(conversation, participant)
                .expect("the participant exists");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "nothing was written to {conversation} within 2 s; the simulator saw {:#?}",
        app.simulator.requests()
    );
}

/// Asserts a mapping-failed problem and returns its errors as (pointer, code), plus the body.
async fn mapping_failed(response: reqwest::Response) -> (Vec<(String, String)>, Value) {
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], MAPPING_FAILED, "{problem:#}");
    assert_eq!(problem["status"], 422);
    let errors = problem["errors"].as_array().expect("errors is a list");
    for error in errors {
        assert!(
            !error["message"].as_str().unwrap_or("").is_empty(),
            "every error says what to change: {error}"
        );
    }
    let found = errors
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (found, problem)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect()
}

/// A refused webhook must not reach Genesys, not even late: give a wrongly spawned delivery a
/// moment to show up.
async fn assert_no_genesys_call(app: &TestApp, api_requests_before: u64) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.simulator.stats().api_requests,
        api_requests_before,
        "a refused webhook made Genesys calls: {:#?}",
        app.simulator.requests()
    );
}

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
