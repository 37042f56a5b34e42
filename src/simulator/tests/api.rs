//! The conversation endpoints: GET shape and the attribute PATCHes.

use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn conversation_omits_end_time_while_live_and_shows_it_after_the_end() {
    let (sim, server) = serve(SimConfig::default());
    let customer_id = customer(&sim);
    let token = token(&server).await;
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}");

    let live: Value = server.get(&path).authorization_bearer(&token).await.json();
    assert_eq!(live["id"], CONVERSATION_ID);
    assert_eq!(live["selfUri"], path);
    assert!(live["startTime"].as_str().unwrap().ends_with('Z'));
    assert!(live.get("endTime").is_none(), "{live}");
    let participant = live["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "customer")
        .unwrap();
    assert_eq!(participant["id"], customer_id.as_str());
    assert!(participant.get("endTime").is_none());
    assert!(participant["connectedTime"].is_string());
    assert_eq!(participant["attributes"], json!({}));
    assert_eq!(participant["calls"][0]["state"], "connected");

    server
        .post(&format!("/sim/conversations/{CONVERSATION_ID}/end"))
        .await
        .assert_status_ok();
    let ended: Value = server.get(&path).authorization_bearer(&token).await.json();
    assert!(ended["endTime"].is_string());
    for participant in ended["participants"].as_array().unwrap() {
        assert!(participant["endTime"].is_string());
        assert_eq!(participant["calls"][0]["state"], "disconnected");
    }
}

#[tokio::test]
async fn unknown_conversation_is_not_found() {
    let (_sim, server) = serve(SimConfig::default());
    let token = token(&server).await;
    let response = server
        .get("/api/v2/conversations/nope")
        .authorization_bearer(&token)
        .await;
    assert_genesys_error(&response, 404, "not.found");
}

