//! `POST /v1/calls`: the flow registers the call, with a credential of its own.

use serde_json::json;

use super::*;

#[tokio::test]
async fn a_registration_is_answered_flat_and_the_participant_is_found_in_the_background() {
    let app = ivr_app().await;
    let customer = app.call_with_customer("reg-1");
    let (status, body) = register(
        &app,
        json!({"conversationId": "reg-1", "ani": "tel:+1 (317) 555-0101", "dnis": "tel:+18005550100",
               "accountNumber": 4711, "language": "en-US", "participantId": ""}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "registered");
    assert_eq!(body["conversationId"], "reg-1");
    assert_eq!(body["ani"], "+13175550101");
    assert_eq!(body["keys"], "accountNumber");
    assert_eq!(body["ignoredFields"], "language");
    assert_eq!(body["expiresInSeconds"], 4 * 3600);
    assert_eq!(body["participantLookup"], "started");
    // Flat: what a Data Action's output contract can hold.
    assert!(
        body.as_object()
            .unwrap()
            .values()
            .all(|v| !v.is_object() && !v.is_array())
    );

    // The lookup keeps the participant: registering again says it is known.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, again) = register(&app, json!({"conversationId": "reg-1"})).await;
        if again["participantLookup"] == "known" {
            assert_eq!(again["participantId"], customer.as_str());
            // The number and keys of the first registration stay.
            assert_eq!(again["ani"], "+13175550101");
            assert_eq!(again["keys"], "accountNumber");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{again}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(requests(&app, "GET", "/conversations/reg-1"), 1);
    app.stop().await;
}

#[tokio::test]
async fn registering_again_updates_the_number_and_merges_the_keys() {
    let app = ivr_app().await;
    let (_, first) = register(
        &app,
        json!({"conversationId": "reg-2", "participantId": "p-2", "ani": "3175550102", "accountNumber": "A-1"}),
    )
    .await;
    assert_eq!(first["participantLookup"], "given");
    assert_eq!(
        first["ani"], "+13175550102",
        "a national number takes the default country"
    );
    let (status, second) = register(
        &app,
        json!({"conversationId": "reg-2", "ani": "+44 20 7946 0018", "accountNumber": "A-2"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(second["ani"], "+442079460018");
    assert_eq!(second["participantId"], "p-2");
    assert_eq!(second["participantLookup"], "known");
    // A registration for a conversation Genesys does not know is accepted (Genesys can lag).
    assert_eq!(requests(&app, "GET", "/conversations/reg-2"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_broken_registration_is_a_400_naming_every_bad_field() {
    let app = ivr_app().await;
    let (status, body) = register(
        &app,
        json!({"conversationId": "a/b", "ani": "anonymous", "accountNumber": {"x": 1}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["type"],
        "urn:genesys-bridge:problem:invalid-registration"
    );
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, vec!["/conversationId", "/ani", "/accountNumber"]);
    let (status, body) = register(&app, json!({"ani": "+13175550100"})).await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("required"),
        "{body}"
    );
    let (status, body) = register(&app, json!(["not", "an", "object"])).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("urn:genesys-bridge:problem:malformed-json"))
    );
    app.stop().await;
}

#[tokio::test]
async fn only_the_ivr_credential_opens_the_ivr_endpoints() {
    let app = ivr_app().await;
    let body = json!({"conversationId": "reg-auth"}).to_string();
    for authorization in [
        None,
        Some("Bearer test-admin-token-0123456789"),
        Some("Bearer test-ivr-token-012345678"),
        Some("Basic dGVzdDp0ZXN0"),
    ] {
        let mut request = app.http.post(app.url("/v1/calls")).body(body.clone());
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 401, "{authorization:?}");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["type"], "urn:genesys-bridge:problem:unauthorized");
        let pulled = app
            .http
            .get(app.url("/v1/calls/reg-auth/data"))
            .header("authorization", authorization.unwrap_or(""))
            .send()
            .await
            .unwrap();
        assert_eq!(pulled.status().as_u16(), 401);
    }
    app.stop().await;
}

#[tokio::test]
async fn basic_auth_is_the_other_credential_genesys_can_send() {
    let app = crate::app::spawn_app_with(
        PROFILE,
        &[
            ("BRIDGE__IVR__TOKEN", ""),
            ("BRIDGE__IVR__BASIC_USER", "genesys"),
            ("BRIDGE__IVR__BASIC_PASSWORD", "a-long-basic-password"),
        ],
        None,
    )
    .await;
    use base64::Engine;
    let good = base64::engine::general_purpose::STANDARD.encode("genesys:a-long-basic-password");
    let bad = base64::engine::general_purpose::STANDARD.encode("genesys:a-long-basic-passwore");
    for (credential, status) in [(good, 200), (bad, 401)] {
        let answer = app
            .http
            .post(app.url("/v1/calls"))
            .header("authorization", format!("Basic {credential}"))
            .body(json!({"conversationId": "reg-basic"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), status);
    }
    app.stop().await;
}
