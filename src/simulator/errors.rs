//! Error values and the three wire shapes they take: the Genesys error body (API paths), the
//! OAuth error body (token endpoint) and `application/problem+json` (the `/sim` control API).

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// Failures of the typed simulator API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("conversation {0} not found")]
    ConversationNotFound(String),
    #[error("participant {participant_id} not found in conversation {conversation_id}")]
    ParticipantNotFound {
        conversation_id: String,
        participant_id: String,
    },
}

/// A Genesys API error. Its body needs the response's correlation id as `contextId`, which
/// only the edge middleware knows, so the body is rendered there (see [`render_deferred`]).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
    retry_after: Option<HeaderValue>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad.request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not.found", message)
    }

    /// The rate limiter's answer, worded as Genesys words it.
    pub(crate) fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests.retry.after",
            rate_limit_message(retry_after_secs),
        )
        .with_retry_after(Some(HeaderValue::from(retry_after_secs)))
    }

    pub(crate) fn with_retry_after(mut self, value: Option<HeaderValue>) -> Self {
        self.retry_after = value;
        self
    }
}

pub(crate) fn rate_limit_message(retry_after_secs: u64) -> String {
    format!("Rate limit exceeded the maximum. Retry the request in [{retry_after_secs}] seconds")
}

impl From<SimError> for ApiError {
    fn from(err: SimError) -> Self {
        Self::not_found(err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(value) = &self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, value.clone());
        }
        response.extensions_mut().insert(self);
        response
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenesysErrorBody<'a> {
    message: &'a str,
    code: &'a str,
    status: u16,
    context_id: &'a str,
    details: [(); 0],
    errors: [(); 0],
}

/// Replaces the empty body of an [`ApiError`] response with the Genesys error body.
pub(crate) fn render_deferred(response: &mut Response, correlation_id: &str) {
    let Some(err) = response.extensions_mut().remove::<ApiError>() else {
        return;
    };
    let body = GenesysErrorBody {
        message: &err.message,
        code: &err.code,
        status: err.status.as_u16(),
        context_id: correlation_id,
        details: [],
        errors: [],
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *response.body_mut() = bytes.into();
}

/// The Genesys error code a status implies when a fault does not name one.
pub(crate) fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad.request",
        401 => "bad.credentials",
        403 => "missing.permissions",
        404 => "not.found",
        408 => "client.timeout",
        409 => "general.conflict",
        413 => "request.entity.too.large",
        429 => "too.many.requests.retry.after",
        500 => "internal.server.error",
        502 => "bad.gateway",
        503 => "service.unavailable",
        504 => "request.timeout",
        s if s >= 500 => "internal.server.error",
        _ => "bad.request",
    }
}

/// A token endpoint error: `{"error", "description", "error_description"}`.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: Cow<'static, str>,
    description: String,
    retry_after: Option<HeaderValue>,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: impl Into<Cow<'static, str>>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error: error.into(),
            description: description.into(),
            retry_after: None,
        }
    }

    pub(crate) fn with_retry_after(mut self, value: Option<HeaderValue>) -> Self {
        self.retry_after = value;
        self
    }
}

/// The OAuth `error` a status implies when a fault on the token endpoint does not name one.
pub(crate) fn default_oauth_error(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request",
        401 => "invalid_client",
        403 => "unauthorized_client",
        429 => "too_many_requests",
        503 => "temporarily_unavailable",
        _ => "server_error",
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.error,
            "description": self.description,
            "error_description": self.description,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(value) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A control API error as RFC 9457 problem details.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    status: StatusCode,
    detail: String,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
}

impl From<SimError> for Problem {
    fn from(err: SimError) -> Self {
        Self::not_found(err.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_body_carries_the_correlation_id() {
        let mut response = ApiError::not_found("gone").into_response();
        render_deferred(&mut response, "cid-1");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(response.extensions().get::<ApiError>().is_none());
    }

    #[test]
    fn fault_codes_follow_the_contract_table() {
        assert_eq!(
            default_code(StatusCode::SERVICE_UNAVAILABLE),
            "service.unavailable"
        );
        assert_eq!(default_code(StatusCode::GATEWAY_TIMEOUT), "request.timeout");
        assert_eq!(default_code(StatusCode::REQUEST_TIMEOUT), "client.timeout");
        assert_eq!(
            default_code(StatusCode::NOT_IMPLEMENTED),
            "internal.server.error"
        );
        assert_eq!(default_code(StatusCode::IM_A_TEAPOT), "bad.request");
    }
}
