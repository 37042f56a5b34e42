//! `GET /v1/calls/{conversationId}/data?waitMs=N`: what the CRM sent for a registered call, as
//! one flat object a Data Action's success schema can hold — `status`, `found`, `ageSeconds`,
//! and every attribute key the sources map (`""` where nothing arrived, so the contract never
//! changes). Served from the bridge's own store: a webhook is committed before Genesys is
//! written, so the flow need not wait for the PATCH.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::{Ivr, IvrError};
use crate::genesys::ConversationId;
use crate::queue::CallData;

/// What the flow reads.
#[derive(Debug)]
pub struct Pulled {
    /// `found`, `pending` (registered, nothing arrived yet) or `unknown_call`.
    pub status: &'static str,
    /// Seconds since the newest value arrived; 0 without one.
    pub age_seconds: u64,
    /// Every key the sources map, in order, with its newest value or `""`.
    pub values: Vec<(String, String)>,
}

impl Pulled {
    /// The flat answer: `status`, `found`, `ageSeconds`, then the keys.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("status".into(), self.status.into());
        out.insert("found".into(), (self.status == "found").into());
        out.insert("ageSeconds".into(), self.age_seconds.into());
        for (key, value) in &self.values {
            // A mapped key named like one of ours cannot take its place.
            out.entry(key.clone())
                .or_insert_with(|| Value::String(value.clone()));
        }
        Value::Object(out)
    }
}

pub(super) async fn pull(
    ivr: &Ivr,
    conversation: &str,
    wait_ms: Option<&str>,
) -> Result<Pulled, IvrError> {
    let conversation = ConversationId::parse(conversation)
        .map_err(|e| IvrError::InvalidConversation(conversation.to_owned(), e.to_string()))?;
    let wait = match wait_ms.map(str::trim) {
        None | Some("") => Duration::ZERO,
        Some(raw) => raw
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| IvrError::InvalidWait(raw.to_owned()))?,
    }
    .min(ivr.settings.max_wait);
    if ivr
        .queue
        .live_call(&conversation, SystemTime::now())
        .await?
        .is_none()
    {
        tracing::info!(conversation_id = %conversation, "pull for a call that is not registered");
        return Ok(answer(ivr, "unknown_call", &CallData::new()));
    }
    let data = ivr
        .queue
        .wait_for_call_data(&conversation, wait, |data| !data.is_empty())
        .await?;
    let status = if data.is_empty() { "pending" } else { "found" };
    tracing::info!(conversation_id = %conversation, status, keys = data.len(), wait_ms = wait.as_millis() as u64, "pull answered");
    Ok(answer(ivr, status, &data))
}

fn answer(ivr: &Ivr, status: &'static str, data: &CallData) -> Pulled {
    let newest = data.values().map(|v| v.updated_at).max();
    Pulled {
        status,
        age_seconds: newest
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map_or(0, |age| age.as_secs()),
        values: ivr
            .keys
            .iter()
            .map(|key| {
                let value = data.get(key).map(|v| v.value.clone()).unwrap_or_default();
                (key.clone(), value)
            })
            .collect(),
    }
}