#[tokio::test]
async fn patches_merge_and_later_values_win() {
    let (sim, server) = serve(SimConfig::default());
    let customer_id = customer(&sim);
    let token = token(&server).await;
    let path = attributes_path(&customer_id);

    let first = server
        .patch(&path)
        .authorization_bearer(&token)
        .json(&json!({"attributes": {"crmAccountId": "ACC-1", "priority": "low"}}))
        .await;
    first.assert_status(axum::http::StatusCode::ACCEPTED);
    assert!(first.as_bytes().is_empty(), "202 has no body");
    server
        .patch(&path)
        .authorization_bearer(&token)
        .json(&json!({"attributes": {"priority": "high", "Priority": "case-sensitive"}}))
        .await
        .assert_status(axum::http::StatusCode::ACCEPTED);

    let expected =
        json!({"crmAccountId": "ACC-1", "priority": "high", "Priority": "case-sensitive"});
    let stored = sim
        .participant_attributes(CONVERSATION_ID, &customer_id)
        .unwrap();
    assert_eq!(serde_json::to_value(stored).unwrap(), expected);
    // What a flow's Get Participant Data would see.
    let conversation: Value = server
        .get(&format!("/api/v2/conversations/{CONVERSATION_ID}"))
        .authorization_bearer(&token)
        .await
        .json();
    let customer = conversation["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == customer_id.as_str())
        .unwrap();
    assert_eq!(customer["attributes"], expected);
}

#[tokio::test]
async fn non_string_values_are_refused_naming_the_key() {
    let (sim, server) = serve(SimConfig::default());
    let customer_id = customer(&sim);
    let token = token(&server).await;
    let response = server
        .patch(&attributes_path(&customer_id))
        .authorization_bearer(&token)
        .json(&json!({"attributes": {"name": "Ada", "score": 42}}))
        .await;
    let body = assert_genesys_error(&response, 400, "bad.request");
    assert!(
        body["message"].as_str().unwrap().contains("score"),
        "{body}"
    );
    assert_eq!(
        sim.participant_attributes(CONVERSATION_ID, &customer_id)
            .unwrap()
            .len(),
        0,
        "a refused patch writes nothing"
    );

    for bad in ["{not json", r#"{"data": {"a": "b"}}"#] {
        let response = server
            .patch(&attributes_path(&customer_id))
            .authorization_bearer(&token)
            .content_type("application/json")
            .text(bad)
            .await;
        assert_genesys_error(&response, 400, "bad.request");
    }
}

#[tokio::test]
async fn unknown_participant_or_conversation_is_not_found() {
    let (sim, server) = serve(SimConfig::default());
    customer(&sim);
    let token = token(&server).await;
    let body = json!({"attributes": {"a": "b"}});
    for path in [
        attributes_path("nobody"),
        "/api/v2/conversations/nope/participants/p/attributes".to_owned(),
    ] {
        let response = server
            .patch(&path)
            .authorization_bearer(&token)
            .json(&body)
            .await;
        assert_genesys_error(&response, 404, "not.found");
    }
}

#[tokio::test]
async fn bodies_over_the_platform_limit_are_too_large() {
    let (sim, server) = serve(SimConfig::default());
    let customer_id = customer(&sim);
    let token = token(&server).await;
    let body_of = |len: usize| {
        let frame = r#"{"attributes": {"big": ""}}"#.len();
        format!(
            r#"{{"attributes": {{"big": "{}"}}}}"#,
            "x".repeat(len - frame)
        )
    };
    assert_eq!(body_of(512_001).len(), 512_001);

    for len in [512_001, 3_000_000] {
        let response = server
            .patch(&attributes_path(&customer_id))
            .authorization_bearer(&token)
            .content_type("application/json")
            .text(body_of(len))
            .await;
        assert_genesys_error(&response, 413, "request.entity.too.large");
    }
    let at_limit = server
        .patch(&attributes_path(&customer_id))
        .authorization_bearer(&token)
        .content_type("application/json")
        .text(body_of(512_000))
        .await;
    at_limit.assert_status(axum::http::StatusCode::ACCEPTED);
}

#[tokio::test]
async fn ended_participants_still_accept_writes() {
    let (sim, server) = serve(SimConfig::default());
    let customer_id = customer(&sim);
    sim.end_participant(CONVERSATION_ID, &customer_id).unwrap();
    let token = token(&server).await;
    server
        .patch(&attributes_path(&customer_id))
        .authorization_bearer(&token)
        .json(&json!({"attributes": {"late": "yes"}}))
        .await
        .assert_status(axum::http::StatusCode::ACCEPTED);
    assert_eq!(
        sim.participant_attributes(CONVERSATION_ID, &customer_id)
            .unwrap()["late"],
        "yes"
    );
}

#[tokio::test]
async fn secure_attributes_are_stored_per_conversation() {
    let (sim, server) = serve(SimConfig::default());
    customer(&sim);
    let token = token(&server).await;
    let path = format!("/api/v2/conversations/{CONVERSATION_ID}/secureattributes");
    server
        .patch(&path)
        .authorization_bearer(&token)
        .json(&json!({"attributes": {"ssnLast4": "1234"}, "version": 0}))
        .await
        .assert_status(axum::http::StatusCode::ACCEPTED);
    assert_eq!(
        sim.secure_attributes(CONVERSATION_ID).unwrap()["ssnLast4"],
        "1234"
    );

    let control: Value = server
        .get(&format!(
            "/sim/conversations/{CONVERSATION_ID}/secureattributes"
        ))
        .await
        .json();
    assert_eq!(
        control,
        json!({"attributes": {"ssnLast4": "1234"}, "version": 0})
    );

    let missing = server
        .patch("/api/v2/conversations/nope/secureattributes")
        .authorization_bearer(&token)
        .json(&json!({"attributes": {}, "version": 0}))
        .await;
    assert_genesys_error(&missing, 404, "not.found");
    let numeric = server
        .patch(&path)
        .authorization_bearer(&token)
        .json(&json!({"attributes": {"pin": 1234}, "version": 1}))
        .await;
    assert_genesys_error(&numeric, 400, "bad.request");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_genesys_shape() {
    let (sim, server) = serve(SimConfig::default());
    customer(&sim);
    let token = token(&server).await;
    let unknown = server
        .post(&format!(
            "/api/v2/conversations/{CONVERSATION_ID}/participants/p/data"
        ))
        .authorization_bearer(&token)
        .await;
    assert_genesys_error(&unknown, 404, "not.found");
    let wrong_method = server
        .delete(&format!("/api/v2/conversations/{CONVERSATION_ID}"))
        .authorization_bearer(&token)
        .await;
    let body = assert_genesys_error(&wrong_method, 405, "method.not.allowed");
    assert!(body["message"].as_str().unwrap().contains("DELETE"));
}
