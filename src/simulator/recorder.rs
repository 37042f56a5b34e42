//! The log of Genesys-path requests that `/sim/requests` exposes, without secrets.

use std::collections::{BTreeMap, VecDeque};

use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};

/// How many requests the log keeps; older ones are dropped first.
const CAPACITY: usize = 10_000;
/// Bodies are logged up to this size, so a burst of large requests cannot exhaust memory.
const BODY_LOG_LIMIT: usize = 64 * 1024;

/// One request the simulator answered on a Genesys path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Lower-case names; repeated headers joined with `, `; credentials redacted.
    pub headers: BTreeMap<String, String>,
    /// Lossy UTF-8, at most 64 KiB, form-encoded `client_secret` redacted.
    pub body: String,
    /// The status answered; 499 when the client went away before the answer.
    pub status: u16,
    pub received_at: String,
}

#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    /// Ordered by arrival sequence number, which is assigned before the request is handled.
    entries: VecDeque<(u64, RecordedRequest)>,
    next_seq: u64,
    /// Requests that arrived before the last clear are not logged when they finish.
    floor: u64,
}

impl RequestLog {
    /// Reserves the arrival position of a request that is about to be handled.
    pub(crate) fn arrive(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Logs a finished request at its arrival position, so slow requests do not reorder the log.
    pub(crate) fn finish(&mut self, seq: u64, request: RecordedRequest) {
        if seq < self.floor {
            return;
        }
        let at = self.entries.partition_point(|(s, _)| *s < seq);
        self.entries.insert(at, (seq, request));
        while self.entries.len() > CAPACITY {
            self.entries.pop_front();
        }
    }

    pub(crate) fn list(&self) -> Vec<RecordedRequest> {
        self.entries.iter().map(|(_, r)| r.clone()).collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.floor = self.next_seq;
    }
}

/// The headers as logged: credentials keep only their scheme.
pub(crate) fn loggable_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let value = if name == header::AUTHORIZATION || name == header::PROXY_AUTHORIZATION {
            redact_credentials(&value)
        } else {
            value.into_owned()
        };
        out.entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

fn redact_credentials(value: &str) -> String {
    match value.trim().split_once(' ') {
        Some((scheme, _)) => format!("{scheme} <redacted>"),
        None => "<redacted>".to_owned(),
    }
}

/// The body as logged: lossy UTF-8, truncated, with a form-posted client secret redacted.
pub(crate) fn loggable_body(body: &[u8]) -> String {
    let shown = body.get(..BODY_LOG_LIMIT).unwrap_or(body);
    let mut text = String::from_utf8_lossy(shown).into_owned();
    if text.contains("client_secret=") {
        text = text
            .split('&')
            .map(|pair| {
                if pair.starts_with("client_secret=") {
                    "client_secret=<redacted>"
                } else {
                    pair
                }
            })
            .collect::<Vec<_>>()
            .join("&");
    }
    if shown.len() < body.len() {
        text.push_str(&format!("...[{} more bytes]", body.len() - shown.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn request(path: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".to_owned(),
            path: path.to_owned(),
            query: None,
            headers: BTreeMap::new(),
            body: String::new(),
            status: 200,
            received_at: String::new(),
        }
    }

    #[test]
    fn slow_requests_keep_their_arrival_position() {
        let mut log = RequestLog::default();
        let slow = log.arrive();
        let fast = log.arrive();
        log.finish(fast, request("/fast"));
        log.finish(slow, request("/slow"));
        let paths: Vec<_> = log.list().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/slow", "/fast"]);
    }

    #[test]
    fn requests_in_flight_during_a_clear_are_not_logged() {
        let mut log = RequestLog::default();
        let before = log.arrive();
        log.clear();
        log.finish(before, request("/old"));
        let after = log.arrive();
        log.finish(after, request("/new"));
        assert_eq!(log.list().len(), 1);
    }

    #[test]
    fn log_keeps_only_the_latest_entries() {
        let mut log = RequestLog::default();
        for i in 0..CAPACITY + 5 {
            let seq = log.arrive();
            log.finish(seq, request(&format!("/{i}")));
        }
        let list = log.list();
        assert_eq!(list.len(), CAPACITY);
        assert_eq!(list[0].path, "/5");
    }

    #[test]
    fn credentials_keep_only_their_scheme() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let logged = loggable_headers(&headers);
        assert_eq!(logged["authorization"], "Bearer <redacted>");
        assert_eq!(logged["x-a"], "1, 2");
        assert!(!format!("{logged:?}").contains("s3cret"));
    }

    #[test]
    fn bodies_are_truncated_and_form_secrets_redacted() {
        let body = loggable_body(b"grant_type=client_credentials&client_secret=s3cret");
        assert_eq!(
            body,
            "grant_type=client_credentials&client_secret=<redacted>"
        );
        let big = vec![b'x'; BODY_LOG_LIMIT + 10];
        assert!(loggable_body(&big).ends_with("...[10 more bytes]"));
    }
}
