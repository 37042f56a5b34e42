//! The HTTP surface: one router over the [`AppState`], one file per resource (`webhooks`,
//! `calls` for the IVR, `deliveries`, `health`), who may call what (`credentials`), the bodies several resources share
//! (`views`) and problem+json for every error ([`problem`], with a `From` impl per error type).

mod calls;
mod credentials;
mod deliveries;
mod health;
mod problem;
mod views;
mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let max_body = state.max_body_bytes;
    Router::new()
        .route("/webhooks/{source}", post(webhooks::receive))
        .route("/v1/calls", post(calls::register))
        .route("/v1/calls/{conversationId}/data", get(calls::data))
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/replay", post(deliveries::replay_many))
        .route("/deliveries/{id}", get(deliveries::get_one))
        .route("/deliveries/{id}/replay", post(deliveries::replay_one))
        .route("/health/live", get(health::live))
        .route("/metrics", get(metrics))
        .route("/health/ready", get(health::ready))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(drop_unusable_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(problem::finish))
                .layer(CatchPanicLayer::new())
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    request_timeout,
                )),
        )
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Longest incoming `X-Request-Id` kept; a longer one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// An incoming `X-Request-Id` is kept only if a person can read it and search logs for it
/// (visible ASCII, not too long); otherwise the bridge makes its own.
async fn drop_unusable_request_id(
    mut request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let usable = request.headers().get(problem::REQUEST_ID_HEADER).map(|v| {
        v.len() <= MAX_REQUEST_ID
            && !v.is_empty()
            && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    });
    if usable == Some(false) {
        request.headers_mut().remove(problem::REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// The path only: a query string can carry a credential (`?code=`).
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(problem::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
}
