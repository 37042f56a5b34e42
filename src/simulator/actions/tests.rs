//! The import rules, one broken at a time on an action that imports.

use serde_json::{Value, json};

use super::check;

fn valid() -> Value {
    json!({
        "name": "Get CRM data",
        "integrationType": "custom-rest-actions",
        "actionType": "custom",
        "secure": false,
        "config": {
            "request": {
                "requestUrlTemplate": "https://bridge.example.com/v1/calls/$esc.url(${input.conversationId})/data",
                "requestType": "GET",
                "headers": {"Authorization": "Bearer ${credentials.token}", "Accept": "application/json"},
                "requestTemplate": "${input.rawRequest}"
            },
            "response": {"translationMap": {}, "translationMapDefaults": {}, "successTemplate": "${rawResult}"},
            "timeoutSeconds": 8
        },
        "contract": {
            "input": {"inputSchema": {"type": "object", "required": ["conversationId"],
                "properties": {"conversationId": {"type": "string"}}}},
            "output": {"successSchema": {"type": "object",
                "properties": {"status": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}}
        }
    })
}

fn broken(pointer: &str, value: Value) -> Vec<String> {
    let mut action = valid();
    *action.pointer_mut(pointer).expect("the pointer exists") = value;
    check(&action)
}

fn one_problem_containing(problems: &[String], text: &str) {
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(text), "{problems:?}");
}

#[test]
fn the_valid_action_imports() {
    assert_eq!(check(&valid()), Vec::<String>::new());
}

#[test]
fn inputs_in_a_url_must_be_url_escaped_and_in_the_contract() {
    let problems = broken(
        "/config/request/requestUrlTemplate",
        json!("https://b.example/v1/calls/${input.conversationId}/data"),
    );
    one_problem_containing(&problems, "must be escaped with $esc.url");
    let problems = broken(
        "/config/request/requestUrlTemplate",
        json!("https://b.example/v1/calls/$esc.url(${input.callId})"),
    );
    one_problem_containing(&problems, "${input.callId} is not in the input contract");
}

#[test]
fn inputs_in_a_body_must_be_json_escaped() {
    let problems = broken(
        "/config/request/requestTemplate",
        json!(r#"{"id": "${input.conversationId}"}"#),
    );
    one_problem_containing(&problems, "$esc.jsonString");
    assert!(
        broken(
            "/config/request/requestTemplate",
            json!(r#"{"id": "$esc.jsonString(${input.conversationId})"}"#)
        )
        .is_empty()
    );
}

#[test]
fn the_input_contract_is_flat_with_plain_unreserved_names() {
    let problems = broken(
        "/contract/input/inputSchema/properties",
        json!({"conversationId": {"type": "string"}, "caller": {"type": "object"}}),
    );
    one_problem_containing(&problems, "the input contract is flat");
    let problems = broken(
        "/contract/input/inputSchema/properties",
        json!({"conversationId": {"type": "string"}, "orgId": {"type": "string"}}),
    );
    one_problem_containing(&problems, "reserved");
    let problems = broken(
        "/contract/input/inputSchema/properties",
        json!({"conversationId": {"type": "string"}, "1st.key": {"type": "string"}}),
    );
    one_problem_containing(&problems, "^[a-zA-Z][a-zA-Z0-9_-]*$");
    let problems = broken("/contract/input/inputSchema/required", json!(["callId"]));
    one_problem_containing(&problems, "callId");
}

#[test]
fn the_output_contract_has_no_nested_arrays() {
    let problems = broken(
        "/contract/output/successSchema/properties/tags",
        json!({"type": "array", "items": {"type": "array", "items": {"type": "string"}}}),
    );
    one_problem_containing(&problems, "nested arrays");
}

#[test]
fn the_timeout_is_1_to_60_seconds() {
    one_problem_containing(&broken("/config/timeoutSeconds", json!(0)), "1 to 60");
    one_problem_containing(&broken("/config/timeoutSeconds", json!(61)), "1 to 60");
    one_problem_containing(&broken("/config/timeoutSeconds", json!("8")), "1 to 60");
}

#[test]
fn the_request_type_and_accept_header_are_checked() {
    one_problem_containing(
        &broken("/config/request/requestType", json!("HEAD")),
        "HEAD",
    );
    one_problem_containing(
        &broken("/config/request/headers/Accept", json!("text/html")),
        "JSON media type",
    );
    assert!(
        broken(
            "/config/request/headers/Accept",
            json!("application/vnd.x+json")
        )
        .is_empty()
    );
}

#[test]
fn a_raw_request_cannot_go_in_a_url() {
    let problems = broken(
        "/config/request/requestUrlTemplate",
        json!("https://b.example/?q=${input.rawRequest}"),
    );
    one_problem_containing(&problems, "rawRequest");
}
