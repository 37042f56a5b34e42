//! The Genesys Cloud paths: the token endpoint and the conversation endpoints the bridge uses.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::json;
use tokio::time::Instant;

use super::Simulator;
use super::edge::TOKEN_PATH;
use super::errors::{ApiError, OAuthError};
use super::gate::{authorize, gate};
use super::model::Conversation;
use super::payload;
use super::tokens::{basic_credentials, form_value};

const CONVERSATION: &str = "/api/v2/conversations/{conversationId}";
const ATTRIBUTES: &str =
    "/api/v2/conversations/{conversationId}/participants/{participantId}/attributes";
const SECURE_ATTRIBUTES: &str = "/api/v2/conversations/{conversationId}/secureattributes";

/// Everything outside `/sim`, including the Genesys-style 404 and 405 answers.
pub(crate) fn router(sim: &Simulator) -> Router<Simulator> {
    let api = Router::new()
        .route(CONVERSATION, get(get_conversation))
        .route(ATTRIBUTES, patch(patch_attributes))
        .route(SECURE_ATTRIBUTES, patch(patch_secure_attributes))
        .route_layer(from_fn_with_state(sim.clone(), authorize));
    Router::new()
        .route(TOKEN_PATH, post(issue_token))
        .merge(api)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(from_fn_with_state(sim.clone(), gate))
        // The edge middleware already bounded the body just above `max_body_bytes`; axum's own
        // 2 MB default would otherwise answer a plain-text 413 for larger configured limits.
        .layer(DefaultBodyLimit::disable())
}

async fn issue_token(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let config = sim.config();
    let body = body.map_err(|err| {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", err.body_text())
    })?;
    if body.len() > config.max_body_bytes {
        return Err(OAuthError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "The request body is too large",
        ));
    }
    match basic_credentials(headers.get(header::AUTHORIZATION)) {
        Some((id, secret)) if id == config.client_id && secret == config.client_secret => {}
        _ => {
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed: send Authorization: Basic base64(client_id:client_secret)",
            ));
        }
    }
    if !is_form(&headers) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    match form_value(&body, "grant_type").as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Unsupported grant_type {other:?}: only client_credentials is supported"),
            ));
        }
        None => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type is required",
            ));
        }
    }
    let token = sim.state().tokens.issue(config.token_ttl, Instant::now());
    let body = json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": config.token_ttl.as_secs(),
    });
    // Token responses must not be cached by anything in between (RFC 6749 §5.1).
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

async fn get_conversation(
    State(sim): State<Simulator>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Conversation>, ApiError> {
    let Path(id) = path.map_err(bad_path)?;
    sim.conversation(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("Conversation {id} not found")))
}

async fn patch_attributes(
    State(sim): State<Simulator>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((conversation_id, participant_id)) = path.map_err(bad_path)?;
    let body = bounded(&sim, body)?;
    let attributes = payload::participant_attributes(&body).map_err(ApiError::bad_request)?;
    sim.state()
        .conversations
        .merge_attributes(&conversation_id, &participant_id, attributes)?;
    Ok(StatusCode::ACCEPTED)
}

async fn patch_secure_attributes(
    State(sim): State<Simulator>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(conversation_id) = path.map_err(bad_path)?;
    let body = bounded(&sim, body)?;
    let (attributes, version) = payload::secure_attributes(&body).map_err(ApiError::bad_request)?;
    sim.state()
        .conversations
        .merge_secure(&conversation_id, attributes, version)?;
    Ok(StatusCode::ACCEPTED)
}

/// The platform's body limit, checked on the raw bytes before any parsing.
fn bounded(sim: &Simulator, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    let body = body.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let max = sim.config().max_body_bytes;
    if body.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.entity.too.large",
            format!("The request body exceeds the maximum of {max} bytes"),
        ));
    }
    Ok(body)
}

fn bad_path(err: PathRejection) -> ApiError {
    ApiError::bad_request(err.body_text())
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("No resource found at {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method.not.allowed",
        format!("{method} is not supported on {}", uri.path()),
    )
}
