//! Full flows with every log level captured: no secret, token or signature may appear.
//!
//! Its own test binary because it installs the process-wide logger; a per-thread one can miss
//! events whose interest another test's thread already cached.

// Clippy's `allow-unwrap-in-tests` and `allow-expect-in-tests` (clippy.toml) cover `#[test]` fns
// and items under `#[cfg(test)]`, not the helpers of an integration test
// (rust-lang/rust-clippy#11119); this marks the whole crate as test code for clippy. Cargo builds
// a test target with the test harness, so with cfg(test) set: it changes nothing else.
#![cfg(test)]

#[path = "api/app.rs"]
mod app;
#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/store.rs"]
mod store;

use genesys_bridge::genesys::GenesysError;
use genesys_bridge::simulator::Fault;
use secrecy::SecretString;

use helpers::*;

const CONVERSATIONS: &str = "/api/v2/conversations/*";
/// The store its apps run on.
const BACKEND: store::Backend = store::Backend::Sqlite;

#[tokio::test(start_paused = true)]
async fn the_secret_and_tokens_never_reach_debug_output_or_logs() {
    let logs = CapturedLogs::global();
    let sim = spawn_sim(sim_config()).await;
    let (conversation, customer) = customer_call(&sim);
    let settings = client_settings(&sim);
    assert!(!format!("{settings:?}").contains(SIM_SECRET));
    let client = client(settings.clone());
    assert!(!format!("{client:?}").contains(SIM_SECRET));

    // A full flow with a re-authentication, retries and a failure.
    sim.simulator
        .inject_fault(Fault::new(CONVERSATIONS).with_status(401));
    sim.simulator
        .inject_fault(Fault::new(CONVERSATIONS).with_status(503));
    client.find_target(&conversation).await.unwrap();
    client
        .patch_participant_attributes(&conversation, &customer, &attrs(&[("k", "v")]))
        .await
        .unwrap();
    let mut wrong = settings;
    wrong.client_secret = SecretString::from("not-the-secret-xyz");
    let err = helpers::client(wrong).ensure_token().await.unwrap_err();
    assert!(matches!(err, GenesysError::BadCredentials(_)), "{err}");
    assert!(!format!("{err:?}").contains("not-the-secret-xyz"));

    let text = logs.text();
    assert!(
        text.contains("obtained a Genesys access token"),
        "logs were captured"
    );
    use base64::Engine as _;
    let basic = |secret: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("sim-client:{secret}"))
    };
    let (good, bad) = (basic(SIM_SECRET), basic("not-the-secret-xyz"));
    for forbidden in [
        SIM_SECRET,
        "not-the-secret-xyz",
        &good,
        &bad,
        "Bearer ",
        "access_token",
    ] {
        let line = text.lines().find(|l| l.contains(forbidden));
        assert!(line.is_none(), "logs contain {forbidden:?}: {line:?}");
    }
}

const WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtbG9nLWNhcHR1cmUtdGVzdA==";
const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

#[tokio::test]
async fn a_webhook_flow_logs_no_secret_token_or_signature() {
    let logs = CapturedLogs::global();
    let app = app::spawn_app(&format!(
        "[sources.crm]\nverifier = {{ type = \"standard_webhooks\" }}\nsecret = \"{WEBHOOK_SECRET}\"\n\
         [sources.crm.mapping.keys]\ntier = \"customerTier\"\n"
    ))
    .await;
    let customer = app.call_with_customer("log-call");
    let body = br#"{"conversationId":"log-call","fields":{"tier":"gold"}}"#;
    let (url, headers) = app.sign_for("crm", body, "");
    let signature = headers
        .iter()
        .find(|(n, _)| n == "webhook-signature")
        .map(|(_, v)| v.clone())
        .unwrap();
    let accepted = app.send_signed("crm", body).await;
    assert_eq!(accepted.status(), 202);
    // A forged request, a wrong admin token and a right one: each logs something.
    let mut forged = app.http.post(&url).body(&b"{\"conversationId\":\"x\"}"[..]);
    for (name, value) in &headers {
        forged = forged.header(name, value);
    }
    assert_eq!(forged.send().await.unwrap().status(), 401);
    let wrong = app
        .http
        .get(app.url("/deliveries"))
        .bearer_auth("not-the-admin-token-xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let listed = app
        .http
        .get(app.url("/deliveries"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    app.landed_attributes("log-call", &customer).await;

    let text = logs.text();
    assert!(text.contains("webhook accepted"), "the flow was logged");
    let v1 = signature.trim_start_matches("v1,");
    for forbidden in [
        WEBHOOK_SECRET,
        &WEBHOOK_SECRET[6..],
        v1,
        ADMIN_TOKEN,
        "not-the-admin-token-xyz",
        "sim-secret",
        "Bearer ",
    ] {
        let line = text.lines().find(|l| l.contains(forbidden));
        assert!(line.is_none(), "logs contain {forbidden:?}: {line:?}");
    }
    app.stop().await;
}
