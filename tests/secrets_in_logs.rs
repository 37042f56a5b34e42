#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A full client flow with every log level captured: no secret or token may appear.
//!
//! Its own test binary because it installs the process-wide logger; a per-thread one can miss
//! events whose interest another test's thread already cached.

#[path = "api/helpers.rs"]
mod helpers;

use genesys_bridge::genesys::GenesysError;
use genesys_bridge::simulator::Fault;
use secrecy::SecretString;

use helpers::*;

const CONVERSATIONS: &str = "/api/v2/conversations/*";

#[tokio::test(start_paused = true)]
async fn the_secret_and_tokens_never_reach_debug_output_or_logs() {
    let logs = CapturedLogs::default();
    logs.install_globally();
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
