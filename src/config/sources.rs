//! `[sources.NAME]`: one configured integration each — its verifier and secrets, where its ids
//! are, and its key-translation table.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Problems;
use crate::genesys::address::is_key_name;
use crate::genesys::{CountryCode, Several};
use crate::webhook::event::{CallBy, Extraction};
use crate::webhook::mapping::{Limits, MappingConfig, MappingTable};
use crate::webhook::signature::{DEFAULT_TOLERANCE, Scheme, Secret, Verifier};
use crate::webhook::source::Source;

/// The local demo's secret. Public on purpose — which is why production refuses it.
pub const DEMO_SECRET: &str = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ=";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    verifier: Scheme,
    /// The current secret (signs `sign` output; listed last).
    #[serde(default)]
    secret: Option<SecretString>,
    #[serde(default)]
    secret_file: Option<String>,
    /// Older secrets still accepted during a rotation, each with an optional expiry.
    #[serde(default)]
    secrets: Vec<RawSecret>,
    #[serde(default)]
    tolerance: Option<String>,
    /// The pointer to the conversation id (the default way to name the call).
    #[serde(default)]
    conversation_id: Option<String>,
    /// Or what else names the call: `{ by = "ani" | "key" | "conversation_id", pointer, … }`.
    #[serde(default)]
    conversation: Option<RawConversation>,
    #[serde(default)]
    participant_id: String,
    #[serde(default)]
    event_id: String,
    mapping: MappingConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    #[serde(default)]
    value: Option<SecretString>,
    #[serde(default)]
    value_file: Option<String>,
    /// RFC 3339; after it the secret no longer verifies.
    #[serde(default)]
    not_after: Option<String>,
}

/// `conversation = { by = "ani", pointer = "/phone" }`, `{ by = "key", name = "accountNumber",
/// pointer = "/account", several = "refuse" }` or `{ by = "conversation_id", pointer = "/id" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConversation {
    by: RawBy,
    pointer: String,
    /// With `by = "key"`: the key's name, as the call registers it.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    several: Several,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawBy {
    ConversationId,
    Ani,
    Key,
}

const DEFAULT_CONVERSATION_POINTER: &str = "/conversationId";

/// Where the call is named, and by what; problems are (field, message).
fn call_named(
    raw: &RawSource,
    default_country: Option<&CountryCode>,
) -> Result<(String, CallBy, Several), (String, String)> {
    let Some(conversation) = &raw.conversation else {
        let pointer = raw
            .conversation_id
            .clone()
            .unwrap_or_else(|| DEFAULT_CONVERSATION_POINTER.to_owned());
        return Ok((pointer, CallBy::ConversationId, Several::Latest));
    };
    if raw.conversation_id.is_some() {
        return Err((
            "conversation_id".to_owned(),
            "set either conversation_id or conversation, not both".to_owned(),
        ));
    }
    let by = match (&conversation.by, &conversation.name) {
        (RawBy::Key, Some(name)) if is_key_name(name) => CallBy::Key { name: name.clone() },
        (RawBy::Key, Some(name)) => {
            return Err((
                "conversation.name".to_owned(),
                format!(
                    "{name:?} cannot be a Data Action input: a letter, then letters, digits, '_' or '-' (at most 64)"
                ),
            ));
        }
        (RawBy::Key, None) => {
            return Err((
                "conversation.name".to_owned(),
                "is required with by = \"key\": the name of the CRM key the call registers with"
                    .to_owned(),
            ));
        }
        (_, Some(_)) => {
            return Err((
                "conversation.name".to_owned(),
                "is only for by = \"key\"".to_owned(),
            ));
        }
        (RawBy::Ani, None) => CallBy::Ani {
            default_country: default_country.cloned(),
        },
        (RawBy::ConversationId, None) => CallBy::ConversationId,
    };
    Ok((conversation.pointer.clone(), by, conversation.several))
}

/// Each source is read on its own, so a source that does not even parse (an unknown verifier
/// type, a misspelt key) is one problem among all the others, not the end of the listing.
pub(super) fn sources(
    raw: BTreeMap<String, config::Value>,
    limits: Limits,
    production: bool,
    default_country: Option<&CountryCode>,
    problems: &mut Problems,
) -> Vec<Source> {
    raw.into_iter()
        .filter_map(|(name, value)| {
            let parsed = parse(&name, value, problems)?;
            source(&name, parsed, limits, production, default_country, problems)
        })
        .collect()
}

/// `config::Value`, not JSON: it reads `"123"` from the environment as a string where a string
/// is wanted, as the rest of the configuration does.
fn parse(name: &str, value: config::Value, problems: &mut Problems) -> Option<RawSource> {
    let verifier = value
        .clone()
        .into_table()
        .ok()
        .and_then(|t| t.get("verifier").cloned());
    if let Some(verifier) = verifier
        && let Err(e) = verifier.try_deserialize::<Scheme>()
    {
        problems.add(&format!("sources.{name}.verifier"), e.to_string());
        return None;
    }
    value
        .try_deserialize()
        .map_err(|e| problems.add(&format!("sources.{name}"), e.to_string()))
        .ok()
}

