//! The one Genesys client of the process: cheap to clone, shared by the intake and the workers.
//! It owns the HTTP connection pool, the token cache and the rate budget, and applies the retry
//! policy to every call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::SecretString;
use tokio::time::Instant;

use super::error::{GenesysError, Operation};
use super::ids::{ConversationId, ParticipantId};
use super::models::{AttributesPatch, Conversation, ErrorBody, SecureAttributesPatch};
use super::participant::{Target, choose_participant};
use super::rate_limit::{BudgetPermit, RateBudget, RateBudgetSettings};
use super::region::Endpoints;
use super::response::{correlation_id, read_failure, transport_error};
use super::retry::{NextStep, RetryPolicy, Retryability, classify_status, parse_retry_after};
use super::token::{TokenCache, TokenStatus};
use crate::telemetry::metrics as m;

/// Everything the client needs, already validated (see `config.rs` for where it comes from).
#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub endpoints: Endpoints,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Purposes tried in order when choosing the participant to write to.
    pub participant_purposes: Vec<String>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Tokens are replaced this long before `expires_in` runs out (at most a quarter of their life).
    pub token_refresh_margin: Duration,
    pub retry: RetryPolicy,
    pub rate_budget: RateBudgetSettings,
}

impl ClientSettings {
    /// Defaults matching `config/default.toml`, for the given endpoints and credentials.
    pub fn new(endpoints: Endpoints, client_id: impl Into<String>, secret: SecretString) -> Self {
        Self {
            endpoints,
            client_id: client_id.into(),
            client_secret: secret,
            participant_purposes: vec!["customer".to_owned()],
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            token_refresh_margin: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            rate_budget: RateBudgetSettings::default(),
        }
    }
}

#[derive(Clone)]
pub struct GenesysClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoints: Endpoints,
    tokens: TokenCache,
    budget: RateBudget,
    /// The latest 429's "not before".
    throttled: tokio::sync::watch::Sender<Option<SystemTime>>,
    retry: RetryPolicy,
    purposes: Vec<String>,
}

impl std::fmt::Debug for GenesysClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysClient")
            .field("api", &self.inner.endpoints.api_base_url())
            .finish_non_exhaustive()
    }
}

/// A failed attempt, and whether the call may try again.
struct AttemptFailure {
    error: GenesysError,
    retry: Retryability,
}

#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct BuildError(String);

