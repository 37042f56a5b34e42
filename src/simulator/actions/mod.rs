//! Genesys' side of a Web Services Data Action: check an imported definition as the Admin UI
//! does, then execute it as a flow's *Call Data Action* step would — render the request,
//! enforce `timeoutSeconds` (→ Timeout), take a non-2xx or non-JSON answer as Failure, apply
//! the translation map and `successTemplate`, and check the success schema (→ Failure on a
//! mismatch). The answer says which exit the flow took and what outputs it could read.

mod contract;
mod velocity;

#[cfg(test)]
mod tests;

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;

pub(crate) use contract::check;
use velocity::Context;

/// The body of `POST /sim/actions/execute`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRun {
    /// The action in the *Import* format, as `genesys-bridge data-actions` prints it.
    pub action: Value,
    /// The step's inputs, as the flow fills them in.
    #[serde(default)]
    pub input: Map<String, Value>,
    /// The integration's credential.
    #[serde(default)]
    pub credentials: ActionCredentials,
}

/// The integration's credential: `{"type": "userDefined", "token": "…"}` (its fields are
/// `${credentials.NAME}`) or `{"type": "basic", "userName": "…", "password": "…"}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActionCredentials {
    #[serde(rename = "type", default)]
    pub kind: CredentialType,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum CredentialType {
    #[default]
    UserDefined,
    Basic,
}

/// Which of the step's exits the flow takes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    Success,
    Failure,
    Timeout,
}