fn source(
    name: &str,
    raw: RawSource,
    limits: Limits,
    production: bool,
    default_country: Option<&CountryCode>,
    problems: &mut Problems,
) -> Option<Source> {
    let key = |field: &str| format!("sources.{name}.{field}");
    let mut ok = true;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        // Environment overrides arrive lower-cased, and the name is a URL path segment.
        problems.add(
            &format!("sources.{name}"),
            "source names use a-z, 0-9, '-' and '_' only",
        );
        ok = false;
    }
    let tolerance = match &raw.tolerance {
        Some(text) => problems.duration(&key("tolerance"), text),
        None => DEFAULT_TOLERANCE,
    };
    let secrets = secrets(name, &raw, problems, production);
    let verifier = match Verifier::new(raw.verifier.clone(), secrets.unwrap_or_default(), tolerance)
    {
        Ok(v) => Some(v),
        Err(e) => {
            problems.add(&key("verifier"), e.to_string());
            None
        }
    };
    let extraction = match call_named(&raw, default_country) {
        Ok((pointer, by, several)) => {
            Extraction::new(&pointer, &raw.participant_id, &raw.event_id)
                .map(|e| e.named_by(by, several))
                .map_err(|found| {
                    for (field, message) in found {
                        // The pointer is `conversation.pointer` when the call is named that way.
                        let field = match (field.as_str(), &raw.conversation) {
                            ("conversation_id", Some(_)) => "conversation.pointer".to_owned(),
                            _ => field,
                        };
                        problems.add(&key(&field), message);
                    }
                })
                .ok()
        }
        Err((field, message)) => {
            problems.add(&key(&field), message);
            None
        }
    };
    let mapping = MappingTable::new(raw.mapping, limits)
        .map_err(|found| {
            for (field, message) in found {
                let field = field.strip_prefix("mapping.").unwrap_or(&field).to_owned();
                problems.add(&key(&format!("mapping.{field}")), message);
            }
        })
        .ok();
    if production && matches!(raw.verifier, Scheme::None) {
        problems.add(
            &key("verifier"),
            "type = \"none\" accepts unsigned requests; the production profile refuses it",
        );
    }
    match (ok, verifier, extraction, mapping) {
        (true, Some(v), Some(e), Some(m)) => Some(Source::new(name, v, e, m)),
        _ => None,
    }
}

/// `secrets` (oldest first) then `secret`/`secret_file` (the current one, last).
fn secrets(
    name: &str,
    raw: &RawSource,
    problems: &mut Problems,
    production: bool,
) -> Option<Vec<Secret>> {
    let mut given = Vec::new();
    for (i, entry) in raw.secrets.iter().enumerate() {
        let field = format!("sources.{name}.secrets[{i}]");
        let not_after = entry.not_after.as_deref().and_then(|text| {
            OffsetDateTime::parse(text.trim(), &Rfc3339)
                .map_err(|e| {
                    problems.add(
                        &format!("{field}.not_after"),
                        format!("{text:?} is not an RFC 3339 time: {e}"),
                    )
                })
                .ok()
        });
        let value = inline_or_file(
            problems,
            &format!("{field}.value"),
            entry.value.as_ref(),
            entry.value_file.as_deref(),
        );
        given.push((format!("{field}.value"), value, not_after));
    }
    let key = format!("sources.{name}.secret");
    let current = inline_or_file(
        problems,
        &key,
        raw.secret.as_ref(),
        raw.secret_file.as_deref(),
    );
    given.push((key, current, None));

    let mut out = Vec::new();
    let mut ok = true;
    for (field, value, not_after) in given {
        let Some(value) = value else { continue };
        if production && value.trim() == DEMO_SECRET {
            problems.add(
                &field,
                "is the public development secret; the production profile refuses it",
            );
            ok = false;
        }
        match Secret::parse(&raw.verifier, &value, not_after) {
            Ok(secret) => out.push(secret),
            Err(e) => {
                problems.add(&field, e.to_string());
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn inline_or_file(
    problems: &mut Problems,
    key: &str,
    inline: Option<&SecretString>,
    file: Option<&str>,
) -> Option<String> {
    let inline = inline
        .map(|s| s.expose_secret().to_owned())
        .filter(|s| !s.is_empty());
    let file = file.map(str::trim).filter(|f| !f.is_empty());
    match (inline, file) {
        (Some(value), None) => Some(value),
        (None, None) => None,
        (Some(_), Some(_)) => {
            problems.add(key, format!("set either {key} or {key}_file, not both"));
            None
        }
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                problems.add(&format!("{key}_file"), format!("cannot read {path}: {e}"));
                None
            }
        },
    }
}

/// Shown by `check-config` and logged at startup.
pub fn describe(source: &Source) -> String {
    let tolerance: Duration = source.verifier().tolerance();
    let named_by = match source.extraction().call_by() {
        CallBy::ConversationId => "conversation",
        CallBy::Ani { .. } => "caller's number",
        CallBy::Key { name } => name,
    };
    format!(
        "{} (verifier {}, tolerance {}s, {named_by} at {}, fields at {:?}, unmapped {:?}, {} rules)",
        source.name(),
        source.verifier().scheme().name(),
        tolerance.as_secs(),
        source.extraction().conversation_pointer(),
        source.mapping().fields_pointer(),
        source.mapping().unmapped(),
        source.mapping().rules().count()
    )
}