impl GenesysClient {
    pub fn new(settings: ClientSettings) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("genesys-bridge/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        let tokens = TokenCache::new(
            http.clone(),
            settings.endpoints.token_url(),
            settings.client_id,
            settings.client_secret,
            settings.token_refresh_margin,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoints: settings.endpoints,
                tokens,
                budget: RateBudget::new(settings.rate_budget),
                throttled: tokio::sync::watch::Sender::new(None),
                retry: settings.retry,
                purposes: settings.participant_purposes,
            }),
        })
    }

    /// `GET /api/v2/conversations/{id}`.
    pub async fn get_conversation(
        &self,
        id: &ConversationId,
    ) -> Result<Conversation, GenesysError> {
        let path = format!("/api/v2/conversations/{id}");
        let answer = self
            .call(Operation::GetConversation, Method::GET, &path, None, None)
            .await
            .map_err(|err| match err {
                GenesysError::Api { failure, .. } if failure.status == 404 => {
                    GenesysError::ConversationNotFound {
                        conversation_id: id.to_string(),
                        failure,
                    }
                }
                other => other,
            })?;
        serde_json::from_slice(&answer.body).map_err(|e| GenesysError::InvalidResponse {
            operation: Operation::GetConversation,
            message: format!("conversation is not the expected JSON: {e}"),
            correlation_id: answer.correlation_id,
        })
    }

    /// Reads the conversation and chooses the participant to write to.
    pub async fn find_target(&self, id: &ConversationId) -> Result<Target, GenesysError> {
        self.find_target_with(id, false).await
    }

    /// As [`find_target`](Self::find_target); `include_ended` also accepts an ended conversation
    /// and participants who left.
    pub async fn find_target_with(
        &self,
        id: &ConversationId,
        include_ended: bool,
    ) -> Result<Target, GenesysError> {
        let conversation = self.get_conversation(id).await?;
        let participant = choose_participant(&conversation, &self.inner.purposes, include_ended)?;
        let participant_id = ParticipantId::parse(participant.id.clone()).map_err(|e| {
            GenesysError::InvalidResponse {
                operation: Operation::GetConversation,
                message: e.to_string(),
                correlation_id: None,
            }
        })?;
        Ok(Target {
            conversation_id: id.clone(),
            participant_id,
            purpose: participant.purpose.clone().unwrap_or_default(),
        })
    }

    /// `PATCH .../participants/{pid}/attributes` with only the keys being changed: Genesys merges
    /// them, and sending the whole map would race the flow's own *Set Participant Data*.
    pub async fn patch_participant_attributes(
        &self,
        conversation: &ConversationId,
        participant: &ParticipantId,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), GenesysError> {
        self.patch_participant_attributes_with(None, conversation, participant, attributes)
            .await
    }

    /// The same, its first attempt sent on `reserved` (from [`Self::reserve`]) when given.
    pub async fn patch_participant_attributes_with(
        &self,
        reserved: Option<BudgetPermit>,
        conversation: &ConversationId,
        participant: &ParticipantId,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), GenesysError> {
        let path =
            format!("/api/v2/conversations/{conversation}/participants/{participant}/attributes");
        let body = serde_json::to_vec(&AttributesPatch { attributes }).unwrap_or_default();
        self.call(
            Operation::PatchAttributes,
            Method::PATCH,
            &path,
            Some(body),
            reserved,
        )
        .await
        .map(drop)
    }

    /// Waits for the rate budget's next turn and holds it, so a caller can settle what to send
    /// once it may be sent: whatever arrived while it waited goes in the same request.
    pub async fn reserve(&self) -> BudgetPermit {
        self.inner.budget.acquire().await
    }

    /// `PATCH /api/v2/conversations/{id}/secureattributes`, the home for sensitive values.
    pub async fn patch_secure_attributes(
        &self,
        conversation: &ConversationId,
        attributes: &BTreeMap<String, String>,
        version: i64,
    ) -> Result<(), GenesysError> {
        let path = format!("/api/v2/conversations/{conversation}/secureattributes");
        let body = serde_json::to_vec(&SecureAttributesPatch {
            attributes,
            version,
        })
        .unwrap_or_default();
        self.call(
            Operation::PatchSecureAttributes,
            Method::PATCH,
            &path,
            Some(body),
            None,
        )
        .await
        .map(drop)
    }

    /// Makes sure a token can be had (readiness checks); uses the cached one when fresh.
    pub async fn ensure_token(&self) -> Result<(), GenesysError> {
        self.inner.tokens.get().await.map(drop)
    }

    pub fn token_status(&self) -> TokenStatus {
        self.inner.tokens.status()
    }

    /// Holds every call of this client until `until` (a 429 another replica received).
    pub fn hold_until(&self, until: SystemTime) {
        let wait = until.duration_since(SystemTime::now()).unwrap_or_default();
        self.inner.budget.hold_until(Instant::now() + wait);
    }

    /// The latest "not before" Genesys gave this client (a 429), for sharing with other replicas.
    pub fn throttle_events(&self) -> tokio::sync::watch::Receiver<Option<SystemTime>> {
        self.inner.throttled.subscribe()
    }

    /// Total time calls have waited for the rate budget.
    pub fn rate_budget_wait(&self) -> Duration {
        self.inner.budget.total_wait()
    }

    pub fn participant_purposes(&self) -> &[String] {
        &self.inner.purposes
    }

    /// One logical call: attempts under the retry policy until success, a permanent failure, or
    /// the policy's attempt or time budget runs out.
    async fn call(
        &self,
        operation: Operation,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        mut reserved: Option<BudgetPermit>,
    ) -> Result<Answer, GenesysError> {
        let url = format!("{}{path}", self.inner.endpoints.api_base_url());
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self
                .attempt(operation, &method, &url, body.as_deref(), reserved.take())
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            let err = failure.error;
            match self
                .inner
                .retry
                .next_step(attempts, started.elapsed(), failure.retry)
            {
                NextStep::RetryIn(wait) => {
                    ::metrics::counter!(m::GENESYS_RETRIES, "operation" => operation.as_str())
                        .increment(1);
                    tracing::info!(
                        operation = operation.as_str(), attempt = attempts, wait_ms = wait.as_millis() as u64,
                        status = err.status(), correlation_id = err.correlation_id(), error = %err,
                        "retrying Genesys call"
                    );
                    tokio::time::sleep(wait).await;
                }
                NextStep::GiveUp => {
                    tracing::warn!(
                        operation = operation.as_str(), attempts, status = err.status(),
                        code = err.code(), correlation_id = err.correlation_id(), error = %err,
                        "Genesys call failed"
                    );
                    return Err(err);
                }
                NextStep::RetryAfter(after) => {
                    let failure = match err {
                        GenesysError::Api { failure, .. } => failure,
                        other => return Err(other),
                    };
                    tracing::warn!(
                        operation = operation.as_str(),
                        retry_after_secs = after.as_secs(),
                        correlation_id = failure.correlation_id.as_deref(),
                        "Genesys rate limit outlasts this call; handing the wait back"
                    );
                    return Err(GenesysError::RetryAt {
                        operation,
                        after,
                        at: SystemTime::now() + after,
                        failure: Box::new(failure),
                    });
                }
            }
        }
    }

    /// One attempt, including the single re-authentication a 401 earns.
    async fn attempt(
        &self,
        operation: Operation,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
        mut reserved: Option<BudgetPermit>,
    ) -> Result<Answer, AttemptFailure> {
        let mut reauthenticated = false;
        loop {
            let _permit = match reserved.take() {
                Some(permit) => permit,
                None => self.inner.budget.acquire().await,
            };
            let token = self.inner.tokens.get().await.map_err(token_failure)?;
            let mut request = self
                .inner
                .http
                .request(method.clone(), url)
                .header(AUTHORIZATION, token.bearer());
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_vec());
            }
            let response = request.send().await.map_err(|e| {
                ::metrics::counter!(m::GENESYS_CALLS, "operation" => operation.as_str(), "status" => "error").increment(1);
                AttemptFailure { error: transport_error(operation, &e), retry: Retryability::Transient }
            })?;
            let status = response.status();
            ::metrics::counter!(m::GENESYS_CALLS, "operation" => operation.as_str(), "status" => status.as_str().to_owned()).increment(1);
            if status.as_u16() == 429 {
                ::metrics::counter!(m::GENESYS_RATE_LIMITED, "operation" => operation.as_str())
                    .increment(1);
                // The org's budget is spent for every caller, not only this one: hold them all.
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()))
                    .unwrap_or(self.inner.retry.default_retry_after);
                self.inner.budget.hold_until(Instant::now() + wait);
                self.inner
                    .throttled
                    .send_replace(Some(SystemTime::now() + wait));
            }
            if status.is_success() {
                let correlation_id = correlation_id(response.headers());
                let body = response.bytes().await.map_err(|e| AttemptFailure {
                    error: transport_error(operation, &e),
                    retry: Retryability::Transient,
                })?;
                return Ok(Answer {
                    body: body.to_vec(),
                    correlation_id,
                });
            }
            if status.as_u16() == 401 && !reauthenticated {
                tracing::info!(
                    operation = operation.as_str(),
                    correlation_id = correlation_id(response.headers()),
                    "Genesys refused the token; fetching a new one"
                );
                self.inner.tokens.invalidate(&token);
                reauthenticated = true;
                continue;
            }
            let failure = read_failure(response, |bytes| {
                let parsed: ErrorBody = serde_json::from_slice(bytes).unwrap_or_default();
                (parsed.code, parsed.message)
            })
            .await;
            let retry = classify_status(failure.status, failure.retry_after);
            return Err(AttemptFailure {
                error: GenesysError::Api { operation, failure },
                retry,
            });
        }
    }
}

/// A token that cannot be had fails the attempt the same way its endpoint failed: bad
/// credentials are final, a busy or unreachable endpoint is worth another attempt.
fn token_failure(error: GenesysError) -> AttemptFailure {
    let retry = match &error {
        GenesysError::Api { failure, .. } => classify_status(failure.status, failure.retry_after),
        GenesysError::Transport { .. } | GenesysError::InvalidResponse { .. } => {
            Retryability::Transient
        }
        _ => Retryability::Permanent,
    };
    AttemptFailure { error, retry }
}

struct Answer {
    body: Vec<u8>,
    correlation_id: Option<String>,
}