/// What the step did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActionOutcome {
    pub exit: Exit,
    /// The success schema's properties the answer held; empty unless `exit` is success.
    pub outputs: Map<String, Value>,
    /// Why the step failed; a call flow cannot read it, a developer can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// The request as sent (headers left out: they hold the credential).
    pub request: RenderedRequest,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RenderedRequest {
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The action would not import: every rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the action would not import: {}", .0.join("; "))]
pub struct InvalidAction(pub Vec<String>);

/// Genesys' default when the definition sets no timeout.
const DEFAULT_TIMEOUT_SECONDS: u64 = 60;

pub(crate) async fn execute(
    http: &reqwest::Client,
    run: &ActionRun,
) -> Result<ActionOutcome, InvalidAction> {
    let problems = check(&run.action);
    if !problems.is_empty() {
        return Err(InvalidAction(problems));
    }
    let action = &run.action;
    let str_at = |p: &str| action.pointer(p).and_then(Value::as_str).unwrap_or("");
    let context = Context {
        input: &run.input,
        credentials: &run.credentials.fields,
    };
    let method = str_at("/config/request/requestType").to_owned();
    let url = velocity::render(str_at("/config/request/requestUrlTemplate"), &context);
    let body = (method != "GET")
        .then(|| velocity::render(str_at("/config/request/requestTemplate"), &context));
    let request = RenderedRequest {
        method: method.clone(),
        url: url.clone(),
        body: body.clone(),
    };
    let started = Instant::now();
    let outcome = |exit, outputs, error: Option<String>, status_code| ActionOutcome {
        exit,
        outputs,
        error,
        status_code,
        request: request.clone(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    if let Err(problem) = input_matches(action, &run.input) {
        return Ok(outcome(Exit::Failure, Map::new(), Some(problem), None));
    }
    let timeout = Duration::from_secs(
        action
            .pointer("/config/timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
    );
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return Ok(outcome(
            Exit::Failure,
            Map::new(),
            Some("bad method".into()),
            None,
        ));
    };
    let mut builder = http.request(method, &url).timeout(timeout);
    if let Some(Value::Object(headers)) = action.pointer("/config/request/headers") {
        for (name, value) in headers {
            let value = velocity::render(value.as_str().unwrap_or(""), &context);
            builder = builder.header(name.as_str(), value);
        }
    }
    if run.credentials.kind == CredentialType::Basic {
        let field = |n: &str| {
            run.credentials
                .fields
                .get(n)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let pair = format!("{}:{}", field("userName"), field("password"));
        builder = builder.header(
            "Authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
        );
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    let response = match builder.send().await {
        Ok(response) => response,
        Err(err) if err.is_timeout() => {
            return Ok(outcome(
                Exit::Timeout,
                Map::new(),
                Some(format!("no answer within {} s", timeout.as_secs())),
                None,
            ));
        }
        Err(err) => {
            return Ok(outcome(
                Exit::Failure,
                Map::new(),
                Some(format!("request failed: {err}")),
                None,
            ));
        }
    };
    let status = response.status().as_u16();
    let raw = match response.bytes().await {
        Ok(raw) => raw,
        Err(err) if err.is_timeout() => {
            let error = Some(format!("no answer within {} s", timeout.as_secs()));
            return Ok(outcome(Exit::Timeout, Map::new(), error, Some(status)));
        }
        Err(err) => {
            let error = Some(format!("reading the answer failed: {err}"));
            return Ok(outcome(Exit::Failure, Map::new(), error, Some(status)));
        }
    };
    if !(200..300).contains(&status) {
        let error = Some(format!("the service answered {status}"));
        return Ok(outcome(Exit::Failure, Map::new(), error, Some(status)));
    }
    let result = serde_json::from_slice::<Value>(&raw)
        .map_err(|e| format!("the answer is not JSON: {e}"))
        .and_then(|raw| translate(action, raw))
        .and_then(|out| success_matches(action, out));
    Ok(match result {
        Ok(outputs) => outcome(Exit::Success, outputs, None, Some(status)),
        Err(error) => outcome(Exit::Failure, Map::new(), Some(error), Some(status)),
    })
}

/// Architect would not let a flow pass inputs the contract does not allow; a test can.
fn input_matches(action: &Value, input: &Map<String, Value>) -> Result<(), String> {
    let schema = action
        .pointer("/contract/input/inputSchema")
        .unwrap_or(&Value::Null);
    for name in required(schema) {
        if input.get(name).is_none_or(Value::is_null) {
            return Err(format!("the required input {name} is missing"));
        }
    }
    for (name, value) in input {
        let Some(property) = schema.pointer(&format!("/properties/{name}")) else {
            return Err(format!("{name} is not in the input contract"));
        };
        if !has_type(property, value) {
            return Err(format!("the input {name} is not of its contract's type"));
        }
    }
    Ok(())
}

/// `translationMap` entries (`$.a.b` paths into the answer, with their defaults), then the
/// `successTemplate` with `${rawResult}` and `${name}` replaced by JSON.
fn translate(action: &Value, raw: Value) -> Result<Value, String> {
    let map = action
        .pointer("/config/response/translationMap")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let defaults = action
        .pointer("/config/response/translationMapDefaults")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let template = action
        .pointer("/config/response/successTemplate")
        .and_then(Value::as_str)
        .unwrap_or("${rawResult}");
    let mut rendered = template.replace("${rawResult}", &raw.to_string());
    for (name, path) in &map {
        let path = path.as_str().unwrap_or("");
        let Some(rest) = path.strip_prefix('$') else {
            return Err(format!(
                "translationMap {name}: the simulator reads $.a.b paths only"
            ));
        };
        let pointer = rest.replace('.', "/");
        let value = match raw.pointer(&pointer) {
            Some(value) => value.clone(),
            None => match defaults.get(name).and_then(Value::as_str) {
                Some(default) => serde_json::from_str(default)
                    .unwrap_or_else(|_| Value::String(default.to_owned())),
                None => {
                    return Err(format!(
                        "translationMap {name}: {path} is not in the answer"
                    ));
                }
            },
        };
        rendered = rendered.replace(&format!("${{{name}}}"), &value.to_string());
    }
    serde_json::from_str(&rendered).map_err(|e| format!("the success template is not JSON: {e}"))
}

/// The outputs the flow can read: the schema's properties, each of its type.
fn success_matches(action: &Value, output: Value) -> Result<Map<String, Value>, String> {
    let schema = action
        .pointer("/contract/output/successSchema")
        .unwrap_or(&Value::Null);
    let Value::Object(output) = output else {
        return Err("the answer is not an object".into());
    };
    for name in required(schema) {
        if !output.contains_key(name) {
            return Err(format!(
                "the answer lacks {name}, which the success schema requires"
            ));
        }
    }
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut outputs = Map::new();
    for (name, property) in &properties {
        if let Some(value) = output.get(name) {
            if !has_type(property, value) {
                return Err(format!(
                    "{name} is {value}, which does not match the success schema's {}",
                    property.get("type").unwrap_or(&Value::Null)
                ));
            }
            outputs.insert(name.clone(), value.clone());
        }
    }
    Ok(outputs)
}

fn required(schema: &Value) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn has_type(property: &Value, value: &Value) -> bool {
    let fits = |t: &str| match t {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => false,
    };
    match property.get("type") {
        Some(Value::String(t)) => fits(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(fits),
        _ => true,
    }
}
