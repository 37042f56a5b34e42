//! The intake pipeline, in the order that answers fastest and never parses unverified bytes:
//! source → content type → signature → JSON → ids → mapping → replay check.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;

use super::event::{EventIds, FieldProblem};
use super::mapping::{Mapped, MappingErrors};
use super::replay::ReplayGuard;
use super::signature::{IncomingRequest, SignatureError};
use super::source::Source;
use crate::delivery::{DeliveryId, Update};

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
    InvalidEvent(Vec<FieldProblem>),
    #[error(transparent)]
    Mapping(#[from] MappingErrors),
}

/// A verified, parsed and mapped webhook, ready to hand off.
#[derive(Debug)]
pub struct Prepared {
    pub source: Arc<Source>,
    pub ids: EventIds,
    pub mapped: Mapped,
}

impl Prepared {
    pub fn into_update(self) -> Update {
        Update {
            id: DeliveryId::new(),
            source: self.source.name().to_owned(),
            conversation_id: self.ids.conversation_id,
            participant_id: self.ids.participant_id,
            event_id: self.ids.event_id,
            attributes: self.mapped.attributes,
            received_at: SystemTime::now(),
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

    /// Runs every check. A dry run is not remembered for replay detection: developers repeat it.
    pub fn prepare(
        &self,
        source_name: &str,
        request: IncomingRequest<'_>,
        now: OffsetDateTime,
        dry_run: bool,
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
        if !dry_run
            && let Some(key) = &verified.proof().replay_key
            && !self
                .replays
                .remember(source.name(), key, source.verifier().tolerance() * 2)
        {
            return Err(IntakeError::Replay);
        }
        Ok(Prepared {
            source: Arc::clone(source),
            ids,
            mapped,
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
