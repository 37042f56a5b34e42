//! Reading Genesys answers: the correlation id, error bodies, transport failures.

use std::time::SystemTime;

use reqwest::header::HeaderMap;

use super::error::{ApiFailure, GenesysError, Operation};
use super::retry::parse_retry_after;

pub(crate) const CORRELATION_HEADER: &str = "inin-correlation-id";

/// Error messages are kept short: they end up in logs, dead letters and problem details.
const MAX_MESSAGE_CHARS: usize = 500;

pub(crate) fn correlation_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Turns a non-2xx response into an [`ApiFailure`]; `parse` pulls `(code, message)` out of the
/// body, whose shape differs between the token endpoint and the API.
pub(crate) async fn read_failure(
    response: reqwest::Response,
    parse: impl FnOnce(&[u8]) -> (Option<String>, Option<String>),
) -> ApiFailure {
    let status = response.status();
    let correlation_id = correlation_id(response.headers());
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = response.bytes().await.unwrap_or_default();
    let (code, message) = parse(&body);
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    ApiFailure {
        status: status.as_u16(),
        code,
        message: message.chars().take(MAX_MESSAGE_CHARS).collect(),
        correlation_id,
        retry_after,
    }
}

pub(crate) fn transport_error(operation: Operation, err: &reqwest::Error) -> GenesysError {
    // reqwest's Display includes the URL, which never carries credentials here; walk the source
    // chain so "connection refused" is visible, not just "error sending request".
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    GenesysError::Transport {
        operation,
        message,
        timed_out: err.is_timeout(),
    }
}
