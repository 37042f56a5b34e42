use serde_json::json;

use super::*;

const SALESFORCE: &str = r#"
[keys]
AccountId = "crmAccountId"
Tier__c = "crmTier"
OpenCases = "crmOpenCases"
Vip = "crmVip"
Balance = "crmBalance"
Notes = "crmNotes"
"/Owner/Name" = "crmOwner"
"#;

#[test]
fn sends_strings_numbers_as_written_and_booleans() {
    let mapped = table(SALESFORCE).apply(&salesforce()).unwrap();
    assert_eq!(
        mapped.attributes,
        attrs(&[
            ("crmAccountId", "0015g00000XyZ12AAB"),
            ("crmBalance", "1.50"),
            ("crmOpenCases", "3"),
            ("crmOwner", "Ann"),
            ("crmTier", "Gold"),
            ("crmVip", "true"),
        ])
    );
}

#[test]
fn keeps_number_digits_exactly_as_the_crm_wrote_them() {
    let body: Value = serde_json::from_str(
        r#"{"fields": {"Id": 12345678901234567890, "Rate": 0.10, "Neg": -0, "Off": false,
            "Big": 1.0E400, "Small": 25e-1}}"#,
    )
    .unwrap();
    let table = table(
        "[keys]\nId = \"id\"\nRate = \"rate\"\nNeg = \"neg\"\nOff = \"off\"\nBig = \"big\"\n\
         Small = \"small\"",
    );
    assert_eq!(
        table.apply(&body).unwrap().attributes,
        attrs(&[
            // serde_json spells the exponent marker `e` with an explicit sign; digits are kept.
            ("big", "1.0e+400"),
            ("id", "12345678901234567890"),
            ("neg", "-0"),
            ("off", "false"),
            ("rate", "0.10"),
            ("small", "25e-1"),
        ])
    );
}

#[test]
fn skips_null_fields_instead_of_sending_them() {
    let mapped = table(SALESFORCE).apply(&salesforce()).unwrap();
    assert!(!mapped.attributes.contains_key("crmNotes"));
    assert_eq!(mapped.skipped_null, ["/fields/Notes"]);
}

#[test]
fn refuses_a_nested_object_unless_the_rule_asks_for_json() {
    let refused = table("[keys]\nOwner = \"crmOwner\"");
    let error = only_error(&refused, &salesforce());
    assert_eq!(
        (error.pointer.as_str(), error.code),
        ("/fields/Owner", "nested_value")
    );
    assert!(error.message.contains("json = true"), "{}", error.message);

    let encoded = table("[keys]\nOwner = { key = \"crmOwner\", json = true }");
    let body = json!({"fields": {"Owner": {"Name": "Ann", "Ids": [1, 2], "Active": true}}});
    assert_eq!(
        encoded.apply(&body).unwrap().attributes,
        attrs(&[("crmOwner", r#"{"Active":true,"Ids":[1,2],"Name":"Ann"}"#)])
    );
}

#[test]
fn json_rule_still_sends_scalars_as_plain_text() {
    let table = table("[keys]\nTier__c = { key = \"crmTier\", json = true }");
    assert_eq!(
        table.apply(&salesforce()).unwrap().attributes,
        attrs(&[("crmTier", "Gold")])
    );
}

#[test]
fn reads_pointer_rules_including_escaped_names_and_array_items() {
    let table = table(
        r#"
        [keys]
        "/Owner/Name" = "crmOwner"
        "/Billing~1Shipping/City" = "crmCity"
        "/Contacts/1/Email" = "crmSecondEmail"
        "/Owner/Missing" = "crmNothing"
        "#,
    );
    let body = json!({"fields": {
        "Owner": {"Name": "Ann"},
        "Billing/Shipping": {"City": "Zürich"},
        "Contacts": [{"Email": "a@example.com"}, {"Email": "b@example.com"}],
    }});
    let mapped = table.apply(&body).unwrap();
    assert_eq!(
        mapped.attributes,
        attrs(&[
            ("crmCity", "Zürich"),
            ("crmOwner", "Ann"),
            ("crmSecondEmail", "b@example.com"),
        ])
    );
    assert!(
        mapped.dropped.is_empty(),
        "pointer rules claim their top-level field"
    );
}

#[test]
fn reports_errors_at_the_escaped_pointer_into_the_body() {
    let table = table("[keys]\n\"/Billing~1Shipping\" = \"crmShipping\"");
    let body = json!({"fields": {"Billing/Shipping": {"City": "Bern"}}});
    assert_eq!(
        only_error(&table, &body).pointer,
        "/fields/Billing~1Shipping"
    );
}

#[test]
fn a_field_missing_from_the_body_writes_nothing() {
    let table = table("[keys]\nAccountId = \"crmAccountId\"\nRegion__c = \"crmRegion\"");
    let mapped = table.apply(&salesforce()).unwrap();
    assert_eq!(
        mapped.attributes,
        attrs(&[("crmAccountId", "0015g00000XyZ12AAB")])
    );
    assert!(mapped.skipped_null.is_empty());
}

#[test]
fn maps_the_whole_body_when_fields_is_empty() {
    let table = table(
        r#"
        fields = ""
        [keys]
        "/customer/id" = "crmCustomerId"
        priority = "crmPriority"
        "#,
    );
    let body = json!({"conversationId": "c-1", "customer": {"id": 42}, "priority": "high"});
    let mapped = table.apply(&body).unwrap();
    assert_eq!(
        mapped.attributes,
        attrs(&[("crmCustomerId", "42"), ("crmPriority", "high")])
    );
    assert_eq!(mapped.dropped, ["/conversationId"]);
}

#[test]
fn counts_emoji_and_accents_as_characters_not_bytes() {
    let limits = Limits {
        max_value_chars: 5,
        ..Limits::default()
    };
    let table = table_with("[keys]\nName = \"crmName\"", limits);

    // Five characters (the skin-tone modifier is one of them), twelve bytes: fits.
    let fits = json!({"fields": {"Name": "Zoë👩🏽"}});
    assert_eq!(
        table.apply(&fits).unwrap().attributes,
        attrs(&[("crmName", "Zoë👩🏽")])
    );

    let too_long = json!({"fields": {"Name": "Zoë 👩🏽"}});
    let error = only_error(&table, &too_long);
    assert_eq!(error.code, "value_too_long");
    assert!(error.message.contains("6 characters"), "{}", error.message);
}
