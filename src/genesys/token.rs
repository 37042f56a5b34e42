//! The OAuth token cache: client-credentials tokens requested exactly as the official SDKs do,
//! reused until shortly before `expires_in` runs out, one request in flight however many callers
//! wait, and dropped when the API says it is no longer good (401).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::error::{ApiFailure, GenesysError, Operation};
use super::models::{TokenErrorBody, TokenResponse};
use super::response::{correlation_id, read_failure};

/// A bearer token as handed to one API call. `generation` lets a 401 drop exactly the token that
/// failed, not a fresher one another caller already fetched.
#[derive(Clone)]
pub(crate) struct AccessToken {
    value: Arc<SecretString>,
    generation: u64,
}

impl AccessToken {
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.value.expose_secret())
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessToken(generation {}, [REDACTED])", self.generation)
    }
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

/// The outcome of the latest token request, shared with callers that queued behind it.
struct LastFetch {
    /// Which request this was (1, 2, …): a caller shares the outcome of a request that finished
    /// after it arrived. Counted, not timed, because a clock can read the same before and after.
    seq: u64,
    finished_at: Instant,
    outcome: Result<AccessToken, GenesysError>,
}

/// What readiness checks and operators see of the token, never the token itself.
#[derive(Clone, Debug, Default)]
pub struct TokenStatus {
    pub obtained_at: Option<SystemTime>,
    pub expires_at: Option<SystemTime>,
    pub last_error: Option<String>,
    pub requests: u64,
}

pub(crate) struct TokenCache {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    refresh_margin: Duration,
    /// After Genesys refuses the credentials, ask again only after this long: retrying a
    /// configuration error at request rate would hammer the token endpoint.
    bad_credentials_cooldown: Duration,
    current: RwLock<Option<Cached>>,
    generations: AtomicU64,
    /// Token requests finished so far.
    fetches: AtomicU64,
    single_flight: tokio::sync::Mutex<Option<LastFetch>>,
    status: Mutex<TokenStatus>,
}

impl TokenCache {
    pub(crate) fn new(
        http: reqwest::Client,
        token_url: String,
        client_id: String,
        client_secret: SecretString,
        refresh_margin: Duration,
    ) -> Self {
        Self {
            http,
            token_url,
            client_id,
            client_secret,
            refresh_margin,
            bad_credentials_cooldown: Duration::from_secs(30),
            current: RwLock::new(None),
            generations: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            single_flight: tokio::sync::Mutex::new(None),
            status: Mutex::new(TokenStatus::default()),
        }
    }

    fn fresh(&self) -> Option<AccessToken> {
        let guard = self.current.read().ok()?;
        let cached = guard.as_ref()?;
        (Instant::now() < cached.refresh_at).then(|| cached.token.clone())
    }

    /// A token good for at least the refresh margin. Callers that arrive while a request is in
    /// flight wait for it and share its outcome, success or failure.
    pub(crate) async fn get(&self) -> Result<AccessToken, GenesysError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let seen = self.fetches.load(Ordering::Acquire);
        let mut last = self.single_flight.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        if let Some(prev) = last.as_ref() {
            let shared = prev.seq > seen;
            let cooling = matches!(prev.outcome, Err(GenesysError::BadCredentials(_)))
                && prev.finished_at + self.bad_credentials_cooldown > Instant::now();
            if shared || cooling {
                return prev.outcome.clone();
            }
        }
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let outcome = self.request(generation).await;
        let seq = self.fetches.fetch_add(1, Ordering::AcqRel) + 1;
        *last = Some(LastFetch {
            seq,
            finished_at: Instant::now(),
            outcome: outcome.clone(),
        });
        outcome
    }

    /// Forgets `token` after the API refused it (expired early, revoked, HIPAA idle timeout).
    pub(crate) fn invalidate(&self, token: &AccessToken) {
        if let Ok(mut guard) = self.current.write()
            && guard
                .as_ref()
                .is_some_and(|c| c.token.generation == token.generation)
        {
            *guard = None;
        }
    }

    pub(crate) fn status(&self) -> TokenStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    async fn request(&self, generation: u64) -> Result<AccessToken, GenesysError> {
        let started = Instant::now();
        let outcome = self.send().await;
        let label = if outcome.is_ok() { "ok" } else { "error" };
        ::metrics::counter!(crate::telemetry::metrics::TOKEN_REQUESTS, "outcome" => label)
            .increment(1);
        let mut status = self.status.lock().ok();
        if let Some(s) = status.as_mut() {
            s.requests += 1;
        }
        match outcome {
            Ok(issued) => {
                let lifetime = Duration::from_secs(issued.expires_in);
                // A margin larger than a short-lived token's life would refresh on every call.
                let margin = self.refresh_margin.min(lifetime / 4);
                let token = AccessToken {
                    value: Arc::new(SecretString::from(issued.access_token)),
                    generation,
                };
                if let Ok(mut guard) = self.current.write() {
                    *guard = Some(Cached {
                        token: token.clone(),
                        refresh_at: started + lifetime - margin,
                    });
                }
                if let Some(s) = status.as_mut() {
                    let now = SystemTime::now();
                    s.obtained_at = Some(now);
                    s.expires_at = Some(now + lifetime);
                    s.last_error = None;
                }
                tracing::info!(
                    expires_in_secs = issued.expires_in,
                    "obtained a Genesys access token"
                );
                Ok(token)
            }
            Err(err) => {
                if let Some(s) = status.as_mut() {
                    s.last_error = Some(err.to_string());
                }
                tracing::warn!(error = %err, "Genesys token request failed");
                Err(err)
            }
        }
    }

    async fn send(&self) -> Result<TokenResponse, GenesysError> {
        let response = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| super::response::transport_error(Operation::Token, &e))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let failure = read_failure(response, |body| {
                let parsed: TokenErrorBody = serde_json::from_slice(body).unwrap_or_default();
                (
                    parsed.error,
                    parsed.error_description.or(parsed.description),
                )
            })
            .await;
            return Err(token_error(status, failure));
        }
        let correlation = correlation_id(response.headers());
        let issued: TokenResponse =
            response
                .json()
                .await
                .map_err(|e| GenesysError::InvalidResponse {
                    operation: Operation::Token,
                    message: format!("token response is not the expected JSON: {e}"),
                    correlation_id: correlation.clone(),
                })?;
        if !issued.token_type.eq_ignore_ascii_case("bearer") || issued.access_token.is_empty() {
            return Err(GenesysError::InvalidResponse {
                operation: Operation::Token,
                message: format!(
                    "expected a non-empty bearer token, got token_type {:?}",
                    issued.token_type
                ),
                correlation_id: correlation,
            });
        }
        Ok(issued)
    }
}

/// 400 and 401 from the token endpoint mean the credentials (or the OAuth client's grant) are
/// wrong; anything else is the endpoint having a bad moment.
fn token_error(status: u16, failure: ApiFailure) -> GenesysError {
    match status {
        400 | 401 | 403 => GenesysError::BadCredentials(failure),
        _ => GenesysError::Api {
            operation: Operation::Token,
            failure,
        },
    }
}
