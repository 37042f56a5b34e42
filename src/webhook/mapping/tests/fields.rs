//! Where the CRM fields are, and how several failures come back together.

use serde_json::json;

use super::*;

#[test]
fn a_missing_fields_object_is_one_fields_missing_error() {
    let table = table("[keys]\nAccountId = \"crmAccountId\"");
    let error = only_error(&table, &json!({"conversationId": "c-1", "data": {}}));
    assert_eq!(
        (error.pointer.as_str(), error.code),
        ("/fields", "fields_missing")
    );
    assert!(
        error.message.contains("mapping.fields"),
        "{}",
        error.message
    );

    let nested = table_with("fields = \"/payload/record\"", Limits::default());
    assert_eq!(
        only_error(&nested, &json!({"payload": "not an object"})).code,
        "fields_missing"
    );
}

#[test]
fn fields_that_are_not_an_object_are_refused() {
    let table = table("[keys]\nAccountId = \"crmAccountId\"");
    for fields in [
        json!(null),
        json!("AccountId=001"),
        json!([{"AccountId": "001"}]),
    ] {
        let error = only_error(&table, &json!({"fields": fields}));
        assert_eq!(
            (error.pointer.as_str(), error.code),
            ("/fields", "fields_not_object")
        );
    }

    let whole_body = table_with("fields = \"\"", Limits::default());
    let error = only_error(&whole_body, &json!([1, 2]));
    assert_eq!(
        (error.pointer.as_str(), error.code),
        ("", "fields_not_object")
    );
    assert!(error.message.contains("an array"), "{}", error.message);
}

#[test]
fn reports_every_failing_field_together_and_writes_nothing() {
    let limits = Limits {
        max_value_chars: 20,
        max_keys: 2,
        ..Limits::default()
    };
    let table = table_with(
        r#"
        fields = "/sobject"
        unmapped = "reject"
        [keys]
        AccountId = "crmAccountId"
        Description = "crmDescription"
        Owner = "crmOwner"
        Tier__c = "crmTier"
        Vip = "crmVip"
        "/Contacts/0" = "crmContact"
        "#,
        limits,
    );
    let body = json!({"sobject": {
        "AccountId": "0015g00000XyZ12AAB",
        "Description": "Renewal due next quarter, wants a call back",
        "Owner": {"Name": "Ann"},
        "Tier__c": "Gold",
        "Vip": true,
        "Contacts": [["nested"]],
        "LastModifiedById": "0055g00000AbCdEAAV",
    }});
    let errors = table.apply(&body).unwrap_err();
    assert_eq!(
        codes(&errors),
        [
            ("/sobject/Contacts/0", "nested_value"),
            ("/sobject/Description", "value_too_long"),
            ("/sobject/Owner", "nested_value"),
            ("/sobject/LastModifiedById", "unmapped_field"),
            ("/sobject", "too_many_keys"),
        ]
    );
    assert_eq!(
        errors.to_string(),
        "the CRM fields could not be mapped: /sobject/Contacts/0 nested_value, \
         /sobject/Description value_too_long, /sobject/Owner nested_value, \
         /sobject/LastModifiedById unmapped_field, /sobject too_many_keys"
    );
}

#[test]
fn errors_serialize_for_a_problem_response() {
    let table = table("[keys]\nOwner = \"crmOwner\"");
    let errors = table.apply(&salesforce()).unwrap_err();
    let json = serde_json::to_value(&errors).unwrap();
    assert_eq!(json["errors"][0]["pointer"], "/fields/Owner");
    assert_eq!(json["errors"][0]["code"], "nested_value");
    assert_eq!(
        errors.errors[0].to_string(),
        format!("/fields/Owner (nested_value): {}", errors.errors[0].message)
    );
}
