//! What stands between a Genesys request and its handler: injected faults first (so a fault
//! can hit even an unauthenticated request, as an outage would), then authentication and the
//! rate limit on API routes.

use std::borrow::Cow;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::Simulator;
use super::edge::TOKEN_PATH;
use super::errors::{ApiError, OAuthError, default_code, default_oauth_error, rate_limit_message};
use super::faults::Fault;
use super::rate_limit::Admission;
use super::tokens::{TokenStatus, credentials};

/// Counts the matched route, then serves the first queued fault that matches, if any.
pub(crate) async fn gate(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let fault = {
        let mut state = sim.state();
        if let Some(template) = request.extensions().get::<MatchedPath>() {
            *state
                .stats
                .requests_by_route
                .entry(format!("{method} {}", template.as_str()))
                .or_default() += 1;
        }
        let fault = state.faults.take(&method, &path);
        if fault.is_some() {
            state.stats.faults_served += 1;
        }
        fault
    };
    let Some(fault) = fault else {
        return next.run(request).await;
    };
    if let Some(latency_ms) = fault.latency_ms {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    match fault.status_code() {
        None => next.run(request).await,
        Some(status) => fault_response(&fault, status, path == TOKEN_PATH),
    }
}

fn fault_response(fault: &Fault, status: StatusCode, token_endpoint: bool) -> Response {
    let retry_after = fault.retry_after_header();
    let reason = status.canonical_reason().unwrap_or("Simulated fault");
    if token_endpoint {
        let error = fault
            .code
            .clone()
            .map_or(Cow::Borrowed(default_oauth_error(status)), Cow::Owned);
        return OAuthError::new(status, error, reason)
            .with_retry_after(retry_after)
            .into_response();
    }
    let code = fault
        .code
        .clone()
        .map_or(Cow::Borrowed(default_code(status)), Cow::Owned);
    let delay_secs = fault.retry_after.as_deref().and_then(|v| v.parse().ok());
    let message = match delay_secs {
        Some(secs) if status == StatusCode::TOO_MANY_REQUESTS => rate_limit_message(secs),
        _ => reason.to_owned(),
    };
    ApiError::new(status, code, message)
        .with_retry_after(retry_after)
        .into_response()
}

/// Requires a live bearer token, then admits the request against the token's rate limit.
pub(crate) async fn authorize(
    State(sim): State<Simulator>,
    request: Request,
    next: Next,
) -> Response {
    let verdict = match credentials(request.headers().get(header::AUTHORIZATION), "bearer") {
        Some(token) if !token.is_empty() => admit(&sim, token),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        )),
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

fn admit(sim: &Simulator, token: &str) -> Result<(), ApiError> {
    let now = Instant::now();
    let mut state = sim.state();
    match state.tokens.status(token, now) {
        TokenStatus::Unknown => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "Invalid login credentials.",
        )),
        TokenStatus::Expired => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "credentials.expired",
            "The provided access token has expired.",
        )),
        TokenStatus::Valid => match state.limiter.admit(token, now) {
            Admission::Allowed => Ok(()),
            Admission::Limited { retry_after_secs } => {
                state.stats.rate_limited += 1;
                Err(ApiError::rate_limited(retry_after_secs))
            }
        },
    }
}
