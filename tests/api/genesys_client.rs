//! The Genesys client against the simulator, on paused Tokio time wherever waiting is involved.

use std::time::Duration;

use genesys_bridge::genesys::{GenesysError, Operation};
use genesys_bridge::simulator::{Fault, SimConfig};
use secrecy::SecretString;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::helpers::*;

const CONVERSATIONS: &str = "/api/v2/conversations/*";

#[tokio::test(start_paused = true)]
async fn a_thousand_callers_on_a_cold_cache_make_one_token_request() {
    let sim = spawn_sim(SimConfig {
        rate_limit: None,
        ..sim_config()
    })
    .await;
    let (conversation, _) = customer_call(&sim);
    let client = client(unlimited(client_settings(&sim)));
    let mut calls = JoinSet::new();
    for _ in 0..1_000 {
        let (client, conversation) = (client.clone(), conversation.clone());
        calls.spawn(async move { client.get_conversation(&conversation).await });
    }
    while let Some(outcome) = calls.join_next().await {
        outcome.expect("task").expect("every call succeeds");
    }
    let stats = sim.simulator.stats();
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.api_requests, 1_000);
    assert_eq!(client.token_status().requests, 1);
}

#[tokio::test(start_paused = true)]
async fn refreshes_the_token_ahead_of_expiry_without_a_401() {
    let sim = spawn_sim(SimConfig {
        token_ttl: Duration::from_secs(600),
        ..sim_config()
    })
    .await;
    let (conversation, _) = customer_call(&sim);
    let client = client(client_settings(&sim));
    // Margin: min(5 min, a quarter of 600 s) = 150 s, so the token is replaced at 450 s.
    client.get_conversation(&conversation).await.unwrap();
    tokio::time::sleep(Duration::from_secs(440)).await;
    client.get_conversation(&conversation).await.unwrap();
    assert_eq!(
        sim.simulator.stats().token_requests,
        1,
        "still fresh at 440 s"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    client.get_conversation(&conversation).await.unwrap();
    assert_eq!(
        sim.simulator.stats().token_requests,
        2,
        "replaced at 460 s, before expiry at 600 s"
    );
    assert!(sim.simulator.requests().iter().all(|r| r.status != 401));
}

#[tokio::test(start_paused = true)]
async fn a_401_costs_exactly_one_reauthentication_and_one_retry() {
    let sim = spawn_sim(sim_config()).await;
    let (conversation, customer) = customer_call(&sim);
    let client = client(client_settings(&sim));
    client.get_conversation(&conversation).await.unwrap();
    // Genesys forgets every token (a revocation, or a HIPAA idle timeout).
    sim.simulator.clear_requests();
    let before = sim.simulator.stats().token_requests;
    sim.simulator.inject_fault(
        Fault::new(CONVERSATIONS)
            .with_status(401)
            .with_code("credentials.expired"),
    );
    client
        .patch_participant_attributes(&conversation, &customer, &attrs(&[("tier", "gold")]))
        .await
        .unwrap();
    assert_eq!(sim.simulator.stats().token_requests, before + 1);
    let statuses: Vec<u16> = sim
        .simulator
        .requests()
        .iter()
        .map(|r| r.status)
        .filter(|s| *s != 200)
        .collect();
    assert_eq!(statuses, vec![401, 202], "one refused attempt, one retry");

    // A 401 that persists after re-authentication is reported, not looped on.
    sim.simulator
        .inject_fault(Fault::new(CONVERSATIONS).with_status(401).times(5));
    let before = sim.simulator.stats();
    let err = client.get_conversation(&conversation).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let after = sim.simulator.stats();
    assert_eq!(after.token_requests, before.token_requests + 1);
    assert_eq!(after.api_requests, before.api_requests + 2);
}

#[tokio::test(start_paused = true)]
async fn waits_exactly_retry_after_on_429() {
    let sim = spawn_sim(sim_config()).await;
    let (conversation, _) = customer_call(&sim);
    let client = client(client_settings(&sim));
    client.ensure_token().await.unwrap();
    sim.simulator.inject_fault(
        Fault::new(CONVERSATIONS)
            .with_status(429)
            .with_retry_after("7"),
    );
    let started = Instant::now();
    client.get_conversation(&conversation).await.unwrap();
    assert_eq!(
        started.elapsed().as_secs(),
        7,
        "never sooner, no later than a blink"
    );
    assert!(started.elapsed() < Duration::from_millis(7_100));
}

#[tokio::test(start_paused = true)]
async fn recovers_from_two_503s() {
    let sim = spawn_sim(sim_config()).await;
    let (conversation, customer) = customer_call(&sim);
    let client = client(client_settings(&sim));
    sim.simulator
        .inject_fault(Fault::new(CONVERSATIONS).with_status(503).times(2));
    client
        .patch_participant_attributes(&conversation, &customer, &attrs(&[("case", "42")]))
        .await
        .unwrap();
    let statuses: Vec<u16> = sim
        .simulator
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![503, 503, 202]);
    assert_eq!(
        sim.simulator
            .participant_attributes(conversation.as_str(), customer.as_str())
            .unwrap()["case"],
        "42"
    );
}

