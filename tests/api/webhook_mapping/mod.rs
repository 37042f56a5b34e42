//! The key-translation table through HTTP: what a signed CRM webhook writes on the participant,
//! or the 422 that lists every field that stops it. One file per behaviour: how values land,
//! the mapping rules (pointers, whole-body mode, unmapped fields), the limits, and which
//! participant gets the write. This file holds the sources they use and the shared checks.

mod limits;
mod participants;
mod rules;
mod values;

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
