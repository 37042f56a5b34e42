//! `POST /webhooks/{source}`: verify, map, hand off — or say precisely why not.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::deliveries::DeliveryView;
use super::problem::Problem;
use crate::queue::{DeliveryId, Inserted, Status, StoreError};
use crate::startup::AppState;
use crate::telemetry::metrics as m;
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
    let started = Instant::now();
    let answer = handle(&state, &source, query, &method, &uri, &headers, body).await;
    // Only configured names become label values: the path is the sender's to choose.
    let source_label = if state.intake.source(&source).is_some() {
        source
    } else {
        "unknown".to_owned()
    };
    let (outcome, reason) = match &answer {
        Ok((_, outcome)) => (*outcome, String::new()),
        Err(problem) => ("rejected", problem.reason().to_owned()),
    };
    ::metrics::counter!(m::WEBHOOKS, "source" => source_label, "outcome" => outcome, "reason" => reason).increment(1);
    ::metrics::histogram!(m::INTAKE_SECONDS, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    answer.map(|(response, _)| response)
}

/// The intake proper; the outcome label comes back with the response.
async fn handle(
    state: &AppState,
    source: &str,
    query: Option<String>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Response, &'static str), Problem> {
    let body = body.map_err(|rejection| body_problem(&rejection, state.max_body_bytes))?;
    let dry_run = dry_run(query.as_deref())?;
    let request = IncomingRequest {
        method,
        uri,
        headers,
        body: &body,
    };
    let prepared = state
        .intake
        .prepare(source, request, (state.clock)())
        .map_err(intake_problem)?;
    if dry_run {
        return Ok((
            Json(plan(&prepared, state.genesys.participant_purposes())).into_response(),
            "dry_run",
        ));
    }
    if prepared.mapped.attributes.is_empty() {
        let body = Json(json!({
            "status": "nothing_to_write",
            "detail": "no mapped field had a value, so nothing is sent to Genesys",
            "skipped_null": prepared.mapped.skipped_null,
            "dropped": prepared.mapped.dropped,
        }));
        return Ok(((StatusCode::OK, body).into_response(), "nothing_to_write"));
    }
    if state.intake.is_replay(&prepared) {
        return Err(intake_problem(IntakeError::Replay));
    }
    let job = prepared.into_job(SystemTime::now());
    let conversation = job.conversation_id.clone();
    let keys: Vec<String> = job.attributes.keys().cloned().collect();
    let id = match state.queue.enqueue(job).await.map_err(store_problem)? {
        Inserted::New(id) => id,
        Inserted::Duplicate { id, status } => return Ok((duplicate(id, status), "duplicate")),
        Inserted::Replayed => return Err(intake_problem(IntakeError::Replay)),
    };
    tracing::info!(delivery_id = %id, source, conversation_id = conversation, keys = keys.len(), "webhook accepted");
    if let Some(wait) = prefer_wait(headers) {
        let waited = state.queue.wait(id, wait).await.map_err(store_problem)?;
        if let Some(job) = waited.filter(|j| j.status.is_final()) {
            let mut response = (
                StatusCode::OK,
                Json(DeliveryView::of(&job, state.admin.show_values)),
            )
                .into_response();
            response.headers_mut().insert(
                "preference-applied",
                HeaderValue::from_str(&format!("wait={}", wait.as_secs()))
                    .unwrap_or(HeaderValue::from_static("wait")),
            );
            return Ok((response, "accepted"));
        }
    }
    let response = (
        StatusCode::ACCEPTED,
        Json(json!({ "status": "accepted", "delivery_id": id, "conversation_id": conversation, "attribute_keys": keys })),
    )
        .into_response();
    Ok((response, "accepted"))
}

fn duplicate(id: DeliveryId, status: Status) -> Response {
    tracing::info!(delivery_id = %id, "duplicate webhook: answered with the original delivery");
    (
        StatusCode::OK,
        Json(
            json!({ "status": "duplicate", "delivery_id": id, "delivery_status": status,
                     "detail": "this event was already accepted; nothing new is sent to Genesys" }),
        ),
    )
        .into_response()
}

/// Longest `Prefer: wait` honoured: a request should not hold a connection for minutes.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// RFC 7240 `Prefer: wait=N` (seconds), possibly among other preferences.
fn prefer_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .find_map(|p| {
            p.trim()
                .strip_prefix("wait=")
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .map(|secs| Duration::from_secs(secs).min(MAX_WAIT))
        .filter(|d| !d.is_zero())
}

pub(super) fn store_problem(err: StoreError) -> Problem {
    tracing::error!(error = %err, "the store failed");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store-unavailable",
        "Store unavailable",
        "the webhook could not be stored, so it was not accepted; send it again",
    )
}

/// `?dry_run=true|false|1|0` (absent or empty: false); other query parameters are left to the
/// source's verifier (`query_key`).
fn dry_run(query: Option<&str>) -> Result<bool, Problem> {
    let Some(value) = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some(("dry_run", value)) => Some(value),
            None if pair == "dry_run" => Some(""),
            _ => None,
        })
    else {
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
            "this signature was already accepted, for another event, inside the timestamp tolerance window",
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
        assert_eq!(dry_run(Some("dry_run_id=7")).ok(), Some(false));
    }

    #[test]
    fn prefer_wait_is_read_among_other_preferences_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(prefer_wait(&headers), None);
        headers.insert("prefer", HeaderValue::from_static("respond-async, wait=5"));
        assert_eq!(prefer_wait(&headers), Some(Duration::from_secs(5)));
        headers.insert("prefer", HeaderValue::from_static("wait=3600"));
        assert_eq!(prefer_wait(&headers), Some(MAX_WAIT));
        headers.insert("prefer", HeaderValue::from_static("wait=soon"));
        assert_eq!(prefer_wait(&headers), None);
    }
}