#[tokio::test(start_paused = true)]
async fn does_not_retry_400_403_404_409_413() {
    let sim = spawn_sim(sim_config()).await;
    let (conversation, customer) = customer_call(&sim);
    let client = client(client_settings(&sim));
    client.ensure_token().await.unwrap();
    for status in [400, 403, 404, 409, 413] {
        sim.simulator.clear_requests();
        sim.simulator
            .inject_fault(Fault::new(CONVERSATIONS).with_status(status).times(3));
        let err = client
            .patch_participant_attributes(&conversation, &customer, &attrs(&[("a", "b")]))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert!(!err.is_transient(), "{status}");
        assert!(
            err.correlation_id().is_some(),
            "{status} carries the correlation id"
        );
        assert_eq!(sim.simulator.requests().len(), 1, "{status} was sent once");
        sim.simulator.clear_faults();
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_conversations_and_missing_callers_are_typed() {
    let sim = spawn_sim(sim_config()).await;
    let client = client(client_settings(&sim));
    let unknown = genesys_bridge::genesys::ConversationId::parse("no-such-conversation").unwrap();
    let err = client.find_target(&unknown).await.unwrap_err();
    assert!(
        matches!(err, GenesysError::ConversationNotFound { .. }),
        "{err}"
    );
    assert_eq!(err.code(), Some("not.found"));

    let (conversation, customer) = customer_call(&sim);
    let target = client.find_target(&conversation).await.unwrap();
    assert_eq!(target.participant_id, customer);
    assert_eq!(target.purpose, "customer");

    sim.simulator
        .end_participant(conversation.as_str(), customer.as_str())
        .unwrap();
    let err = client.find_target(&conversation).await.unwrap_err();
    assert!(matches!(err, GenesysError::NoParticipant { .. }), "{err}");

    sim.simulator
        .end_conversation(conversation.as_str())
        .unwrap();
    let err = client.find_target(&conversation).await.unwrap_err();
    assert!(
        matches!(err, GenesysError::ConversationEnded { .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_returns_the_typed_error_with_the_correlation_id() {
    let sim = spawn_sim(sim_config()).await;
    let (conversation, _) = customer_call(&sim);
    let client = client(client_settings(&sim));
    client.ensure_token().await.unwrap();

    sim.simulator
        .inject_fault(Fault::new(CONVERSATIONS).with_status(503).times(100));
    let started = Instant::now();
    let err = client.get_conversation(&conversation).await.unwrap_err();
    assert!(
        started.elapsed() <= Duration::from_secs(10),
        "within max_elapsed"
    );
    assert!(
        matches!(
            err,
            GenesysError::Api {
                operation: Operation::GetConversation,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        (err.status(), err.code()),
        (Some(503), Some("service.unavailable"))
    );
    assert!(err.is_transient());
    let sent = sim
        .simulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert!((1..=4).contains(&sent), "at most max_attempts: {sent}");
    let correlation = err.correlation_id().expect("correlation id").to_owned();
    assert!(err.to_string().contains(&correlation));
    sim.simulator.clear_faults();

    // A Retry-After beyond the call's budget is handed back, not slept through.
    sim.simulator.inject_fault(
        Fault::new(CONVERSATIONS)
            .with_status(429)
            .with_retry_after("3600"),
    );
    let started = Instant::now();
    let err = client.get_conversation(&conversation).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    match &err {
        GenesysError::RetryAt { after, .. } => assert_eq!(*after, Duration::from_secs(3600)),
        other => panic!("expected RetryAt, got {other}"),
    }
    assert!(err.retry_at().is_some() && err.correlation_id().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_thousand_calls_under_the_rate_budget_draw_no_429() {
    let sim = spawn_sim(sim_config()).await; // Genesys' default: 300 per minute per token
    let (conversation, customer) = customer_call(&sim);
    let client = client(client_settings(&sim)); // the client's default budget: the same
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for i in 0..1_000 {
        let (client, conversation, customer) =
            (client.clone(), conversation.clone(), customer.clone());
        calls.spawn(async move {
            let value = i.to_string();
            client
                .patch_participant_attributes(&conversation, &customer, &attrs(&[("n", &value)]))
                .await
        });
    }
    while let Some(outcome) = calls.join_next().await {
        outcome
            .expect("task")
            .expect("every call waits its turn and succeeds");
    }
    let stats = sim.simulator.stats();
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(stats.api_requests, 1_000);
    // 1,000 calls at 300 per minute need three full windows after the first 300.
    assert!(
        started.elapsed() >= Duration::from_secs(180),
        "{:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(241),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn bad_credentials_are_a_configuration_error_and_not_hammered() {
    let sim = spawn_sim(sim_config()).await;
    let mut settings = client_settings(&sim);
    settings.client_secret = SecretString::from("wrong");
    let client = client(settings);
    let err = client.ensure_token().await.unwrap_err();
    assert!(
        matches!(&err, GenesysError::BadCredentials(f) if f.status == 401),
        "{err}"
    );
    assert!(err.to_string().contains("genesys.client_secret"));
    for _ in 0..10 {
        assert!(client.ensure_token().await.is_err());
    }
    assert_eq!(
        sim.simulator.stats().token_requests,
        1,
        "refused credentials are not retried at once"
    );
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert!(client.ensure_token().await.is_err());
    assert_eq!(
        sim.simulator.stats().token_requests,
        2,
        "asked again after the cool-down"
    );
}

#[tokio::test(start_paused = true)]
async fn a_busy_token_endpoint_is_transient_not_a_configuration_error() {
    let sim = spawn_sim(sim_config()).await;
    let (conversation, _) = customer_call(&sim);
    let client = client(client_settings(&sim));
    sim.simulator
        .inject_fault(Fault::new("/oauth/token").with_status(503).times(2));
    client
        .get_conversation(&conversation)
        .await
        .expect("recovers within the retry budget");
    assert_eq!(sim.simulator.stats().token_requests, 3);
}

#[tokio::test(start_paused = true)]
async fn secure_attributes_go_to_their_own_endpoint() {
    let sim = spawn_sim(sim_config()).await;
    let (conversation, _) = customer_call(&sim);
    let client = client(client_settings(&sim));
    client
        .patch_secure_attributes(&conversation, &attrs(&[("ssn", "123")]), 0)
        .await
        .unwrap();
    assert_eq!(
        sim.simulator
            .secure_attributes(conversation.as_str())
            .unwrap()["ssn"],
        "123"
    );
}
