//! Startup validation and the configuration shape.

use super::*;
use crate::webhook::mapping::{KeyRule, Unmapped};

fn problems(toml: &str, limits: Limits) -> Vec<(String, String)> {
    MappingTable::new(config(toml), limits).expect_err("the table should be refused")
}

#[test]
fn reports_every_table_mistake_at_once() {
    let limits = Limits {
        max_key_chars: 12,
        ..Limits::default()
    };
    let found = problems(
        r#"
        fields = "fields"
        [keys]
        AccountId = "crmAccount"
        Account_Id__c = "crmAccount"
        "/Owner/Name" = { key = "  crmOwner", json = false }
        "/Owner~Name" = "crmOwner2 "
        "Owner/Name" = "crmOwnerName"
        Description = "crmDescription"
        Empty = ""
        Tab = "crm\tTab"
        "" = "crmNothing"
        "#,
        limits,
    );
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "mapping.fields",
            "mapping.keys.\"\"",
            "mapping.keys.\"/Owner/Name\".key",
            "mapping.keys.\"/Owner~Name\"",
            "mapping.keys.\"/Owner~Name\"",
            "mapping.keys.Account_Id__c",
            "mapping.keys.Description",
            "mapping.keys.Empty",
            "mapping.keys.Tab",
        ],
        "{found:#?}"
    );
    let message = |path: &str| {
        found
            .iter()
            .find(|(at, _)| at == path)
            .map(|(_, message)| message.as_str())
            .unwrap_or_default()
    };
    assert!(message("mapping.fields").contains("must start with '/'"));
    assert!(message("mapping.keys.\"/Owner~Name\"").contains("~0 for a literal"));
    assert!(found.contains(&(
        "mapping.keys.\"/Owner~Name\"".to_owned(),
        "the Genesys key \"crmOwner2 \" starts or ends with whitespace".to_owned()
    )));
    assert!(message("mapping.keys.\"/Owner/Name\".key").contains("whitespace"));
    assert!(message("mapping.keys.Description").contains("14 characters long; the limit is 12"));
    assert!(message("mapping.keys.Empty").contains("is empty"));
    assert!(message("mapping.keys.Tab").contains("control character"));
}

#[test]
fn names_both_fields_when_two_write_the_same_key() {
    let found = problems(
        "[keys]\nAccountId = \"crmAccount\"\nAccount_Id__c = { key = \"crmAccount\" }",
        Limits::default(),
    );
    assert_eq!(
        found,
        [(
            "mapping.keys.Account_Id__c.key".to_owned(),
            "the Genesys key \"crmAccount\" is already written by the CRM field \"AccountId\"; \
             map each field to its own key"
                .to_owned()
        )]
    );
}

#[test]
fn reads_the_documented_configuration_with_defaults() {
    let table = table(
        r#"
        [keys]
        AccountId = "crmAccountId"
        "/Owner/Name" = "crmOwner"
        Notes = { key = "crmNotes", json = true }
        "#,
    );
    assert_eq!(table.fields_pointer(), "/fields");
    assert_eq!(table.unmapped(), Unmapped::Drop);
    assert_eq!(table.limits(), Limits::default());
    assert_eq!(
        table.rules().collect::<Vec<_>>(),
        [
            ("/Owner/Name", "crmOwner", false),
            ("AccountId", "crmAccountId", false),
            ("Notes", "crmNotes", true),
        ]
    );
}

#[test]
fn refuses_unknown_settings_and_malformed_rules() {
    let build = |toml: &str| {
        ::config::Config::builder()
            .add_source(::config::File::from_str(toml, ::config::FileFormat::Toml))
            .build()
            .and_then(::config::Config::try_deserialize::<MappingConfig>)
    };
    let typo = build("unmaped = \"pass\"").unwrap_err().to_string();
    assert!(typo.contains("unmaped"), "{typo}");

    let bad_rule = build("[keys]\nNotes = { json = true }")
        .unwrap_err()
        .to_string();
    assert!(
        bad_rule.contains("a Genesys attribute key, or a table"),
        "{bad_rule}"
    );

    assert!(build("unmapped = \"ignore\"").is_err());
}

#[test]
fn a_key_rule_exposes_its_key_and_json_flag() {
    let rule = KeyRule::Rule {
        key: "crmNotes".to_owned(),
        json: true,
    };
    assert_eq!((rule.key(), rule.json()), ("crmNotes", true));
    let plain = KeyRule::Key("crmTier".to_owned());
    assert_eq!((plain.key(), plain.json()), ("crmTier", false));
}

#[test]
fn limits_default_to_the_documented_budget() {
    assert_eq!(
        Limits::default(),
        Limits {
            max_key_chars: 256,
            max_value_chars: 2000,
            max_total_bytes: 32768,
            max_keys: 100,
        }
    );
}
