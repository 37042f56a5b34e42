//! `[sources.NAME]`: one configured integration each — its verifier and secrets, where its ids
//! are, and its key-translation table.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Problems;
use crate::webhook::event::Extraction;
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
    #[serde(default = "default_conversation_pointer")]
    conversation_id: String,
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

fn default_conversation_pointer() -> String {
    "/conversationId".to_owned()
}

/// Each source is read on its own, so a source that does not even parse (an unknown verifier
/// type, a misspelt key) is one problem among all the others, not the end of the listing.
pub(super) fn sources(
    raw: BTreeMap<String, config::Value>,
    limits: Limits,
    production: bool,
    problems: &mut Problems,
) -> Vec<Source> {
    raw.into_iter()
        .filter_map(|(name, value)| {
            let parsed = parse(&name, value, problems)?;
            source(&name, parsed, limits, production, problems)
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
    let extraction = Extraction::new(&raw.conversation_id, &raw.participant_id, &raw.event_id)
        .map_err(|found| {
            found
                .into_iter()
                .for_each(|(field, message)| problems.add(&key(&field), message))
        })
        .ok();
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
    format!(
        "{} (verifier {}, tolerance {}s, conversation at {}, fields at {:?}, unmapped {:?}, {} rules)",
        source.name(),
        source.verifier().scheme().name(),
        tolerance.as_secs(),
        source.extraction().conversation_pointer(),
        source.mapping().fields_pointer(),
        source.mapping().unmapped(),
        source.mapping().rules().count()
    )
}
