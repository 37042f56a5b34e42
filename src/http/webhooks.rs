//! `POST /webhooks/{source}`: verify, map, hand off — or say precisely why not.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::problem::Problem;
use crate::delivery::DispatchError;
use crate::startup::AppState;
use crate::webhook::intake::IntakeError;
use crate::webhook::plan::plan;
use crate::webhook::signature::IncomingRequest;

pub async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|rejection| body_problem(&rejection, state.max_body_bytes))?;
    let dry_run = dry_run(query.as_deref())?;
    let request = IncomingRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let prepared = state
        .intake
        .prepare(&source, request, (state.clock)(), dry_run)
        .map_err(intake_problem)?;
    if dry_run {
        return Ok(Json(plan(&prepared, state.genesys.participant_purposes())).into_response());
    }
    if prepared.mapped.attributes.is_empty() {
        return Ok((
            StatusCode::OK,
            Json(json!({
                "status": "nothing_to_write",
                "detail": "no mapped field had a value, so nothing is sent to Genesys",
                "skipped_null": prepared.mapped.skipped_null,
                "dropped": prepared.mapped.dropped,
            })),
        )
            .into_response());
    }
    let update = prepared.into_update();
    let (conversation, keys): (String, Vec<String>) = (
        update.conversation_id.to_string(),
        update.attributes.keys().cloned().collect(),
    );
    let id = state
        .dispatcher
        .submit(update)
        .await
        .map_err(dispatch_problem)?;
    tracing::info!(delivery_id = %id, source, conversation_id = conversation, keys = keys.len(), "webhook accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "accepted", "delivery_id": id, "conversation_id": conversation, "attribute_keys": keys })),
    )
        .into_response())
}

/// `?dry_run=true|false|1|0` (absent or empty: false); other query parameters are left to the
/// source's verifier (`query_key`).
fn dry_run(query: Option<&str>) -> Result<bool, Problem> {
    let Some(value) = query.unwrap_or("").split('&').find_map(|pair| {
        pair.strip_prefix("dry_run")
            .map(|rest| rest.strip_prefix('=').unwrap_or(rest))
    }) else {
        return Ok(false);
    };
    match value {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid query parameter",
            format!("dry_run={other:?} is not true or false"),
        )
        .with("parameter", "dry_run")),
    }
}

fn body_problem(rejection: &BytesRejection, limit: usize) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the body is larger than the {limit} bytes server.max_body_bytes allows"),
        )
        .with("limit_bytes", limit)
    } else {
        Problem::new(
            rejection.status(),
            "unreadable-body",
            "Unreadable body",
            rejection.body_text(),
        )
    }
}

pub(super) fn intake_problem(err: IntakeError) -> Problem {
    let detail = err.to_string();
    match err {
        IntakeError::UnknownSource(name) => Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-source",
            "Unknown source",
            format!("no source named {name:?} is configured (see `genesys-bridge check-config`)"),
        ),
        IntakeError::UnsupportedMediaType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("{detail}: send Content-Type: application/json"),
        ),
        IntakeError::Signature(e) => {
            Problem::new(StatusCode::UNAUTHORIZED, "signature-rejected", "Signature rejected", e.to_string())
                .with("reason", e.reason())
        }
        IntakeError::Replay => Problem::new(
            StatusCode::UNAUTHORIZED,
            "replay",
            "Replayed request",
            "this signature was already accepted inside the timestamp tolerance window; send a fresh one",
        )
        .with("reason", "replay"),
        IntakeError::MalformedJson { line, column, .. } => {
            Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON", detail)
                .with("line", line)
                .with("column", column)
        }
        IntakeError::InvalidEvent(errors) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-event",
            "Invalid event",
            format!("{} problem(s) with the conversation, participant or event id", errors.len()),
        )
        .with("errors", errors),
        IntakeError::Mapping(errors) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mapping-failed",
            "Mapping failed",
            format!("{} field(s) cannot be written as participant attributes", errors.errors.len()),
        )
        .with("errors", errors.errors),
    }
}

fn dispatch_problem(err: DispatchError) -> Problem {
    match err {
        DispatchError::ShuttingDown => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "Shutting down",
            err.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_reads_its_own_parameter_only() {
        assert_eq!(dry_run(None).ok(), Some(false));
        assert_eq!(dry_run(Some("code=abc")).ok(), Some(false));
        assert_eq!(dry_run(Some("code=abc&dry_run=true")).ok(), Some(true));
        assert_eq!(dry_run(Some("dry_run")).ok(), Some(true));
        assert_eq!(dry_run(Some("dry_run=0")).ok(), Some(false));
        assert!(dry_run(Some("dry_run=maybe")).is_err());
    }
}
