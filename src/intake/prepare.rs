//! The intake's first half, in the order that answers fastest and never parses unverified bytes:
//! content type → signature → JSON → ids → mapping. Nothing here touches the store.

use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::IntakeError;
use super::resolve::Resolved;
use crate::queue::{DeliveryId, NewJob, ReplayKey};
use crate::webhook::event::EventIds;
use crate::webhook::mapping::Mapped;
use crate::webhook::signature::IncomingRequest;
use crate::webhook::source::Source;

/// A verified, parsed and mapped webhook, ready to hand off.
#[derive(Debug)]
pub(super) struct Prepared {
    pub source: Arc<Source>,
    pub ids: EventIds,
    pub mapped: Mapped,
    /// Hex SHA-256 of the raw body: the idempotency key when the sender gives no event id.
    pub body_hash: String,
    /// What stops a captured signature from being replayed under another idempotency key;
    /// `None` when the key cannot be altered (see [`Extraction::key_is_signed`]).
    ///
    /// [`Extraction::key_is_signed`]: crate::webhook::event::Extraction::key_is_signed
    pub replay_key: Option<String>,
}

impl Prepared {
    /// The sender's event id identifies a retry; lacking one, the exact bytes do.
    pub(super) fn idempotency_key(&self) -> String {
        match &self.ids.event_id {
            Some(id) => format!("{}:event:{id}", self.source.name()),
            None => format!("{}:sha256:{}", self.source.name(), self.body_hash),
        }
    }

    pub(super) fn into_job(self, resolved: Resolved, received_at: SystemTime) -> NewJob {
        NewJob {
            id: DeliveryId::new(),
            idempotency_key: self.idempotency_key(),
            source: self.source.name().to_owned(),
            event_id: self.ids.event_id,
            conversation_id: resolved.conversation_id,
            participant_id: self.ids.participant_id,
            address: resolved.address,
            resolution: resolved.how,
            attributes: self.mapped.attributes,
            received_at,
            replay_key: self.replay_key.map(|key| ReplayKey {
                key: format!("{}:{key}", self.source.name()),
                expires_at: received_at + self.source.verifier().tolerance() * 2,
            }),
        }
    }
}

/// Runs every check that needs neither the store nor the replay guard.
pub(super) fn prepare(
    source: &Arc<Source>,
    request: IncomingRequest<'_>,
    now: OffsetDateTime,
) -> Result<Prepared, IntakeError> {
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
