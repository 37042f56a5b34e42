//! The raw mapping settings as users write them under `[sources.NAME.mapping]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One source's key-translation table, as written in the configuration file.
///
/// Turn it into a [`MappingTable`](super::MappingTable) at startup; nothing maps from this type
/// directly, so a mistake in it is found before the first webhook arrives.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// JSON pointer (RFC 6901) to the object that holds the CRM fields; `""` is the whole body.
    #[serde(default = "default_fields")]
    pub fields: String,
    /// What happens to fields the table does not name.
    #[serde(default)]
    pub unmapped: Unmapped,
    /// CRM field (a top-level key, or a JSON pointer starting with `/`) → Genesys attribute key.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyRule>,
}

impl Default for MappingConfig {
    fn default() -> Self {
        Self {
            fields: default_fields(),
            unmapped: Unmapped::default(),
            keys: BTreeMap::new(),
        }
    }
}

fn default_fields() -> String {
    "/fields".to_owned()
}

/// What happens to a top-level field of the fields object that no rule names.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Unmapped {
    /// Leave it out and report it in [`Mapped::dropped`](super::Mapped::dropped): the safe
    /// default, since a CRM adding a field must not start writing it into conversations.
    #[default]
    Drop,
    /// Send it with the CRM key as the attribute key.
    Pass,
    /// Refuse the whole webhook, so a table that fell behind the CRM is noticed.
    Reject,
}

/// Where one CRM field goes.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a Genesys attribute key, or a table like { key = \"crmNotes\", json = true }"
)]
pub enum KeyRule {
    /// `AccountId = "crmAccountId"`.
    Key(String),
    /// `Notes = { key = "crmNotes", json = true }`: with `json`, an object or array is sent as
    /// compact JSON text instead of being refused.
    Rule {
        key: String,
        #[serde(default)]
        json: bool,
    },
}

impl KeyRule {
    /// The Genesys attribute key this rule writes.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Self::Key(key) | Self::Rule { key, .. } => key,
        }
    }

    /// Whether objects and arrays are JSON-encoded rather than refused.
    #[must_use]
    pub fn json(&self) -> bool {
        match self {
            Self::Key(_) => false,
            Self::Rule { json, .. } => *json,
        }
    }
}

/// Size budgets for what one webhook may write. Per-key and per-value limits of the attributes
/// API are unconfirmed (`genesys-api.md` §3), so these are configurable and the defaults sane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest attribute key, in characters.
    pub max_key_chars: usize,
    /// Longest attribute value, in characters.
    pub max_value_chars: usize,
    /// Largest sum of key and value UTF-8 bytes over the whole map.
    pub max_total_bytes: usize,
    /// Most attributes written by one webhook.
    pub max_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_chars: 256,
            max_value_chars: 2000,
            max_total_bytes: 32 * 1024,
            max_keys: 100,
        }
    }
}
