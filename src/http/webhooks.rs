//! `POST /webhooks/{source}`: extract the request, hand it to the intake, answer with what
//! became of it — or say precisely why not.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::problem::Problem;
use super::views::DeliveryView;
use crate::intake::{Accepted, Outcome, Submission};
use crate::state::AppState;
use crate::telemetry::metrics as m;
use crate::webhook::signature::IncomingRequest;

pub(super) async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let started = Instant::now();
    let answer = accept(
        &state,
        &source,
        query.as_deref(),
        &method,
        &uri,
        &headers,
        body,
    )
    .await;
    record(&state, source, &answer, started);
    answer.map(|outcome| respond(outcome, state.admin.show_values))
}

/// Hands the request to the intake; a body that could not be read, or a `?dry_run` that is not
/// true or false, is refused before it.
async fn accept(
    state: &AppState,
    source: &str,
    query: Option<&str>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Outcome, Problem> {
    let body = body.map_err(|rejection| body_problem(&rejection, state.max_body_bytes))?;
    let dry_run = dry_run(query)?;
    let request = IncomingRequest {
        method,
        uri,
        headers,
        body: &body,
    };
    let submission = Submission {
        source,
        request,
        now: (state.clock)(),
        dry_run,
        wait: prefer_wait(headers),
    };
    Ok(state.intake.accept(submission).await?)
}

/// The intake's metrics. Only configured names become label values: the path is the sender's
/// to choose.
fn record(state: &AppState, source: String, answer: &Result<Outcome, Problem>, started: Instant) {
    let source = if state.intake.knows(&source) {
        source
    } else {
        "unknown".to_owned()
    };
    let (outcome, reason) = match answer {
        Ok(outcome) => (outcome.label(), String::new()),
        Err(problem) => ("rejected", problem.reason().to_owned()),
    };
    ::metrics::counter!(m::WEBHOOKS, "source" => source, "outcome" => outcome, "reason" => reason)
        .increment(1);
    ::metrics::histogram!(m::INTAKE_SECONDS, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
}

fn respond(outcome: Outcome, show_values: bool) -> Response {
    match outcome {
        Outcome::DryRun(plan) => Json(plan).into_response(),
        Outcome::NothingToWrite { skipped_null, dropped } => {
            let body = Json(json!({
                "status": "nothing_to_write",
                "detail": "no mapped field had a value, so nothing is sent to Genesys",
                "skipped_null": skipped_null,
                "dropped": dropped,
            }));
            (StatusCode::OK, body).into_response()
        }
        Outcome::Duplicate { id, status } => (
            StatusCode::OK,
            Json(json!({ "status": "duplicate", "delivery_id": id, "delivery_status": status,
                         "detail": "this event was already accepted; nothing new is sent to Genesys" })),
        )
            .into_response(),
        Outcome::Accepted(Accepted { finished: Some((job, wait)), .. }) => {
            let mut response = (StatusCode::OK, Json(DeliveryView::of(&job, show_values))).into_response();
            response.headers_mut().insert(
                "preference-applied",
                HeaderValue::from_str(&format!("wait={}", wait.as_secs()))
                    .unwrap_or(HeaderValue::from_static("wait")),
            );
            response
        }
        Outcome::Accepted(Accepted { id, conversation_id, call, attribute_keys, finished: None }) => {
            let mut body = json!({ "status": "accepted", "delivery_id": id, "conversation_id": conversation_id, "attribute_keys": attribute_keys });
            if let Some(call) = call {
                body["call"] = json!(call);
            }
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
    }
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

pub(super) fn body_problem(rejection: &BytesRejection, limit: usize) -> Problem {
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
