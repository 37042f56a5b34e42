//! A stateful fake of Genesys Cloud: the token endpoint, conversations and participant
//! attributes as `shared/genesys-api.md` describes them, plus a `/sim` control API (and its
//! typed twin on [`Simulator`]) for creating conversations, injecting faults and inspecting
//! what clients sent.
//!
//! All time-based behaviour runs on `tokio::time::Instant`, so tests with paused Tokio time
//! drive token expiry, rate windows and injected latency together with the client under test.

mod actions;
mod control;
mod conversations;
mod edge;
mod errors;
mod faults;
mod gate;
mod genesys;
mod model;
mod payload;
mod rate_limit;
mod recorder;
mod server;
mod state;
mod tokens;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use actions::{
    ActionCredentials, ActionOutcome, ActionRun, CredentialType, Exit, InvalidAction,
    RenderedRequest,
};
pub use conversations::SecureAttributes;
pub use errors::SimError;
pub use faults::{ActiveFault, Fault, FaultId};
pub use model::{
    Call, CallState, Conversation, InboundCall, NewConversation, NewParticipant, Participant,
};
pub use rate_limit::RateLimitSetting;
pub use recorder::RecordedRequest;
pub use server::RunningSimulator;
pub use state::SimStats;

use state::State;

/// How the simulator starts, and what [`Simulator::reset`] returns it to.
#[derive(Clone)]
pub struct SimConfig {
    pub client_id: String,
    /// A dev fake's secret, so a plain `String`; still kept out of `Debug`.
    pub client_secret: String,
    /// The `expires_in` handed out with every token.
    pub token_ttl: Duration,
    /// Requests per window per token; `None` lifts the limit.
    pub rate_limit: Option<u32>,
    pub rate_window: Duration,
    /// Larger request bodies get `413 request.entity.too.large`.
    pub max_body_bytes: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-client".to_owned(),
            client_secret: "sim-secret".to_owned(),
            token_ttl: Duration::from_secs(86_400),
            rate_limit: Some(300),
            rate_window: Duration::from_secs(60),
            max_body_bytes: 512_000,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("token_ttl", &self.token_ttl)
            .field("rate_limit", &self.rate_limit)
            .field("rate_window", &self.rate_window)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// The fake Genesys Cloud. Cheap to clone: clones share state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
}

struct Shared {
    config: SimConfig,
    state: Mutex<State>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let state = Mutex::new(State::new(&config));
        Self {
            shared: Arc::new(Shared { config, state }),
        }
    }

    /// The Genesys paths and the `/sim` control paths, with state attached.
    pub fn router(&self) -> axum::Router {
        genesys::router(self)
            .nest("/sim", control::router())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                edge::edge,
            ))
            .with_state(self.clone())
    }

    pub fn create_conversation(&self, spec: NewConversation) -> Conversation {
        self.state().conversations.create(spec)
    }

    /// An inbound call reaching the IVR: a conversation with an `ivr` and a `customer`
    /// participant, both showing the caller's number.
    pub fn start_call(&self, call: InboundCall) -> Conversation {
        self.create_conversation(call.into_conversation())
    }

    /// Executes an imported Data Action as a flow's step would, against whatever service its
    /// URL names.
    pub async fn execute_action(&self, run: &ActionRun) -> Result<ActionOutcome, InvalidAction> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| InvalidAction(vec![format!("no HTTP client: {e}")]))?;
        actions::execute(&http, run).await
    }

    pub fn conversation(&self, id: &str) -> Option<Conversation> {
        self.state().conversations.get(id).cloned()
    }

    pub fn conversations(&self) -> Vec<Conversation> {
        self.state().conversations.list()
    }

    /// Ends the conversation and everyone still in it.
    pub fn end_conversation(&self, id: &str) -> Result<Conversation, SimError> {
        self.state().conversations.end(id)
    }

    /// The participant leaves; the conversation goes on.
    pub fn end_participant(
        &self,
        conversation_id: &str,
        participant_id: &str,
    ) -> Result<Participant, SimError> {
        self.state()
            .conversations
            .end_participant(conversation_id, participant_id)
    }

    pub fn participant_attributes(
        &self,
        conversation_id: &str,
        participant_id: &str,
    ) -> Option<BTreeMap<String, String>> {
        self.state()
            .conversations
            .participant_attributes(conversation_id, participant_id)
    }

    /// `None` for an unknown conversation; an empty map before the first write.
    pub fn secure_attributes(&self, conversation_id: &str) -> Option<BTreeMap<String, String>> {
        self.secure_state(conversation_id).map(|s| s.attributes)
    }

    /// The secure attributes with the `version` of the last write.
    pub fn secure_state(&self, conversation_id: &str) -> Option<SecureAttributes> {
        self.state().conversations.secure(conversation_id)
    }

    /// Genesys-path requests in arrival order (the latest 10 000), credentials redacted.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().log.list()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Queues a fault. A status outside 100-999 is answered as 500 and an invalid
    /// `retry_after` is dropped; the control API refuses both instead.
    pub fn inject_fault(&self, fault: Fault) -> FaultId {
        self.state().faults.push(fault)
    }

    pub fn faults(&self) -> Vec<ActiveFault> {
        self.state().faults.list()
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Changes the limit; `window: None` keeps the current window. Arrivals already counted
    /// stay counted.
    pub fn set_rate_limit(&self, limit: Option<u32>, window: Option<Duration>) {
        self.state().limiter.set(limit, window);
    }

    pub fn rate_limit(&self) -> RateLimitSetting {
        self.state().limiter.setting()
    }

    pub fn stats(&self) -> SimStats {
        self.state().stats.clone()
    }

    /// Back to the configuration it was created with: no conversations, tokens, requests,
    /// faults or counters.
    pub fn reset(&self) {
        *self.state() = State::new(&self.shared.config);
    }

    pub(crate) fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// The state lock. A panic while holding it cannot leave the maps half-updated in a way
    /// that matters to a fake, so a poisoned lock is used as is rather than panicking again.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
