//! Building the table at startup, where every configuration mistake is reported at once.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::config::{KeyRule, Limits, MappingConfig, Unmapped};
use super::key;
use crate::webhook::pointer::Pointer;

/// A source's validated key-translation table: CRM fields (JSON) → Genesys participant
/// attributes (string → string). Only [`MappingTable::new`] makes one, so holding one means the
/// configuration was checked.
#[derive(Clone, Debug)]
pub struct MappingTable {
    pub(super) fields: Pointer,
    pub(super) unmapped: Unmapped,
    pub(super) limits: Limits,
    /// In the configuration's key order, which fixes the order of reported errors.
    pub(super) rules: Vec<Rule>,
    /// Top-level names of the fields object some rule reads: never "unmapped", even when a
    /// pointer rule reads only part of them.
    pub(super) claimed: BTreeSet<String>,
    /// Every configured target key: a pass-through field never overwrites one.
    pub(super) targets: BTreeSet<String>,
}

#[derive(Clone, Debug)]
pub(super) struct Rule {
    /// As written in the configuration.
    pub(super) field: String,
    /// `None` reads the top-level name `field`.
    pub(super) pointer: Option<Pointer>,
    pub(super) key: String,
    pub(super) json: bool,
}

impl MappingTable {
    /// Validates the table: target keys non-empty, within `max_key_chars`, free of control
    /// characters and of leading or trailing whitespace, each written by one CRM field only;
    /// pointers valid RFC 6901; `fields` `""` or a valid pointer.
    ///
    /// # Errors
    /// Every problem found, as (path in the configuration below the source, message), e.g.
    /// `("mapping.keys.\"/Owner/Name\"", "…")`.
    pub fn new(config: MappingConfig, limits: Limits) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let fields = Pointer::parse(&config.fields)
            .map_err(|message| problems.push(("mapping.fields".to_owned(), message)))
            .ok();

        let mut writer_of: BTreeMap<String, String> = BTreeMap::new();
        let mut rules = Vec::with_capacity(config.keys.len());
        for (field, rule) in config.keys {
            let path = format!("mapping.keys.{}", toml_key(&field));
            let (key, json, key_path) = match rule {
                KeyRule::Key(key) => (key, false, path.clone()),
                KeyRule::Rule { key, json } => (key, json, format!("{path}.key")),
            };

            let pointer = source(&field)
                .map_err(|message| problems.push((path, message)))
                .ok();

            let key_problems = key::check(&key, limits.max_key_chars);
            for problem in &key_problems {
                problems.push((
                    key_path.clone(),
                    format!("the Genesys key {key:?} {}", problem.describe()),
                ));
            }
            // A key already refused would only add a second, confusing message.
            if key_problems.is_empty() {
                match writer_of.entry(key.clone()) {
                    Entry::Vacant(slot) => {
                        slot.insert(field.clone());
                    }
                    Entry::Occupied(first) => problems.push((
                        key_path,
                        format!(
                            "the Genesys key {key:?} is already written by the CRM field {:?}; \
                             map each field to its own key",
                            first.get()
                        ),
                    )),
                }
            }

            if let Some(pointer) = pointer {
                rules.push(Rule {
                    field,
                    pointer,
                    key,
                    json,
                });
            }
        }

        let fields = match fields {
            Some(fields) if problems.is_empty() => fields,
            _ => return Err(problems),
        };
        let claimed = rules
            .iter()
            .filter_map(|rule| match &rule.pointer {
                None => Some(rule.field.clone()),
                Some(pointer) => pointer.first().map(str::to_owned),
            })
            .collect();
        let targets = rules.iter().map(|rule| rule.key.clone()).collect();
        Ok(Self {
            fields,
            unmapped: config.unmapped,
            limits,
            rules,
            claimed,
            targets,
        })
    }

    /// What happens to fields the table does not name.
    #[must_use]
    pub fn unmapped(&self) -> Unmapped {
        self.unmapped
    }

    /// Where in the body the CRM fields are (`""` is the whole body).
    #[must_use]
    pub fn fields_pointer(&self) -> &str {
        self.fields.as_str()
    }

    /// The budgets every mapped webhook is held to.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// For dry runs and docs: (CRM field as configured, Genesys key, JSON-encode nested values).
    pub fn rules(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.rules
            .iter()
            .map(|rule| (rule.field.as_str(), rule.key.as_str(), rule.json))
    }
}

/// How a configured CRM field is read: `None` for a top-level name, else a pointer.
fn source(field: &str) -> Result<Option<Pointer>, String> {
    if field.starts_with('/') {
        Pointer::parse(field).map(Some)
    } else if field.is_empty() {
        // Almost certainly a slip; a field really named "" is still reachable as "/".
        Err(
            "the CRM field name is empty; to read a field named \"\" write the pointer \"/\""
                .to_owned(),
        )
    } else {
        Ok(None)
    }
}

/// A TOML key as the user would have to write it, so the path can be pasted back.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        return key.to_owned();
    }
    let mut quoted = String::with_capacity(key.len() + 2);
    quoted.push('"');
    for c in key.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
