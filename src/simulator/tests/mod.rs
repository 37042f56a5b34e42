//! Router-level tests: the simulator as a client sees it, through `Simulator::router()`.

mod api;
mod auth;
mod control;
mod faults;
mod rate_limit;

use axum_test::{TestResponse, TestServer};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::{NewConversation, SimConfig, Simulator};

const CONVERSATION_ID: &str = "conv-1";

fn serve(config: SimConfig) -> (Simulator, TestServer) {
    let sim = Simulator::new(config);
    let server = TestServer::new(sim.router());
    (sim, server)
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn token(server: &TestServer) -> String {
    let response = server
        .post("/oauth/token")
        .authorization(basic("sim-client", "sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .await;
    response.assert_status_ok();
    response.json::<Value>()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A conversation `conv-1` with an ivr and a customer; returns the customer's participant id.
fn customer(sim: &Simulator) -> String {
    let conversation = sim.create_conversation(NewConversation::with_id(CONVERSATION_ID));
    conversation
        .participants
        .iter()
        .find(|p| p.purpose == "customer")
        .unwrap()
        .id
        .clone()
}

fn attributes_path(participant_id: &str) -> String {
    format!("/api/v2/conversations/{CONVERSATION_ID}/participants/{participant_id}/attributes")
}

fn correlation_id(response: &TestResponse) -> String {
    let value = response.header("inin-correlation-id");
    let id = value.to_str().unwrap().to_owned();
    uuid::Uuid::parse_str(&id).expect("correlation id is a uuid");
    id
}

/// Asserts the Genesys error body and returns it.
fn assert_genesys_error(response: &TestResponse, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status_code().as_u16(),
        status,
        "{}",
        response.text()
    );
    let body: Value = response.json();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["details"], Value::Array(vec![]));
    assert_eq!(body["errors"], Value::Array(vec![]));
    assert_eq!(body["contextId"], correlation_id(response));
    body
}
