//! What [`MappingTable::apply`](super::MappingTable::apply) hands back.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// The attributes to write, and what was deliberately left out (for logs and dry runs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Mapped {
    /// Genesys attribute key → value, exactly what goes into the PATCH body.
    pub attributes: BTreeMap<String, String>,
    /// JSON pointers (into the body) of fields skipped because they were null: there is no
    /// "remove" for a participant attribute, and what Genesys does with a null is unconfirmed.
    pub skipped_null: Vec<String>,
    /// JSON pointers (into the body) of fields left out as unmapped, or because an explicit
    /// rule already writes their pass-through key.
    pub dropped: Vec<String>,
}

/// Every field that stopped a webhook from being mapped; nothing is written when this is returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("the CRM fields could not be mapped: {}", Summary(&self.errors))]
pub struct MappingErrors {
    /// In a stable order: the table's rules first, then unmapped fields, then whole-map budgets.
    pub errors: Vec<FieldError>,
}

/// One field that could not be mapped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer into the whole body, e.g. `/fields/Notes`; `""` is the body itself.
    pub pointer: String,
    /// Stable `snake_case` code: `fields_missing`, `fields_not_object`, `nested_value`,
    /// `invalid_key`, `key_too_long`, `unmapped_field`, `value_too_long`, `too_many_keys`,
    /// `too_large`.
    pub code: &'static str,
    /// What was wrong and what to change; never quotes the field's value, which may be personal.
    pub message: String,
}

impl FieldError {
    pub(super) fn new(pointer: impl Into<String>, code: &'static str, message: String) -> Self {
        Self {
            pointer: pointer.into(),
            code,
            message,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            Where(&self.pointer),
            self.code,
            self.message
        )
    }
}

/// Keeps the one-line form short for logs: pointers and codes, the sentences are in `errors`.
struct Summary<'a>(&'a [FieldError]);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", Where(&error.pointer), error.code)?;
        }
        Ok(())
    }
}

/// An empty pointer would print as nothing at all.
struct Where<'a>(&'a str);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(body)")
        } else {
            f.write_str(self.0)
        }
    }
}
