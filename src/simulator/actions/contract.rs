//! What Genesys checks when a custom action is imported (`genesys-ivr.md` §1): a definition
//! that breaks one of these rules is refused, with every problem listed.

use serde_json::{Map, Value};

use super::velocity::{self, Escape};

const REQUEST_TYPES: [&str; 5] = ["GET", "PUT", "POST", "PATCH", "DELETE"];
const RESERVED_INPUTS: [&str; 3] = ["orgId", "integrationId", "rawRequest"];
const INPUT_TYPES: [&str; 5] = ["string", "integer", "number", "boolean", "null"];

/// Every rule the definition breaks; empty when it would import.
pub(crate) fn check(definition: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |text: String| problems.push(text);
    let str_at = |pointer: &str| definition.pointer(pointer).and_then(Value::as_str);
    if str_at("/name").is_none_or(|n| n.trim().is_empty()) {
        problem("/name: is required".into());
    }
    if str_at("/integrationType") != Some("custom-rest-actions") {
        problem("/integrationType: must be \"custom-rest-actions\"".into());
    }
    if str_at("/actionType") != Some("custom") {
        problem("/actionType: must be \"custom\"".into());
    }
    let request_type = str_at("/config/request/requestType").unwrap_or("");
    if !REQUEST_TYPES.contains(&request_type) {
        problem(format!(
            "/config/request/requestType: {request_type:?} is not one of {}",
            REQUEST_TYPES.join(", ")
        ));
    }
    let input = definition
        .pointer("/contract/input/inputSchema")
        .unwrap_or(&Value::Null);
    let inputs = input_contract(input, &mut problem);
    match str_at("/config/request/requestUrlTemplate") {
        None => problem("/config/request/requestUrlTemplate: is required".into()),
        Some(url) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problem(
                    "/config/request/requestUrlTemplate: must be an absolute http(s) URL".into(),
                );
            }
            template_inputs(
                "/config/request/requestUrlTemplate",
                url,
                Escape::Url,
                &inputs,
                &mut problem,
            );
        }
    }
    if let Some(body) = str_at("/config/request/requestTemplate") {
        template_inputs(
            "/config/request/requestTemplate",
            body,
            Escape::JsonString,
            &inputs,
            &mut problem,
        );
    }
    match definition.pointer("/config/request/headers") {
        None => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                match value.as_str() {
                    None => problem(format!("/config/request/headers/{name}: must be a string")),
                    Some(v) if name.eq_ignore_ascii_case("accept") && !is_json_media(v) => problem(
                        format!("/config/request/headers/{name}: {v:?} is not a JSON media type"),
                    ),
                    Some(_) => {}
                }
            }
        }
        Some(_) => problem("/config/request/headers: must be an object".into()),
    }
    if !definition
        .pointer("/config/response/translationMap")
        .is_none_or(Value::is_object)
    {
        problem("/config/response/translationMap: must be an object".into());
    }
    if str_at("/config/response/successTemplate").is_none() {
        problem("/config/response/successTemplate: is required".into());
    }
    match definition.pointer("/config/timeoutSeconds") {
        None => {}
        Some(t) if t.as_u64().is_some_and(|t| (1..=60).contains(&t)) => {}
        Some(t) => problem(format!(
            "/config/timeoutSeconds: {t} is not an integer from 1 to 60"
        )),
    }
    let output = definition
        .pointer("/contract/output/successSchema")
        .unwrap_or(&Value::Null);
    output_contract(output, &mut problem);
    problems
}

/// The input schema's property names; problems for everything the input contract forbids.
fn input_contract(schema: &Value, problem: &mut impl FnMut(String)) -> Vec<String> {
    let at = "/contract/input/inputSchema";
    let Some(properties) = object_schema(at, schema, problem) else {
        return Vec::new();
    };
    for (name, property) in &properties {
        if !is_property_name(name) {
            problem(format!(
                "{at}/properties/{name}: names match ^[a-zA-Z][a-zA-Z0-9_-]*$"
            ));
        }
        if RESERVED_INPUTS.contains(&name.as_str()) {
            problem(format!("{at}/properties/{name}: is a reserved name"));
        }
        let types = types_of(property);
        if types.is_empty() || types.iter().any(|t| !INPUT_TYPES.contains(t)) {
            problem(format!(
                "{at}/properties/{name}: the input contract is flat (string, integer, number, boolean or null), not {}",
                property.get("type").unwrap_or(&Value::Null)
            ));
        }
    }
    required_known(at, schema, &properties, problem);
    properties.keys().cloned().collect()
}

fn output_contract(schema: &Value, problem: &mut impl FnMut(String)) {
    let at = "/contract/output/successSchema";
    let Some(properties) = object_schema(at, schema, problem) else {
        return;
    };
    for (name, property) in &properties {
        if !is_property_name(name) {
            problem(format!(
                "{at}/properties/{name}: names match ^[a-zA-Z][a-zA-Z0-9_-]*$"
            ));
        }
        if types_of(property).contains(&"array")
            && property
                .get("items")
                .is_some_and(|items| types_of(items).contains(&"array"))
        {
            problem(format!(
                "{at}/properties/{name}: nested arrays are not allowed"
            ));
        }
    }
    required_known(at, schema, &properties, problem);
}

fn object_schema(
    at: &str,
    schema: &Value,
    problem: &mut impl FnMut(String),
) -> Option<Map<String, Value>> {
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        problem(format!("{at}: must be a schema of \"type\": \"object\""));
        return None;
    }
    match schema.get("properties") {
        None => Some(Map::new()),
        Some(Value::Object(properties)) => Some(properties.clone()),
        Some(_) => {
            problem(format!("{at}/properties: must be an object"));
            None
        }
    }
}

fn required_known(
    at: &str,
    schema: &Value,
    properties: &Map<String, Value>,
    problem: &mut impl FnMut(String),
) {
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match name.as_str() {
            Some(n) if properties.contains_key(n) => {}
            _ => problem(format!("{at}/required: {name} is not a property")),
        }
    }
}

/// Every `${input.x}` is escaped for where it goes, and names an input.
fn template_inputs(
    at: &str,
    template: &str,
    escape: Escape,
    inputs: &[String],
    problem: &mut impl FnMut(String),
) {
    for reference in velocity::references(template) {
        let Some(field) = reference.name.strip_prefix("input.") else {
            continue;
        };
        if field == "rawRequest" {
            if escape == Escape::Url {
                problem(format!("{at}: ${{input.rawRequest}} cannot go in a URL"));
            }
            continue;
        }
        if !inputs.iter().any(|i| i == field) {
            problem(format!(
                "{at}: ${{input.{field}}} is not in the input contract"
            ));
        }
        if reference.escape != Some(escape) {
            let wrapper = match escape {
                Escape::Url => "$esc.url",
                Escape::JsonString => "$esc.jsonString",
            };
            problem(format!(
                "{at}: ${{input.{field}}} must be escaped with {wrapper}(…)"
            ));
        }
    }
}

fn is_property_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn types_of(property: &Value) -> Vec<&str> {
    match property.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_json_media(value: &str) -> bool {
    let media = value.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json") || media.to_ascii_lowercase().ends_with("+json")
}
