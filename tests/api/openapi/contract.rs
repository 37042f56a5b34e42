//! `openapi.yaml` read as JSON values, and answers checked against it: [`Contract`] records
//! which documented statuses a test provoked; [`conforms`] checks one answer's status, headers,
//! content type and body schema.

use std::path::Path;

use super::*;

pub(super) fn spec() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("openapi.yaml at the repository root");
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml does not parse: {e}"))
}

pub(super) fn kind(kind: &str) -> String {
    format!("urn:genesys-bridge:problem:{kind}")
}

/// `(METHOD, /path/{param})` of every operation under `paths`.
pub(super) fn documented_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("openapi.yaml has paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

/// What a test provoked for one operation (`"POST /webhooks/{source}"`), checked against
/// openapi.yaml as it goes.
pub(super) struct Contract {
    spec: Value,
    pub(super) operation: String,
    provoked: BTreeSet<u16>,
}

impl Contract {
    pub(super) fn new(operation: &str) -> Self {
        let spec = spec();
        let (method, path) = operation.split_once(' ').unwrap();
        let documented = &spec["paths"][path][method.to_lowercase()];
        assert!(documented.is_object(), "{operation} is not in openapi.yaml");
        let operation = operation.to_owned();
        Self {
            spec,
            operation,
            provoked: BTreeSet::new(),
        }
    }

    /// `answer` was provoked to be `status`: it is, and it conforms. Returns the body.
    pub(super) fn expect(&mut self, case: &str, status: u16, answer: &Answer) -> Value {
        let operation = &self.operation;
        assert_eq!(
            answer.status,
            status,
            "{operation} ({case}): {}",
            answer.text()
        );
        self.provoked.insert(status);
        let (method, path) = operation.split_once(' ').unwrap();
        conforms(&self.spec, method, path, answer)
    }

    /// Every status documented for the operation was provoked, but those `elsewhere` accounts for.
    pub(super) fn covered_except(&self, elsewhere: &[(u16, &str)]) {
        let operation = &self.operation;
        let (method, path) = operation.split_once(' ').unwrap();
        let responses = self.spec["paths"][path][method.to_lowercase()]["responses"].as_object();
        let missing: Vec<&String> = (responses.expect("responses").keys())
            .filter(|s| {
                let status = s.parse::<u16>().expect("numeric status keys");
                !self.provoked.contains(&status) && !elsewhere.iter().any(|(e, _)| *e == status)
            })
            .collect();
        assert!(
            missing.is_empty(),
            "{operation}: openapi.yaml documents {missing:?}, never provoked"
        );
    }
}

/// The documented operation (`"GET /deliveries/{id}"`) a request goes to: a literal segment
/// wins over a parameter, as in the router.
pub(super) fn operation_of(spec: &Value, method: &str, request_path: &str) -> String {
    let segments: Vec<&str> = request_path
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .collect();
    let fits = |template: &str| {
        let parts: Vec<&str> = template.split('/').collect();
        let matches = parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| p == s || p.starts_with('{'));
        matches.then(|| parts.iter().filter(|p| p.starts_with('{')).count())
    };
    let best = documented_operations(spec)
        .into_iter()
        .filter(|(m, _)| m == method)
        .filter_map(|(_, template)| Some((fits(&template)?, template)))
        .min();
    let (_, template) = best
        .unwrap_or_else(|| panic!("no operation in openapi.yaml serves {method} {request_path}"));
    format!("{method} {template}")
}

