use serde_json::json;

use super::*;

#[test]
fn refuses_a_value_over_the_character_limit_and_names_both_numbers() {
    let table = table("[keys]\nDescription = \"crmDescription\"");
    let body = json!({"fields": {"Description": "é".repeat(2001)}});
    let error = only_error(&table, &body);
    assert_eq!(
        (error.pointer.as_str(), error.code),
        ("/fields/Description", "value_too_long")
    );
    assert!(
        error
            .message
            .contains("2001 characters long; the limit is 2000"),
        "{}",
        error.message
    );
    assert!(
        !error.message.contains('é'),
        "the value itself is never echoed"
    );

    let at_limit = json!({"fields": {"Description": "é".repeat(2000)}});
    assert!(table.apply(&at_limit).is_ok());
}

#[test]
fn measures_json_encoded_values_after_encoding() {
    let limits = Limits {
        max_value_chars: 10,
        ..Limits::default()
    };
    let table = table_with("[keys]\nTags = { key = \"crmTags\", json = true }", limits);
    // ["a","b"] is 9 characters; ["a","bc"] is 10; ["a","bcd"] is 11.
    assert!(
        table
            .apply(&json!({"fields": {"Tags": ["a", "bc"]}}))
            .is_ok()
    );
    assert_eq!(
        only_error(&table, &json!({"fields": {"Tags": ["a", "bcd"]}})).code,
        "value_too_long"
    );
}

#[test]
fn refuses_a_pass_through_key_over_the_key_limit() {
    let table = table("unmapped = \"pass\"");
    let long = "K".repeat(257);
    let body = json!({"fields": {long.clone(): "v", "K": "v"}});
    let error = only_error(&table, &body);
    assert_eq!(
        (error.pointer, error.code),
        (format!("/fields/{long}"), "key_too_long")
    );
    assert!(
        error
            .message
            .contains("257 characters long; the limit is 256")
    );
}

#[test]
fn refuses_more_attributes_than_max_keys_at_the_fields_pointer() {
    let limits = Limits {
        max_keys: 3,
        ..Limits::default()
    };
    let table = table_with("unmapped = \"pass\"", limits);
    let three = json!({"fields": {"a": "1", "b": "2", "c": "3", "d": null}});
    assert_eq!(table.apply(&three).unwrap().attributes.len(), 3);

    let four = json!({"fields": {"a": "1", "b": "2", "c": "3", "d": "4"}});
    let error = only_error(&table, &four);
    assert_eq!(
        (error.pointer.as_str(), error.code),
        ("/fields", "too_many_keys")
    );
    assert!(error.message.contains("write 4 attributes; the limit is 3"));
}

#[test]
fn refuses_a_map_over_the_total_byte_budget_counting_keys_and_utf8_bytes() {
    let limits = Limits {
        max_total_bytes: 20,
        ..Limits::default()
    };
    let table = table_with("[keys]\nA = \"k1\"\nB = \"k2\"", limits);
    // k1 + "€€" = 2 + 6 bytes; k2 + "1234567890" = 2 + 10: 20 bytes, exactly the budget.
    let fits = json!({"fields": {"A": "€€", "B": "1234567890"}});
    assert!(table.apply(&fits).is_ok());

    let over = json!({"fields": {"A": "€€€", "B": "1234567890"}});
    let error = only_error(&table, &over);
    assert_eq!(
        (error.pointer.as_str(), error.code),
        ("/fields", "too_large")
    );
    assert!(error.message.contains("23 bytes"), "{}", error.message);
}

#[test]
fn whole_body_budgets_point_at_the_body_itself() {
    let limits = Limits {
        max_keys: 1,
        ..Limits::default()
    };
    let table = table_with("fields = \"\"\nunmapped = \"pass\"", limits);
    let error = only_error(&table, &json!({"a": "1", "b": "2"}));
    assert_eq!((error.pointer.as_str(), error.code), ("", "too_many_keys"));
}
