//! A CRM that knows only the caller's number, or an account number the IVR collected.

use serde_json::json;

use super::*;

#[tokio::test]
async fn a_webhook_by_number_for_a_registered_call_costs_one_patch_and_no_get() {
    let app = ivr_app().await;
    let customer = app.call_with_customer("num-1");
    register(
        &app,
        json!({"conversationId": "num-1", "participantId": customer, "ani": "tel:+13175550111"}),
    )
    .await;
    let (status, accepted) = webhook(
        &app,
        "phone",
        json!({"phone": "(317) 555-0111", "fields": fields(&[("accountId", "ACC-1"), ("tier", "gold")])}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["conversation_id"], "num-1");
    assert_eq!(accepted["call"]["by"], "ani");
    assert_eq!(accepted["call"]["value"], "+13175550111");
    let landed = app.landed_attributes("num-1", &customer).await;
    assert_eq!(landed["crmAccountId"], "ACC-1");
    assert_eq!(requests(&app, "GET", "/conversations/num-1"), 0);
    assert_eq!(requests(&app, "PATCH", "/conversations/num-1"), 1);
    let id = accepted["delivery_id"].as_str().unwrap();
    let view = delivery_when(&app, id, |v| v["status"] == "delivered").await;
    assert_eq!(
        view["call"]["resolution"],
        "the registered call with the caller number +13175550111"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_for_a_call_registered_by_conversation_makes_no_get_either() {
    let app = ivr_app().await;
    let customer = app.call_with_customer("num-2");
    register(
        &app,
        json!({"conversationId": "num-2", "participantId": customer}),
    )
    .await;
    let (status, _) = webhook(
        &app,
        "crm",
        json!({"conversationId": "num-2", "fields": {"tier": "gold"}}),
    )
    .await;
    assert_eq!(status, 202);
    app.landed_attributes("num-2", &customer).await;
    assert_eq!(requests(&app, "GET", "/conversations/num-2"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_before_the_call_registers_waits_and_is_delivered_once_it_does() {
    let app = ivr_app().await;
    let customer = app.call_with_customer("num-3");
    let (status, accepted) = webhook(
        &app,
        "phone",
        json!({"phone": "+1 317 555 0113", "fields": {"accountId": "ACC-3"}}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["conversation_id"], Value::Null);
    assert!(
        accepted["call"]["detail"]
            .as_str()
            .unwrap()
            .contains("no live registered call")
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    register(
        &app,
        json!({"conversationId": "num-3", "ani": "+13175550113"}),
    )
    .await;
    // The flow can pull it at once: the job's values were adopted by the registration.
    let (_, pulled) = pull(&app, "num-3", "").await;
    assert_eq!(pulled["crmAccountId"], "ACC-3", "{pulled}");
    let landed = app.landed_attributes("num-3", &customer).await;
    assert_eq!(landed["crmAccountId"], "ACC-3");
    let id = accepted["delivery_id"].as_str().unwrap();
    let view = delivery_when(&app, id, |v| v["status"] == "delivered").await;
    assert_eq!(view["conversation_id"], "num-3");
    app.stop().await;
}

#[tokio::test]
async fn no_call_with_that_number_ends_as_a_dead_letter_saying_so() {
    let app = ivr_app().await;
    let (_, accepted) = webhook(
        &app,
        "phone",
        json!({"phone": "+13175550114", "fields": {"accountId": "ACC-4"}}),
    )
    .await;
    let id = accepted["delivery_id"].as_str().unwrap();
    let view = delivery_when(&app, id, |v| v["status"] == "dead").await;
    let reason = view["dead_reason"].as_str().unwrap();
    assert!(
        reason.contains("no live registered call has the caller number +13175550114"),
        "{reason}"
    );
    assert_eq!(
        view["attempts"], 4,
        "three re-checks after the first attempt"
    );
    app.stop().await;
}

#[tokio::test]
async fn several_calls_with_one_number_go_to_the_latest_unless_the_source_refuses() {
    let app = ivr_app().await;
    let older = app.call_with_customer("num-5a");
    let newer = app.call_with_customer("num-5b");
    for (id, participant) in [("num-5a", &older), ("num-5b", &newer)] {
        register(
            &app,
            json!({"conversationId": id, "participantId": participant, "ani": "+13175550115", "accountNumber": "A-5"}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, accepted) = webhook(
        &app,
        "phone",
        json!({"phone": "+13175550115", "fields": {"tier": "gold"}}),
    )
    .await;
    assert_eq!(accepted["conversation_id"], "num-5b");
    assert!(
        accepted["call"]["detail"]
            .as_str()
            .unwrap()
            .contains("others: num-5a")
    );
    app.landed_attributes("num-5b", &newer).await;

    let (status, refused) = webhook(
        &app,
        "account",
        json!({"account": "A-5", "fields": {"caseId": "42"}}),
    )
    .await;
    assert_eq!(status, 202);
    let id = refused["delivery_id"].as_str().unwrap();
    let view = delivery_when(&app, id, |v| v["status"] == "dead").await;
    let reason = view["dead_reason"].as_str().unwrap();
    assert!(
        reason.contains("num-5a") && reason.contains("num-5b") && reason.contains("refuses"),
        "{reason}"
    );
    assert!(
        app.simulator
            .participant_attributes("num-5a", &older)
            .unwrap_or_default()
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_dry_run_shows_how_the_call_was_found() {
    let app = ivr_app().await;
    register(
        &app,
        json!({"conversationId": "num-6", "participantId": "p-6", "ani": "+13175550116"}),
    )
    .await;
    let body = json!({"phone": "317.555.0116", "fields": {"tier": "gold"}}).to_string();
    let answer = app
        .send_signed_to("phone", body.as_bytes(), "?dry_run=true")
        .await;
    assert_eq!(answer.status().as_u16(), 200);
    let plan: Value = answer.json().await.unwrap();
    assert_eq!(plan["conversation_id"], "num-6");
    assert_eq!(plan["call"]["by"], "ani");
    assert_eq!(plan["call"]["conversation_id"], "num-6");
    // The registered participant: one PATCH, no conversation GET.
    assert_eq!(plan["participant"]["rule"], "registered");
    assert_eq!(plan["participant"]["participant_id"], "p-6");
    let methods: Vec<&str> = plan["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, vec!["PATCH"]);

    let body = json!({"phone": "317.555.0199", "fields": {"tier": "gold"}}).to_string();
    let plan: Value = app
        .send_signed_to("phone", body.as_bytes(), "?dry_run=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plan["conversation_id"], "{conversationId}");
    assert!(
        plan["call"]["detail"]
            .as_str()
            .unwrap()
            .contains("no live registered call")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_number_that_is_not_a_phone_number_is_a_422_naming_the_field() {
    let app = ivr_app().await;
    let (status, problem) = webhook(
        &app,
        "phone",
        json!({"phone": "call me maybe", "fields": {"tier": "x"}}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/phone");
    assert_eq!(problem["errors"][0]["code"], "invalid_phone_number");
    app.stop().await;
}
