//! The Genesys kit: the two custom Data Actions an Architect flow calls — *Register call* and
//! *Get CRM data* — in the Admin UI's *Import* format (`genesys-ivr.md` §1), derived from the
//! configuration so their contracts name exactly the keys the bridge accepts and answers.
//!
//! Contracts cannot change once an action is published, so the success schemas list every key
//! up front and the pull answers `""` for a key nothing has written yet.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::IvrCredential;
use crate::genesys::address::is_key_name;
use crate::webhook::event::CallBy;
use crate::webhook::source::Source;

/// Input and output names Genesys keeps for itself.
pub const RESERVED_NAMES: [&str; 3] = ["orgId", "integrationId", "rawRequest"];

/// How long *Register call* may take: it answers at once (the participant lookup runs after).
const REGISTER_TIMEOUT_SECONDS: u64 = 5;

/// Seconds the *Get CRM data* timeout keeps above `ivr.max_wait`, for the network both ways.
const PULL_TIMEOUT_MARGIN_SECONDS: u64 = 3;

/// What the actions are built from.
#[derive(Debug)]
pub struct KitOptions<'a> {
    /// The bridge's public base URL, e.g. `https://bridge.example.com`.
    pub base_url: &'a str,
    /// Only this source's keys (and name) — for an org that imports one pair per CRM.
    pub source: Option<&'a str>,
}

/// One importable action, and the file name it is written to.
#[derive(Debug)]
pub struct DataAction {
    pub file_name: &'static str,
    pub definition: Value,
}

/// Why no kit could be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KitError {
    #[error(
        "the base URL must start with https:// (Genesys calls only public HTTPS services) or http:// (for the simulator): {0:?}"
    )]
    BaseUrl(String),
    #[error("no source is named {0:?}")]
    UnknownSource(String),
    #[error(
        "{what} {name:?} cannot be a Data Action property: names match ^[a-zA-Z][a-zA-Z0-9_-]*$ and orgId, integrationId and rawRequest are reserved"
    )]
    PropertyName { what: &'static str, name: String },
}

/// Keys that cannot be a property name are left out of the success schema and reported, so the
/// action still imports; the pull answers them anyway.
#[derive(Debug)]
pub struct Kit {
    pub actions: Vec<DataAction>,
    pub skipped_keys: Vec<String>,
}

