//! The parts of Genesys' JSON the bridge reads and writes (`genesys-api.md` §1–4).
//!
//! Genesys omits null fields, so every optional field tolerates absence as well as `null`; unknown
//! fields are ignored because the platform adds fields without notice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /api/v2/conversations/{id}`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub participants: Vec<Participant>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub id: String,
    /// `customer`, `agent`, `acd`, `ivr`, `external`, … — never a `type` field.
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub connected_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
}

impl Conversation {
    pub fn is_ended(&self) -> bool {
        self.end_time.is_some()
    }
}

impl Participant {
    pub fn is_present(&self) -> bool {
        self.end_time.is_none()
    }
}

/// Body of `PATCH .../participants/{pid}/attributes`: a string → string map, nothing else.
#[derive(Debug, Serialize)]
pub(crate) struct AttributesPatch<'a> {
    pub attributes: &'a BTreeMap<String, String>,
}

/// Body of `PATCH .../secureattributes`.
#[derive(Debug, Serialize)]
pub(crate) struct SecureAttributesPatch<'a> {
    pub attributes: &'a BTreeMap<String, String>,
    pub version: i64,
}

/// `POST /oauth/token` success.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// Error body of every endpoint but the token endpoint.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

/// Error body of the token endpoint.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_conversation_with_absent_and_null_fields() {
        let json = r#"{"id":"c1","startTime":"2026-11-21T05:00:00.000Z","endTime":null,
            "participants":[{"id":"p1","purpose":"customer","attributes":{"a":"1"},
              "calls":[{"state":"connected"}],"somethingNew":true},
              {"id":"p2","purpose":"ivr","endTime":"2026-11-21T05:01:00.000Z"}]}"#;
        let c: Conversation = serde_json::from_str(json).unwrap();
        assert!(!c.is_ended());
        assert!(c.participants[0].is_present());
        assert!(!c.participants[1].is_present());
        assert_eq!(c.participants[0].attributes["a"], "1");
    }
}
