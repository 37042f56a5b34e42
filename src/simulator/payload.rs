//! Validation of the attribute PATCH bodies: a JSON object whose `attributes` is a string map.
//! Errors are messages naming the offending key, as a developer fixing their client needs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The body of `PATCH .../participants/{participantId}/attributes`.
pub(crate) fn participant_attributes(body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    string_map(&object(body)?)
}

/// The body of `PATCH .../secureattributes`: the attributes and the integer `version`.
pub(crate) fn secure_attributes(body: &[u8]) -> Result<(BTreeMap<String, String>, i64), String> {
    let object = object(body)?;
    let attributes = string_map(&object)?;
    let version = match object.get("version") {
        None => return Err("version is required".to_owned()),
        Some(value) => value
            .as_i64()
            .ok_or_else(|| format!("version must be an integer, got {}", kind(value)))?,
    };
    Ok((attributes, version))
}

fn object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(format!(
            "request body must be a JSON object, got {}",
            kind(&other)
        )),
        Err(err) => Err(format!("request body is not valid JSON: {err}")),
    }
}

fn string_map(object: &Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
    let attributes = match object.get("attributes") {
        None => return Err("attributes is required".to_owned()),
        Some(Value::Object(attributes)) => attributes,
        Some(other) => {
            return Err(format!(
                "attributes must be an object of strings, got {}",
                kind(other)
            ));
        }
    };
    attributes
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            other => Err(format!(
                "attributes.{key} must be a string, got {}",
                kind(other)
            )),
        })
        .collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_string_map() {
        let map = participant_attributes(br#"{"attributes": {"a": "1", "A": ""}}"#).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map["A"], "");
    }

    #[test]
    fn names_the_key_whose_value_is_not_a_string() {
        for (value, kind) in [("42", "number"), ("true", "boolean"), ("null", "null")] {
            let body = format!(r#"{{"attributes": {{"ok": "x", "crmAccountId": {value}}}}}"#);
            let err = participant_attributes(body.as_bytes()).unwrap_err();
            assert_eq!(
                err,
                format!("attributes.crmAccountId must be a string, got {kind}")
            );
        }
    }

    #[test]
    fn refuses_malformed_and_misshapen_bodies() {
        assert!(
            participant_attributes(b"{")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            participant_attributes(b"")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert_eq!(
            participant_attributes(b"[]").unwrap_err(),
            "request body must be a JSON object, got array"
        );
        assert_eq!(
            participant_attributes(br#"{"data": {}}"#).unwrap_err(),
            "attributes is required"
        );
        assert!(
            participant_attributes(br#"{"attributes": ["a"]}"#)
                .unwrap_err()
                .contains("got array")
        );
    }

    #[test]
    fn secure_attributes_need_an_integer_version() {
        let (map, version) =
            secure_attributes(br#"{"attributes": {"pin": "1234"}, "version": 3}"#).unwrap();
        assert_eq!((map["pin"].as_str(), version), ("1234", 3));
        assert_eq!(
            secure_attributes(br#"{"attributes": {}}"#).unwrap_err(),
            "version is required"
        );
        assert!(
            secure_attributes(br#"{"attributes": {}, "version": "1"}"#)
                .unwrap_err()
                .contains("got string")
        );
    }
}
