use serde_json::json;

use super::*;
use crate::webhook::mapping::Unmapped;

#[test]
fn drops_unmapped_fields_by_default_and_says_which() {
    let table = table("[keys]\nAccountId = \"crmAccountId\"\n\"/Owner/Name\" = \"crmOwner\"");
    assert_eq!(table.unmapped(), Unmapped::Drop);
    let mapped = table.apply(&salesforce()).unwrap();
    assert_eq!(
        mapped.attributes,
        attrs(&[("crmAccountId", "0015g00000XyZ12AAB"), ("crmOwner", "Ann")])
    );
    assert_eq!(
        mapped.dropped,
        strings(&[
            "/fields/Balance",
            "/fields/Notes",
            "/fields/OpenCases",
            "/fields/Tier__c",
            "/fields/Vip",
        ])
    );
}

#[test]
fn passes_unmapped_fields_under_their_crm_key() {
    let table = table("unmapped = \"pass\"\n[keys]\nAccountId = \"crmAccountId\"");
    let body = json!({"fields": {"AccountId": "001A", "Tier__c": "Gold", "OpenCases": 3,
        "Vip": false, "Notes": null}});
    let mapped = table.apply(&body).unwrap();
    assert_eq!(
        mapped.attributes,
        attrs(&[
            ("OpenCases", "3"),
            ("Tier__c", "Gold"),
            ("Vip", "false"),
            ("crmAccountId", "001A"),
        ])
    );
    assert_eq!(mapped.skipped_null, ["/fields/Notes"]);
    assert!(mapped.dropped.is_empty());
}

#[test]
fn an_explicit_rule_wins_over_a_pass_through_of_the_same_key() {
    let table = table("unmapped = \"pass\"\n[keys]\nAccountId = \"accountId\"");
    let body = json!({"fields": {"AccountId": "001A", "accountId": "forged"}});
    let mapped = table.apply(&body).unwrap();
    assert_eq!(mapped.attributes, attrs(&[("accountId", "001A")]));
    assert_eq!(mapped.dropped, ["/fields/accountId"]);

    // The key stays the rule's even in a body that lacks the rule's own field.
    let without_rule_field = json!({"fields": {"accountId": "forged"}});
    let mapped = table.apply(&without_rule_field).unwrap();
    assert!(mapped.attributes.is_empty());
    assert_eq!(mapped.dropped, ["/fields/accountId"]);
}

#[test]
fn refuses_pass_through_names_that_are_not_valid_keys() {
    let limits = Limits {
        max_key_chars: 10,
        ..Limits::default()
    };
    let table = table_with("unmapped = \"pass\"", limits);
    let body = json!({"fields": {
        " Tier": "Gold",
        "": "x",
        "Line\nBreak": "y",
        "Description__c": "long name",
        "ok": "fine",
    }});
    let errors = table.apply(&body).unwrap_err();
    assert_eq!(
        codes(&errors),
        [
            ("/fields/", "invalid_key"),
            ("/fields/ Tier", "invalid_key"),
            ("/fields/Description__c", "key_too_long"),
            ("/fields/Line\nBreak", "invalid_key"),
        ]
    );
    assert!(
        errors.errors[2]
            .message
            .contains("14 characters long; the limit is 10"),
        "{}",
        errors.errors[2].message
    );
}

#[test]
fn pass_through_refuses_nested_values_and_points_to_a_json_rule() {
    let table = table("unmapped = \"pass\"");
    let error = only_error(&table, &salesforce());
    assert_eq!(
        (error.pointer.as_str(), error.code),
        ("/fields/Owner", "nested_value")
    );
    assert!(error.message.contains("mapping.keys"), "{}", error.message);
}

#[test]
fn rejects_every_unmapped_field_with_its_own_error() {
    let table = table(
        "unmapped = \"reject\"\n[keys]\nAccountId = \"crmAccountId\"\n\"/Owner/Name\" = \"crmOwner\"",
    );
    let mut body = salesforce();
    body["fields"]["Billing/Shipping"] = json!("Bern");
    let errors = table.apply(&body).unwrap_err();
    assert_eq!(
        codes(&errors),
        [
            ("/fields/Balance", "unmapped_field"),
            ("/fields/Billing~1Shipping", "unmapped_field"),
            ("/fields/Notes", "unmapped_field"),
            ("/fields/OpenCases", "unmapped_field"),
            ("/fields/Tier__c", "unmapped_field"),
            ("/fields/Vip", "unmapped_field"),
        ]
    );
}

#[test]
fn reject_accepts_a_body_whose_fields_all_have_rules() {
    let table =
        table("unmapped = \"reject\"\n[keys]\nAccountId = \"crmAccountId\"\nNotes = \"crmNotes\"");
    let body = json!({"fields": {"AccountId": "001A", "Notes": null}});
    let mapped = table.apply(&body).unwrap();
    assert_eq!(mapped.attributes, attrs(&[("crmAccountId", "001A")]));
    assert_eq!(mapped.skipped_null, ["/fields/Notes"]);
}
