//! The IVR handshake (`/v1/calls`), behind the IVR's credential: the flow registers the call,
//! and pulls what the CRM sent for it. Versioned paths: a published Data Action's URL and
//! contract cannot change.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use super::credentials::IvrCaller;
use super::problem::Problem;
use super::webhooks::body_problem;
use crate::state::AppState;

/// `POST /v1/calls`: 200 with a flat body once the registration is committed.
pub(super) async fn register(
    _: IvrCaller,
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    let body = body.map_err(|rejection| body_problem(&rejection, state.max_body_bytes))?;
    let registered = state.ivr.register(&body).await?;
    let call = &registered.call;
    Ok(Json(json!({
        "status": "registered",
        "conversationId": call.conversation_id,
        "participantId": call.participant_id.as_ref().map_or("", |p| p.as_str()),
        "participantLookup": registered.lookup,
        "ani": call.ani.as_ref().map_or("", |n| n.as_str()),
        "keys": call.keys.keys().cloned().collect::<Vec<_>>().join(","),
        "expiresInSeconds": registered.ttl.as_secs(),
        "ignoredFields": registered.ignored.join(","),
    })))
}

/// `GET /v1/calls/{conversationId}/data?waitMs=N`: always 200 for a well-formed request.
pub(super) async fn data(
    _: IvrCaller,
    State(state): State<AppState>,
    Path(conversation): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Problem> {
    let wait = wait_ms(query.as_deref())?;
    let pulled = state.ivr.pull(&conversation, wait.as_deref()).await?;
    Ok(Json(pulled.to_json()))
}

/// `waitMs`, once at most; other parameters are the flow's business and ignored.
fn wait_ms(query: Option<&str>) -> Result<Option<String>, Problem> {
    let mut found = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if name == "waitMs" {
            if found.is_some() {
                return Err(Problem::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid-parameter",
                    "Invalid parameter",
                    "waitMs is given more than once",
                )
                .with("parameter", "waitMs"));
            }
            found = Some(value.into_owned());
        }
    }
    Ok(found)
}