/// Builds both actions.
pub fn build(
    sources: &[Source],
    credential: Option<&IvrCredential>,
    max_wait: Duration,
    options: &KitOptions<'_>,
) -> Result<Kit, KitError> {
    let base = options.base_url.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) || base.contains(['?', '#']) {
        return Err(KitError::BaseUrl(options.base_url.to_owned()));
    }
    let chosen: Vec<&Source> = match options.source {
        None => sources.iter().collect(),
        Some(name) => vec![
            sources
                .iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| KitError::UnknownSource(name.to_owned()))?,
        ],
    };
    let call_keys: BTreeSet<&str> = chosen
        .iter()
        .filter_map(|s| match s.extraction().call_by() {
            CallBy::Key { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for name in &call_keys {
        if !property_name(name) {
            return Err(KitError::PropertyName {
                what: "the call key",
                name: (*name).to_owned(),
            });
        }
    }
    let mapped: BTreeSet<&str> = chosen
        .iter()
        .flat_map(|s| s.mapping().rules().map(|(_, key, _)| key))
        .collect();
    let (keys, skipped): (Vec<&str>, Vec<&str>) = mapped
        .into_iter()
        .filter(|k| !PULL_FIELDS.contains(k))
        .partition(|k| property_name(k));
    let suffix = options
        .source
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let headers = auth_headers(credential);
    Ok(Kit {
        actions: vec![
            DataAction {
                file_name: "register-call.json",
                definition: register_call(base, &suffix, &headers, &call_keys),
            },
            DataAction {
                file_name: "get-crm-data.json",
                definition: get_crm_data(base, &suffix, &headers, &keys, max_wait),
            },
        ],
        skipped_keys: skipped.into_iter().map(str::to_owned).collect(),
    })
}

/// What the pull answers besides the mapped keys.
const PULL_FIELDS: [&str; 3] = ["status", "found", "ageSeconds"];

fn property_name(name: &str) -> bool {
    is_key_name(name) && !RESERVED_NAMES.contains(&name)
}

/// A Basic Auth credential makes Genesys send the header itself; a User Defined one is
/// referenced by the template.
fn auth_headers(credential: Option<&IvrCredential>) -> Map<String, Value> {
    let mut headers = Map::new();
    if !matches!(credential, Some(IvrCredential::Basic { .. })) {
        headers.insert("Authorization".into(), "Bearer ${credentials.token}".into());
    }
    headers.insert("Accept".into(), "application/json".into());
    headers
}

fn register_call(
    base: &str,
    suffix: &str,
    headers: &Map<String, Value>,
    call_keys: &BTreeSet<&str>,
) -> Value {
    let mut headers = headers.clone();
    headers.insert("Content-Type".into(), "application/json".into());
    let mut input = Map::new();
    input.insert(
        "conversationId".into(),
        text("The flow's Call.ConversationId"),
    );
    input.insert(
        "ani".into(),
        text("The caller's number, Call.Ani (tel:+E164 or a national number)"),
    );
    input.insert("dnis".into(), text("The number called, Call.CalledAddress"));
    for key in call_keys {
        input.insert(
            (*key).into(),
            text("A CRM key the IVR collected, e.g. with DTMF"),
        );
    }
    let output = json!({
        "status": text("registered"),
        "conversationId": text("The conversation registered"),
        "participantId": text("The customer participant, or \"\" while it is looked up"),
        "participantLookup": text("given, known, started or deferred"),
        "ani": text("The caller's number as the bridge matches it (E.164)"),
        "keys": text("The CRM keys registered, comma-separated"),
        "expiresInSeconds": {"type": "integer", "description": "How long the call stays registered"},
        "ignoredFields": text("Input fields the bridge does not know, comma-separated"),
    });
    action(
        &format!("Bridge - Register call{suffix}"),
        json!({
            // `rawRequest` is the whole input as JSON: the flat body POST /v1/calls reads,
            // escaped by Genesys itself.
            "requestUrlTemplate": format!("{base}/v1/calls"),
            "requestType": "POST",
            "headers": headers,
            "requestTemplate": "${input.rawRequest}",
        }),
        REGISTER_TIMEOUT_SECONDS,
        schema("Register call input", input, &["conversationId"]),
        schema(
            "Register call output",
            output.as_object().cloned().unwrap_or_default(),
            &[],
        ),
    )
}

fn get_crm_data(
    base: &str,
    suffix: &str,
    headers: &Map<String, Value>,
    keys: &[&str],
    max_wait: Duration,
) -> Value {
    let mut input = Map::new();
    input.insert(
        "conversationId".into(),
        text("The flow's Call.ConversationId"),
    );
    input.insert(
        "waitMs".into(),
        json!({
            "type": "integer",
            "description": format!(
                "How long to wait for the CRM's first webhook, in milliseconds (0 answers at once; capped at {} ms)",
                max_wait.as_millis()
            ),
        }),
    );
    let mut output = Map::new();
    output.insert("status".into(), text("found, pending or unknown_call"));
    output.insert(
        "found".into(),
        json!({"type": "boolean", "description": "Whether any CRM data arrived"}),
    );
    output.insert(
        "ageSeconds".into(),
        json!({"type": "integer", "description": "Seconds since the newest value arrived"}),
    );
    for key in keys {
        output.insert((*key).into(), text("The CRM's newest value, or \"\""));
    }
    let timeout = (max_wait.as_secs_f64().ceil() as u64 + PULL_TIMEOUT_MARGIN_SECONDS).min(60);
    action(
        &format!("Bridge - Get CRM data{suffix}"),
        json!({
            "requestUrlTemplate": format!(
                "{base}/v1/calls/$esc.url(${{input.conversationId}})/data?waitMs=$esc.url(${{input.waitMs}})"
            ),
            "requestType": "GET",
            "headers": headers,
            // A GET sends no body; Genesys still wants a template.
            "requestTemplate": "${input.rawRequest}",
        }),
        timeout,
        schema("Get CRM data input", input, &["conversationId", "waitMs"]),
        schema("Get CRM data output", output, &["status", "found"]),
    )
}

fn text(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn schema(title: &str, properties: Map<String, Value>, required: &[&str]) -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": title,
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": true,
    })
}

fn action(name: &str, request: Value, timeout_seconds: u64, input: Value, output: Value) -> Value {
    json!({
        "name": name,
        "integrationType": "custom-rest-actions",
        "actionType": "custom",
        "secure": false,
        "config": {
            "request": request,
            "response": {
                "translationMap": {},
                "translationMapDefaults": {},
                "successTemplate": "${rawResult}",
            },
            "timeoutSeconds": timeout_seconds,
        },
        "contract": {
            "input": {"inputSchema": input},
            "output": {"successSchema": output},
        },
    })
}
