//! Behaviour a user of a source would notice: the exact attributes sent and the exact errors.
//!
//! Tables are written in TOML and loaded through the `config` crate, the same path the service
//! uses, so the tests also hold the documented configuration shape to account.

mod budgets;
mod fields;
mod startup;
mod unmapped;
mod values;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{FieldError, Limits, MappingConfig, MappingErrors, MappingTable};

/// A Salesforce-like outbound message, as the CRM sends it.
fn salesforce() -> Value {
    serde_json::from_str(
        r#"{
            "conversationId": "3d8f1c2e-7b1a-4e0b-9a57-1f2e3d4c5b6a",
            "fields": {
                "AccountId": "0015g00000XyZ12AAB",
                "Tier__c": "Gold",
                "OpenCases": 3,
                "Vip": true,
                "Balance": 1.50,
                "Notes": null,
                "Owner": {"Name": "Ann"}
            }
        }"#,
    )
    .expect("valid JSON")
}

fn config(toml: &str) -> MappingConfig {
    ::config::Config::builder()
        .add_source(::config::File::from_str(toml, ::config::FileFormat::Toml))
        .build()
        .and_then(::config::Config::try_deserialize)
        .expect("valid mapping configuration")
}

fn table_with(toml: &str, limits: Limits) -> MappingTable {
    MappingTable::new(config(toml), limits).expect("valid table")
}

fn table(toml: &str) -> MappingTable {
    table_with(toml, Limits::default())
}

/// The attribute map as a user would read it in the PATCH body.
fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// (pointer, code) of every error, in order: what a user scans first.
fn codes(errors: &MappingErrors) -> Vec<(&str, &str)> {
    errors
        .errors
        .iter()
        .map(|error| (error.pointer.as_str(), error.code))
        .collect()
}

fn only_error(table: &MappingTable, body: &Value) -> FieldError {
    let mut errors = table.apply(body).expect_err("mapping should fail").errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.remove(0)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[test]
fn a_body_with_no_fields_is_an_empty_success() {
    let mapped = table("[keys]\nAccountId = \"crmAccountId\"")
        .apply(&json!({"fields": {}}))
        .expect("nothing to write is not an error");
    assert!(mapped.attributes.is_empty());
    assert!(mapped.skipped_null.is_empty() && mapped.dropped.is_empty());
}
