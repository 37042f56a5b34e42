//! The intake pipeline, in the order that answers fastest and never parses unverified bytes:
//! source → content type → signature → JSON → ids → mapping; then (with the store) duplicate and
//! replay checks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::event::EventIds;
use super::mapping::{FieldError, Mapped, MappingErrors};
use super::replay::{ReplayGuard, Seen};
use super::signature::{IncomingRequest, SignatureError};
use super::source::Source;
use crate::queue::{DeliveryId, NewJob, ReplayKey};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("no source named {0:?} is configured")]
    UnknownSource(String),
    #[error("content type {0:?} is not JSON")]
    UnsupportedMediaType(Option<String>),
    #[error("signature rejected: {0}")]
    Signature(#[from] SignatureError),
    #[error("this request was already received: a replay")]
    Replay,
    #[error("the body is not valid JSON: {message} at line {line}, column {column}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the payload does not say which conversation it is about")]
    InvalidEvent(Vec<FieldError>),
    #[error(transparent)]
    Mapping(#[from] MappingErrors),
}

/// A verified, parsed and mapped webhook, ready to hand off.
#[derive(Debug)]
pub struct Prepared {
    pub source: Arc<Source>,
    pub ids: EventIds,
    pub mapped: Mapped,
    /// Hex SHA-256 of the raw body: the idempotency key when the sender gives no event id.
    pub body_hash: String,
    /// What stops a captured signature from being replayed under another idempotency key;
    /// `None` when the key cannot be altered (see [`Extraction::key_is_signed`]).
    ///
    /// [`Extraction::key_is_signed`]: super::event::Extraction::key_is_signed
    replay_key: Option<String>,
}

impl Prepared {
    /// The sender's event id identifies a retry; lacking one, the exact bytes do.
    pub fn idempotency_key(&self) -> String {
        match &self.ids.event_id {
            Some(id) => format!("{}:event:{id}", self.source.name()),
            None => format!("{}:sha256:{}", self.source.name(), self.body_hash),
        }
    }

    pub fn into_job(self, received_at: SystemTime) -> NewJob {
        NewJob {
            id: DeliveryId::new(),
            idempotency_key: self.idempotency_key(),
            source: self.source.name().to_owned(),
            event_id: self.ids.event_id,
            conversation_id: self.ids.conversation_id.to_string(),
            participant_id: self.ids.participant_id.map(|p| p.to_string()),
            attributes: self.mapped.attributes,
            received_at,
            replay_key: self.replay_key.map(|key| ReplayKey {
                key: format!("{}:{key}", self.source.name()),
                expires_at: received_at + self.source.verifier().tolerance() * 2,
            }),
        }
    }
}

#[derive(Debug)]
pub struct Intake {
    sources: HashMap<String, Arc<Source>>,
    replays: ReplayGuard,
}

impl Intake {
    pub fn new(sources: impl IntoIterator<Item = Source>) -> Self {
        Self {
            sources: sources
                .into_iter()
                .map(|s| (s.name().to_owned(), Arc::new(s)))
                .collect(),
            replays: ReplayGuard::default(),
        }
    }

    pub fn source(&self, name: &str) -> Option<&Arc<Source>> {
        self.sources.get(name)
    }

    /// Runs every check but the replay check, which needs the store (see [`Intake::is_replay`]).
    pub fn prepare(
        &self,
        source_name: &str,
        request: IncomingRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<Prepared, IntakeError> {
        let source = self
            .sources
            .get(source_name)
            .ok_or_else(|| IntakeError::UnknownSource(source_name.to_owned()))?;
        check_content_type(request.headers)?;
        let verified = source.verify(request, now)?;
        let body: serde_json::Value =
            serde_json::from_slice(verified.body()).map_err(|e| IntakeError::MalformedJson {
                line: e.line(),
                column: e.column(),
                message: json_message(&e),
            })?;
        let ids = source
            .extraction()
            .extract(
                &body,
                verified.headers(),
                verified.proof().event_id.as_deref(),
            )
            .map_err(IntakeError::InvalidEvent)?;
        let mapped = source.mapping().apply(&body)?;
        let body_hash = hex::encode(Sha256::digest(verified.body()));
        Ok(Prepared {
            source: Arc::clone(source),
            ids,
            mapped,
            body_hash,
            replay_key: verified
                .proof()
                .replay_key
                .clone()
                .filter(|_| !source.extraction().key_is_signed(verified.proof())),
        })
    }

    /// Whether this signature (or signed event id) was already seen inside twice the source's
    /// timestamp tolerance for a *different* event — someone re-using a captured signature with
    /// an altered, unsigned id. The same signature for the same event is let through: the store
    /// answers it as a duplicate, even when the copies arrive together.
    pub fn is_replay(&self, prepared: &Prepared) -> bool {
        prepared.replay_key.as_ref().is_some_and(|key| {
            self.replays.check(
                prepared.source.name(),
                key,
                &prepared.idempotency_key(),
                prepared.source.verifier().tolerance() * 2,
            ) == Seen::OtherEvent
        })
    }
}

/// `application/json` or any `application/*+json`, parameters (charset) allowed.
fn check_content_type(headers: &axum::http::HeaderMap) -> Result<(), IntakeError> {
    let raw = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let is_json = raw.as_deref().is_some_and(|value| {
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    if is_json {
        Ok(())
    } else {
        Err(IntakeError::UnsupportedMediaType(raw))
    }
}

/// serde_json's message without its trailing " at line X column Y" (we report those apart).
fn json_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