/// The answer's status is documented for `method path`; it has the headers documented as
/// required (`X-Request-Id` on all); its content type is documented; its body matches the
/// documented schema. A problem also repeats the status and the request id. Returns the body.
pub(super) fn conforms(spec: &Value, method: &str, path: &str, answer: &Answer) -> Value {
    let responses = &spec["paths"][path][method.to_lowercase()]["responses"];
    let status = answer.status.to_string();
    let documented = responses.get(&status).map(|r| resolve(spec, r));
    let documented = documented.unwrap_or_else(|| {
        let listed: Vec<&String> = responses.as_object().map(|r| r.keys().collect()).unwrap();
        panic!(
            "{method} {path} answered {status}, not among {listed:?} in openapi.yaml: {}",
            answer.text()
        )
    });
    let request_id = answer.header("x-request-id");
    assert!(
        request_id.is_some(),
        "{method} {path} {status}: no X-Request-Id"
    );
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        if resolve(spec, header)["required"] == true {
            assert!(
                answer.header(name).is_some(),
                "{method} {path} {status}: no {name}"
            );
        }
    }
    let content_type = answer.header("content-type").unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let media = documented["content"].get(essence).unwrap_or_else(|| {
        panic!("{method} {path} {status}: content type {content_type:?} is not documented")
    });
    let body = if essence.ends_with("json") {
        answer.json()
    } else {
        Value::String(answer.text())
    };
    let mut broken = Vec::new();
    violations(spec, &media["schema"], &body, "", &mut broken);
    assert!(
        broken.is_empty(),
        "{method} {path} {status} breaks its schema in openapi.yaml: {broken:?}\n{body}"
    );
    if essence == PROBLEM {
        let problem = resolve(spec, &spec["components"]["schemas"]["Problem"]);
        for field in problem["required"].as_array().expect("Problem.required") {
            let field = field.as_str().unwrap();
            assert!(
                body.get(field).is_some(),
                "a problem without {field}: {body}"
            );
        }
        assert_eq!(body["status"], answer.status, "{body}");
        assert_eq!(body["request_id"].as_str(), request_id, "{body}");
    }
    body
}

/// A problem of `kind`, conforming to the `Problem` schema.
pub(super) fn expect_problem(spec: &Value, answer: &Answer, expected: &str) {
    assert_eq!(answer.header("content-type"), Some(PROBLEM));
    assert!(answer.header("x-request-id").is_some());
    let body = answer.json();
    let mut broken = Vec::new();
    let problem = &spec["components"]["schemas"]["Problem"];
    violations(spec, problem, &body, "", &mut broken);
    assert!(broken.is_empty(), "{broken:?}: {body}");
    assert_eq!(body["type"], kind(expected), "{body}");
}

fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("only local $refs");
            let target = spec.pointer(pointer);
            resolve(
                spec,
                target.unwrap_or_else(|| panic!("dangling $ref {reference}")),
            )
        }
        None => node,
    }
}

/// Where `value` breaks `schema`, for the JSON Schema keywords openapi.yaml uses: `$ref`, `allOf`,
/// `oneOf`, `anyOf`, `type`, `const`, `enum`, `minimum`, `maximum`, `required`, `properties`,
/// `additionalProperties` and `items`. Others (`format`, `description`, ...) are not checked.
fn violations(spec: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    let fits = |s: &Value| {
        let mut found = Vec::new();
        violations(spec, s, value, at, &mut found);
        found.is_empty()
    };
    for sub in schema["allOf"].as_array().into_iter().flatten() {
        violations(spec, sub, value, at, out);
    }
    if let Some(any) = schema["anyOf"].as_array().filter(|a| !a.iter().any(fits)) {
        out.push(format!("{at}: none of {} anyOf schemas fits", any.len()));
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let fitting = one.iter().filter(|s| fits(s)).count();
        if fitting != 1 {
            out.push(format!(
                "{at}: {fitting} of the oneOf schemas fit, not exactly 1"
            ));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| is_type(value, t)) {
        out.push(format!("{at}: {value} is not {types:?}"));
    }
    if let Some(expected) = schema.get("const").filter(|c| *c != value) {
        out.push(format!("{at}: {value} is not {expected}"));
    }
    if let Some(allowed) = schema["enum"].as_array().filter(|e| !e.contains(value)) {
        out.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let number = value.as_f64();
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), number)
        && n < min
    {
        out.push(format!("{at}: {n} is below {min}"));
    }
    if let (Some(max), Some(n)) = (schema["maximum"].as_f64(), number)
        && n > max
    {
        out.push(format!("{at}: {n} is above {max}"));
    }
    if let Value::Object(members) = value {
        for name in schema["required"].as_array().into_iter().flatten() {
            if !members.contains_key(name.as_str().unwrap_or_default()) {
                out.push(format!("{at}: {name} is required"));
            }
        }
        for (name, member) in members {
            let inner = format!("{at}/{name}");
            match (
                schema["properties"].get(name),
                schema.get("additionalProperties"),
            ) {
                (Some(property), _) => violations(spec, property, member, &inner, out),
                (None, Some(Value::Bool(false))) => out.push(format!("{inner}: not allowed")),
                (None, Some(extra @ Value::Object(_))) => {
                    violations(spec, extra, member, &inner, out);
                }
                (None, _) => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            violations(spec, item_schema, item, &format!("{at}/{index}"), out);
        }
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}
