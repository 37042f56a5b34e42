//! Mapping one webhook body: all or nothing, and every offending field reported.

use serde_json::{Map, Value};

use super::config::Unmapped;
use super::key;
use super::output::{FieldError, Mapped, MappingErrors};
use super::table::MappingTable;
use crate::webhook::pointer::escape;

impl MappingTable {
    /// Maps `body`, the whole parsed webhook body; the CRM fields are at
    /// [`fields_pointer`](Self::fields_pointer).
    ///
    /// Strings are sent as they are, numbers with their digits exactly as written in the JSON
    /// text (`serde_json`'s `arbitrary_precision` only respells an exponent: `1E5` → `1e+5`),
    /// booleans as `true`/`false`; nulls are skipped. A field the table names but the body lacks is simply
    /// not written. Nothing to write is `Ok` with an empty map: whether that is worth a call is
    /// the caller's decision.
    ///
    /// # Errors
    /// Every field that cannot be mapped or breaks a budget; nothing is applied partially.
    pub fn apply(&self, body: &Value) -> Result<Mapped, MappingErrors> {
        let at = self.fields.as_str();
        let fields = match self.fields.resolve(body) {
            Some(Value::Object(fields)) => fields,
            Some(other) => {
                return Err(one(FieldError::new(
                    at,
                    "fields_not_object",
                    format!(
                        "The body has {} at {at:?}, where this source's mapping.fields says \
                         the CRM fields are; they must be a JSON object.",
                        kind(other)
                    ),
                )));
            }
            None => {
                return Err(one(FieldError::new(
                    at,
                    "fields_missing",
                    format!(
                        "The body has nothing at {at:?}, where this source's mapping.fields \
                         says the CRM fields are; send them there or change mapping.fields."
                    ),
                )));
            }
        };

        let mut run = Run {
            table: self,
            mapped: Mapped::default(),
            errors: Vec::new(),
        };
        run.explicit(fields);
        run.unmapped(fields);
        run.budgets();
        if run.errors.is_empty() {
            Ok(run.mapped)
        } else {
            Err(MappingErrors { errors: run.errors })
        }
    }
}

struct Run<'t> {
    table: &'t MappingTable,
    mapped: Mapped,
    errors: Vec<FieldError>,
}

/// Who asked for a field, which decides the advice for a nested value.
#[derive(Clone, Copy)]
enum Origin {
    Rule { json: bool },
    PassThrough,
}

impl Run<'_> {
    fn explicit(&mut self, fields: &Map<String, Value>) {
        let table = self.table;
        let root = table.fields.as_str();
        for rule in &table.rules {
            let (value, pointer) = match &rule.pointer {
                None => (
                    fields.get(&rule.field),
                    format!("{root}/{}", escape(&rule.field)),
                ),
                Some(pointer) => (
                    pointer.resolve_in(fields),
                    format!("{root}{}", pointer.as_str()),
                ),
            };
            if let Some(value) = value {
                self.write(pointer, &rule.key, value, Origin::Rule { json: rule.json });
            }
        }
    }

    fn unmapped(&mut self, fields: &Map<String, Value>) {
        let table = self.table;
        let root = table.fields.as_str();
        for (name, value) in fields {
            if table.claimed.contains(name) {
                continue;
            }
            let pointer = format!("{root}/{}", escape(name));
            match table.unmapped {
                Unmapped::Drop => self.mapped.dropped.push(pointer),
                Unmapped::Reject => self.errors.push(FieldError::new(
                    pointer,
                    "unmapped_field",
                    "No rule maps this field and this source rejects unmapped fields; add it \
                     to mapping.keys, or set mapping.unmapped to \"drop\"."
                        .to_owned(),
                )),
                // The configured key belongs to its rule even when that rule's field is absent
                // from this body, so what gets written does not depend on which fields came.
                Unmapped::Pass if table.targets.contains(name) => {
                    self.mapped.dropped.push(pointer);
                }
                Unmapped::Pass => {
                    let problems = key::check(name, table.limits.max_key_chars);
                    if problems.is_empty() {
                        self.write(pointer, name, value, Origin::PassThrough);
                        continue;
                    }
                    for problem in problems {
                        self.errors.push(FieldError::new(
                            pointer.clone(),
                            problem.code(),
                            format!(
                                "This field's name cannot be passed through as a Genesys key: \
                                 it {}; map the field to a valid key in mapping.keys.",
                                problem.describe()
                            ),
                        ));
                    }
                }
            }
        }
    }

    fn write(&mut self, pointer: String, key: &str, value: &Value, origin: Origin) {
        let text = match (value, origin) {
            (Value::Null, _) => {
                self.mapped.skipped_null.push(pointer);
                return;
            }
            (Value::String(text), _) => text.clone(),
            // With `arbitrary_precision` this is the number as written: `1.50` stays `1.50` and
            // long ids are not rounded through f64. A Value built in code rather than parsed
            // from text has no written form and prints as serde_json formats it.
            (Value::Number(number), _) => number.to_string(),
            (Value::Bool(flag), _) => flag.to_string(),
            (Value::Object(_) | Value::Array(_), Origin::Rule { json: true }) => {
                match serde_json::to_string(value) {
                    Ok(text) => text,
                    Err(error) => {
                        self.errors.push(FieldError::new(
                            pointer,
                            "nested_value",
                            format!("This field could not be encoded as JSON text: {error}."),
                        ));
                        return;
                    }
                }
            }
            (Value::Object(_) | Value::Array(_), _) => {
                let advice = match origin {
                    Origin::Rule { .. } => {
                        "set json = true on its rule to send it as JSON text, or map the values \
                         inside it with pointer rules"
                    }
                    Origin::PassThrough => {
                        "add a rule for it in mapping.keys, with json = true to send it as JSON \
                         text, or map the values inside it with pointer rules"
                    }
                };
                self.errors.push(FieldError::new(
                    pointer,
                    "nested_value",
                    format!(
                        "This field holds {}, but Genesys attributes are strings; {advice}.",
                        kind(value)
                    ),
                ));
                return;
            }
        };

        let limit = self.table.limits.max_value_chars;
        let chars = text.chars().count();
        if chars > limit {
            self.errors.push(FieldError::new(
                pointer,
                "value_too_long",
                format!(
                    "The value is {chars} characters long; the limit is {limit}. Shorten it in \
                     the CRM, or raise limits.max_value_chars."
                ),
            ));
            return;
        }
        self.mapped.attributes.insert(key.to_owned(), text);
    }

    /// Whole-map budgets, measured on what would be sent.
    fn budgets(&mut self) {
        let limits = self.table.limits;
        let at = self.table.fields.as_str();
        let attributes = &self.mapped.attributes;

        let count = attributes.len();
        if count > limits.max_keys {
            self.errors.push(FieldError::new(
                at,
                "too_many_keys",
                format!(
                    "This webhook would write {count} attributes; the limit is {}. Map fewer \
                     fields, or raise limits.max_keys.",
                    limits.max_keys
                ),
            ));
        }
        let bytes: usize = attributes
            .iter()
            .map(|(key, value)| key.len() + value.len())
            .sum();
        if bytes > limits.max_total_bytes {
            self.errors.push(FieldError::new(
                at,
                "too_large",
                format!(
                    "The attributes add up to {bytes} bytes of keys and values; the limit is {}. \
                     Map fewer or shorter fields, or raise limits.max_total_bytes.",
                    limits.max_total_bytes
                ),
            ));
        }
    }
}

fn one(error: FieldError) -> MappingErrors {
    MappingErrors {
        errors: vec![error],
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
