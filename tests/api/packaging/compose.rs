//! `docker-compose.yml`, parsed with `serde_yaml_ng` into JSON values whose scalars are all
//! strings (as Compose passes environment values), and what a service runs: its environment, its
//! command, its health probe.

use super::*;

/// The compose file as JSON values; scalars stay strings, as Compose passes environment values.
pub(super) fn compose() -> Value {
    yaml(&read("docker-compose.yml"))
}

/// YAML as JSON values, every scalar a string (`retries: 5` is `"5"`, `enabled: false` is
/// `"false"`), an empty value null; merge keys (`<<`) applied, as Compose does.
pub(super) fn yaml(text: &str) -> Value {
    let mut value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("the YAML does not parse: {e}"));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("a merge key that does not merge: {e}"));
    json_of(value)
}

pub(super) fn json_of(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Yaml;
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(boolean) => Value::String(boolean.to_string()),
        Yaml::Number(number) => Value::String(number.to_string()),
        Yaml::String(text) => Value::String(text),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(json_of).collect()),
        Yaml::Mapping(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| match json_of(key) {
                    Value::String(key) => (key, json_of(value)),
                    other => panic!("a mapping key that is not a scalar: {other}"),
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => panic!("Compose files have no YAML tags: {tagged:?}"),
    }
}

pub(super) fn service<'c>(compose: &'c Value, name: &str) -> &'c Value {
    let service = &compose["services"][name];
    assert!(
        service.is_object(),
        "docker-compose.yml has no service {name}"
    );
    service
}

/// The services that run this project's image (the `bridge` service's); the others, the database,
/// run images of their own.
pub(super) fn our_services(compose: &Value) -> Vec<(&String, &Value)> {
    let image = &service(compose, "bridge")["image"];
    compose["services"]
        .as_object()
        .expect("services")
        .iter()
        .filter(|(_, service)| &service["image"] == image)
        .collect()
}

pub(super) fn string_list(value: &Value, what: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} must be a list: {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what}: {v} is not a string"))
                .to_owned()
        })
        .collect()
}

pub(super) fn service_env(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Null => BTreeMap::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        other => panic!("write environment as a mapping: {other}"),
    }
}

/// What the service's container runs: its entrypoint and command, or the image's. (Compose drops
/// the image's CMD when a service sets its own entrypoint.)
pub(super) fn service_command(service: &Value, image_command: &[String]) -> Vec<String> {
    let entrypoint = &service["entrypoint"];
    let command = &service["command"];
    if entrypoint.is_null() && command.is_null() {
        return image_command.to_vec();
    }
    let mut argv = if entrypoint.is_null() {
        image_command[..1].to_vec()
    } else {
        string_list(entrypoint, "entrypoint")
    };
    if !command.is_null() {
        argv.extend(string_list(command, "command"));
    }
    argv
}

/// The service's health probe: `test` without its leading `CMD`.
pub(super) fn service_probe(service: &Value, name: &str) -> Vec<String> {
    let test = string_list(
        &service["healthcheck"]["test"],
        &format!("{name} healthcheck.test"),
    );
    assert_eq!(
        test.first().map(String::as_str),
        Some("CMD"),
        "{name}: the healthcheck must be [\"CMD\", …]: the image has no shell for CMD-SHELL"
    );
    test[1..].to_vec()
}

/// The URL a `genesys-bridge healthcheck …` probe asks for.
pub(super) fn probe_url(probe: &[String]) -> String {
    assert_eq!(
        probe[..2],
        strings(&["genesys-bridge", "healthcheck"]),
        "{probe:?}"
    );
    match probe.iter().position(|a| a == "--url") {
        Some(at) => probe[at + 1].clone(),
        None => genesys_bridge::cli::healthcheck::DEFAULT_URL.to_owned(),
    }
}

/// `http://host:port/path` → (port, path).
pub(super) fn port_and_path(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port = authority
        .rsplit_once(':')
        .map_or(80, |(_, port)| port.parse().expect("a numeric port"));
    (port, path.to_owned())
}

#[test]
fn the_yaml_reader_reads_the_compose_subset() {
    let text = [
        "a:",
        "  b: \"x # not a comment\"  # a comment",
        "  c: [\"CMD\", \"y\"]",
        "  d:",
        "    - '1:2'",
        "  e: plain",
        "f:",
    ]
    .join("\n");

    let value = yaml(&text);

    assert_eq!(
        value,
        serde_json::json!({"a": {"b": "x # not a comment", "c": ["CMD", "y"], "d": ["1:2"], "e": "plain"}, "f": null})
    );
}
