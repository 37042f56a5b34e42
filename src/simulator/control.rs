//! The `/sim` control API: the HTTP face of the typed methods on [`Simulator`], for tests and
//! demos driving the simulator from outside the process.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::json;

use super::Simulator;
use super::actions::ActionRun;
use super::errors::Problem;
use super::faults::Fault;
use super::model::{InboundCall, NewConversation};

/// Routes relative to `/sim`.
pub(crate) fn router() -> Router<Simulator> {
    Router::new()
        .route(
            "/conversations",
            post(create_conversation).get(list_conversations),
        )
        .route("/conversations/{id}", get(get_conversation))
        .route("/conversations/{id}/end", post(end_conversation))
        .route(
            "/conversations/{id}/participants/{pid}/end",
            post(end_participant),
        )
        .route(
            "/conversations/{id}/participants/{pid}/attributes",
            get(participant_attributes),
        )
        .route(
            "/conversations/{id}/secureattributes",
            get(secure_attributes),
        )
        .route("/calls", post(start_call))
        .route("/actions/execute", post(execute_action))
        .route("/requests", get(list_requests).delete(clear_requests))
        .route(
            "/faults",
            post(inject_fault).get(list_faults).delete(clear_faults),
        )
        .route("/rate-limit", get(rate_limit).put(set_rate_limit))
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed on this path",
            )
        })
        .fallback(|uri: Uri| async move {
            Problem::not_found(format!("No control endpoint at {}", uri.path()))
        })
}

type Body = Result<Bytes, BytesRejection>;

/// Parses a JSON body; an empty body means `T::default()` where the endpoint allows it.
fn json_body<T: DeserializeOwned>(body: Body, empty: Option<T>) -> Result<T, Problem> {
    let body = body.map_err(|err| Problem::bad_request(err.body_text()))?;
    if body.iter().all(u8::is_ascii_whitespace)
        && let Some(default) = empty
    {
        return Ok(default);
    }
    serde_json::from_slice(&body)
        .map_err(|err| Problem::bad_request(format!("invalid body: {err}")))
}

fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, Problem> {
    path.map(|Path(value)| value)
        .map_err(|err| Problem::bad_request(err.body_text()))
}

async fn create_conversation(
    State(sim): State<Simulator>,
    body: Body,
) -> Result<Response, Problem> {
    let spec: NewConversation = json_body(body, Some(NewConversation::default()))?;
    Ok((StatusCode::CREATED, Json(sim.create_conversation(spec))).into_response())
}

async fn start_call(State(sim): State<Simulator>, body: Body) -> Result<Response, Problem> {
    let call: InboundCall = json_body(body, None)?;
    Ok((StatusCode::CREATED, Json(sim.start_call(call))).into_response())
}

/// 200 with the exit taken, whichever it is; 400 when the definition would not import.
async fn execute_action(State(sim): State<Simulator>, body: Body) -> Result<Response, Problem> {
    let run: ActionRun = json_body(body, None)?;
    let outcome = sim
        .execute_action(&run)
        .await
        .map_err(|err| Problem::bad_request(err.to_string()))?;
    Ok(Json(outcome).into_response())
}

async fn list_conversations(State(sim): State<Simulator>) -> Response {
    Json(sim.conversations()).into_response()
}

async fn get_conversation(
    State(sim): State<Simulator>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path(id)?;
    sim.conversation(&id)
        .map(|c| Json(c).into_response())
        .ok_or_else(|| Problem::not_found(format!("conversation {id} not found")))
}

async fn end_conversation(
    State(sim): State<Simulator>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path(id)?;
    Ok(Json(sim.end_conversation(&id)?).into_response())
}

async fn end_participant(
    State(sim): State<Simulator>,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, Problem> {
    let (id, pid) = path(ids)?;
    Ok(Json(sim.end_participant(&id, &pid)?).into_response())
}

async fn participant_attributes(
    State(sim): State<Simulator>,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, Problem> {
    let (id, pid) = path(ids)?;
    sim.participant_attributes(&id, &pid)
        .map(|attributes| Json(json!({ "attributes": attributes })).into_response())
        .ok_or_else(|| {
            Problem::not_found(format!("participant {pid} not found in conversation {id}"))
        })
}

async fn secure_attributes(
    State(sim): State<Simulator>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path(id)?;
    sim.secure_state(&id)
        .map(|secure| Json(secure).into_response())
        .ok_or_else(|| Problem::not_found(format!("conversation {id} not found")))
}

async fn list_requests(State(sim): State<Simulator>) -> Response {
    Json(sim.requests()).into_response()
}

async fn clear_requests(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_requests();
    StatusCode::NO_CONTENT
}

async fn inject_fault(State(sim): State<Simulator>, body: Body) -> Result<Response, Problem> {
    let fault: Fault = json_body(body, None)?;
    if let Some(problem) = fault.problem() {
        return Err(Problem::bad_request(problem));
    }
    let id = sim.inject_fault(fault);
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn list_faults(State(sim): State<Simulator>) -> Response {
    Json(sim.faults()).into_response()
}

async fn clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

/// `limit` must be present so that a body with only `window_secs` cannot lift the limit by
/// accident: `null` lifts it, a number sets it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitUpdate {
    #[serde(default, deserialize_with = "present")]
    limit: Option<Option<u32>>,
    #[serde(default)]
    window_secs: Option<u64>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

async fn rate_limit(State(sim): State<Simulator>) -> Response {
    Json(sim.rate_limit()).into_response()
}

async fn set_rate_limit(State(sim): State<Simulator>, body: Body) -> Result<Response, Problem> {
    let update: RateLimitUpdate = json_body(body, None)?;
    let Some(limit) = update.limit else {
        return Err(Problem::bad_request(
            "limit is required: a number, or null to lift the limit",
        ));
    };
    if update.window_secs == Some(0) {
        return Err(Problem::bad_request("window_secs must be at least 1"));
    }
    sim.set_rate_limit(limit, update.window_secs.map(Duration::from_secs));
    Ok(Json(sim.rate_limit()).into_response())
}

async fn stats(State(sim): State<Simulator>) -> Response {
    Json(sim.stats()).into_response()
}

async fn reset(State(sim): State<Simulator>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}
