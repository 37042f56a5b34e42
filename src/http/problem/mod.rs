//! RFC 9457 problem details: every error the bridge answers is `application/problem+json` with a
//! stable `type`, a `title`, the `status`, a `detail` a person can act on, and the request id.

mod from;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

pub(super) const CONTENT_TYPE: &str = "application/problem+json";
pub(super) const REQUEST_ID_HEADER: &str = "x-request-id";

/// A problem; `kind` is the last part of its `type` URI, e.g. `signature-rejected`.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Problem {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'static str,
    #[serde(serialize_with = "status_code")]
    status: StatusCode,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(flatten)]
    extensions: Map<String, Value>,
}

fn status_code<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    pub(super) fn new(
        status: StatusCode,
        kind: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            type_uri: format!("urn:genesys-bridge:problem:{kind}"),
            title,
            status,
            detail: detail.into(),
            request_id: None,
            extensions: Map::new(),
        }
    }

    /// Adds a member beside the standard ones (`reason`, `errors`, …).
    pub(super) fn with(mut self, name: &str, value: impl Serialize) -> Self {
        self.extensions.insert(
            name.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// A low-cardinality reason for metrics: the `reason` member when there is one (signature
    /// rejections), else the kind of the `type`.
    pub(super) fn reason(&self) -> &str {
        match self.extensions.get("reason") {
            Some(Value::String(reason)) => reason,
            _ => self.type_uri.rsplit(':').next().unwrap_or(""),
        }
    }

    fn to_response(&self) -> Response {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}

impl IntoResponse for Problem {
    /// The body is complete without a request id; [`finish`] adds it on the way out, since the
    /// code that decides on an error should not have to carry the id around.
    fn into_response(self) -> Response {
        let mut response = self.to_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Middleware: puts the request id into problem bodies, and turns the bodyless or plain-text
/// errors of lower layers (405, 408, 413, …) into problems too.
pub(super) async fn finish(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let response = next.run(request).await;
    let problem = match response.extensions().get::<Problem>() {
        Some(problem) => problem.clone(),
        None if needs_problem_body(&response) => generic(response.status()),
        None => return response,
    };
    let problem = Problem {
        request_id,
        ..problem
    };
    let (mut parts, _) = response.into_parts();
    let fresh = problem.to_response();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    parts.headers.remove(header::CONTENT_LENGTH);
    let (_, body) = fresh.into_parts();
    Response::from_parts(parts, body)
}

fn needs_problem_body(response: &Response) -> bool {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    (status.is_client_error() || status.is_server_error()) && !json
}

fn generic(status: StatusCode) -> Problem {
    let (kind, title, detail) = match status {
        StatusCode::NOT_FOUND => (
            "not-found",
            "Not found",
            "No such endpoint; see openapi.yaml for the ones that exist.".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "Method not allowed",
            "This endpoint does not take that method.".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload-too-large",
            "Payload too large",
            "The request body is larger than server.max_body_bytes allows.".to_owned(),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request-timeout",
            "Request timeout",
            "The request was not received completely in time.".to_owned(),
        ),
        StatusCode::INTERNAL_SERVER_ERROR => (
            "internal",
            "Internal error",
            "The bridge failed unexpectedly; the request id identifies it in the logs.".to_owned(),
        ),
        other => (
            "http-error",
            "HTTP error",
            other.canonical_reason().unwrap_or("error").to_owned(),
        ),
    };
    Problem::new(status, kind, title, detail)
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use axum_test::TestServer;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route(
                "/typed",
                get(|| async {
                    Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "mapping-failed",
                        "Mapping failed",
                        "2 fields",
                    )
                    .with("errors", ["a", "b"])
                }),
            )
            .route(
                "/plain",
                get(|| async { (StatusCode::BAD_GATEWAY, "upstream says no") }),
            )
            .layer(axum::middleware::from_fn(finish))
    }

    #[tokio::test]
    async fn typed_problems_carry_the_request_id_and_extensions() {
        let server = TestServer::new(app());
        let response = server
            .get("/typed")
            .add_header("x-request-id", "req-1")
            .await;
        response.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.header("content-type"), CONTENT_TYPE);
        let body: Value = response.json();
        assert_eq!(body["type"], "urn:genesys-bridge:problem:mapping-failed");
        assert_eq!(body["status"], 422);
        assert_eq!(body["request_id"], "req-1");
        assert_eq!(body["errors"], serde_json::json!(["a", "b"]));
    }

    #[tokio::test]
    async fn plain_errors_of_other_layers_become_problems() {
        let server = TestServer::new(app());
        let response = server.get("/plain").await;
        response.assert_status(StatusCode::BAD_GATEWAY);
        assert_eq!(response.header("content-type"), CONTENT_TYPE);
        let missing = server.get("/nowhere").await;
        missing.assert_status_not_found();
        assert_eq!(
            missing.json::<Value>()["type"],
            "urn:genesys-bridge:problem:not-found"
        );
    }
}
