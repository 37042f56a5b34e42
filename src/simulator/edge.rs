//! The outermost middleware: every response gets its correlation id and, on Genesys paths, its
//! error body; Genesys-path requests are bounded, counted and recorded.

use std::future::poll_fn;
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Simulator;
use super::errors::{ApiError, render_deferred};
use super::model::now_timestamp;
use super::recorder::{RecordedRequest, loggable_body, loggable_headers};

pub(crate) const CORRELATION_HEADER: HeaderName = HeaderName::from_static("inin-correlation-id");
pub(crate) const TOKEN_PATH: &str = "/oauth/token";

/// Control paths live under `/sim`, which Genesys never uses; everything else is Genesys.
pub(crate) fn is_control_path(path: &str) -> bool {
    path == "/sim" || path.starts_with("/sim/")
}

pub(crate) async fn edge(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    let correlation_id = uuid::Uuid::new_v4().to_string();
    if !is_control_path(request.uri().path()) {
        return genesys_request(&sim, request, next, &correlation_id).await;
    }
    let mut response = next.run(request).await;
    stamp(&mut response, &correlation_id);
    response
}

async fn genesys_request(
    sim: &Simulator,
    request: Request,
    next: Next,
    correlation_id: &str,
) -> Response {
    let (parts, body) = request.into_parts();
    // One byte over the limit is enough for the handlers to answer 413, and reading no further
    // keeps an oversized upload from costing more memory than an allowed one.
    let cap = sim.config().max_body_bytes.saturating_add(1);
    let read = read_capped(body, cap).await;
    let recording = Recording::start(sim, &parts, read.as_ref().map_or(&[][..], |b| &b[..]));
    let mut response = match read {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => ApiError::bad_request("The request body could not be read").into_response(),
    };
    // Stamped before recording so the log holds the status the client really got.
    stamp(&mut response, correlation_id);
    recording.finish(response.status());
    response
}

fn stamp(response: &mut Response, correlation_id: &str) {
    render_deferred(response, correlation_id);
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
}

/// Reads at most `cap` bytes of the body; anything beyond is left unread.
async fn read_capped(mut body: Body, cap: usize) -> Result<Bytes, axum::Error> {
    let mut buf = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let room = cap.saturating_sub(buf.len());
        if data.len() >= room {
            buf.extend_from_slice(data.get(..room).unwrap_or(&data));
            break;
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

/// A request being handled. It is logged when answered, or with status 499 when the client
/// goes away first (the handler future is dropped), so a client that timed out still shows up.
struct Recording {
    sim: Simulator,
    seq: u64,
    entry: Option<RecordedRequest>,
}

impl Recording {
    fn start(sim: &Simulator, parts: &Parts, body: &[u8]) -> Self {
        let path = parts.uri.path().to_owned();
        let entry = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: loggable_headers(&parts.headers),
            body: loggable_body(body),
            status: 499,
            received_at: now_timestamp(),
            path,
        };
        let mut state = sim.state();
        if entry.path == TOKEN_PATH {
            state.stats.token_requests += 1;
        } else {
            state.stats.api_requests += 1;
        }
        let seq = state.log.arrive();
        drop(state);
        Self {
            sim: sim.clone(),
            seq,
            entry: Some(entry),
        }
    }

    fn finish(mut self, status: StatusCode) {
        if let Some(mut entry) = self.entry.take() {
            entry.status = status.as_u16();
            self.sim.state().log.finish(self.seq, entry);
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.sim.state().log.finish(self.seq, entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_read_up_to_the_cap() {
        let small = read_capped(Body::from("hello"), 10).await.unwrap();
        assert_eq!(&small[..], b"hello");
        let capped = read_capped(Body::from("hello world"), 6).await.unwrap();
        assert_eq!(&capped[..], b"hello ");
        let exact = read_capped(Body::from("hello"), 5).await.unwrap();
        assert_eq!(&exact[..], b"hello");
    }

    #[test]
    fn only_sim_paths_are_control_paths() {
        assert!(is_control_path("/sim"));
        assert!(is_control_path("/sim/requests"));
        assert!(!is_control_path("/simulate"));
        assert!(!is_control_path("/api/v2/conversations/sim"));
    }
}
