//! Injected faults: latency and error answers queued for the next matching Genesys requests.

use axum::http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

/// One fault, as `POST /sim/faults` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// The request path to match exactly, or a prefix when it ends in `*`.
    pub path: String,
    /// The method to match (any case); any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// How many matching requests this fault applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// The status to answer with; the request proceeds normally (after any latency) when absent.
    #[serde(default)]
    pub status: Option<u16>,
    /// Sent verbatim as `Retry-After`: delay seconds or an HTTP date.
    #[serde(default)]
    pub retry_after: Option<String>,
    /// How long to wait before answering or proceeding.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// The error `code`; derived from the status when absent.
    #[serde(default)]
    pub code: Option<String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault on `path` that applies once and does nothing until configured.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            method: None,
            count: 1,
            status: None,
            retry_after: None,
            latency_ms: None,
            code: None,
        }
    }

    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }

    pub fn with_latency_ms(mut self, latency_ms: u64) -> Self {
        self.latency_ms = Some(latency_ms);
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Why the control API should refuse this fault, if it should. The typed API accepts
    /// anything and degrades instead (see [`Fault::status_code`]).
    pub(crate) fn problem(&self) -> Option<String> {
        if self.count == 0 {
            return Some("count must be at least 1".to_owned());
        }
        if let Some(status) = self.status
            && !(400..=599).contains(&status)
        {
            return Some(format!("status {status} is not an error status (400-599)"));
        }
        if let Some(value) = &self.retry_after
            && HeaderValue::from_str(value).is_err()
        {
            return Some("retry_after is not a valid header value".to_owned());
        }
        None
    }

    /// The status to answer with; an out-of-range status becomes 500 rather than a panic.
    pub(crate) fn status_code(&self) -> Option<StatusCode> {
        self.status
            .map(|s| StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
    }

    /// The `Retry-After` header to send; a value that is not a valid header is dropped.
    pub(crate) fn retry_after_header(&self) -> Option<HeaderValue> {
        self.retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let path_matches = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        };
        path_matches
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// Identifies an injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultId(pub u64);

/// A queued fault and how many more requests it will apply to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveFault {
    pub id: FaultId,
    pub remaining: u32,
    pub fault: Fault,
}

#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    next_id: u64,
    active: Vec<ActiveFault>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault) -> FaultId {
        self.next_id += 1;
        let id = FaultId(self.next_id);
        if fault.count > 0 {
            self.active.push(ActiveFault {
                id,
                remaining: fault.count,
                fault,
            });
        }
        id
    }

    /// Consumes one use of the first matching fault, oldest first; spent faults are dropped.
    pub(crate) fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self
            .active
            .iter()
            .position(|active| active.remaining > 0 && active.fault.matches(method, path))?;
        let active = self.active.get_mut(index)?;
        active.remaining -= 1;
        let fault = active.fault.clone();
        if active.remaining == 0 {
            self.active.remove(index);
        }
        Some(fault)
    }

    pub(crate) fn list(&self) -> Vec<ActiveFault> {
        self.active.clone()
    }

    pub(crate) fn clear(&mut self) {
        self.active.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_count_times_in_queue_order() {
        let mut queue = FaultQueue::default();
        queue.push(Fault::new("/a").with_status(503).times(2));
        queue.push(Fault::new("/a").with_status(500));
        let statuses: Vec<_> = std::iter::from_fn(|| queue.take("GET", "/a"))
            .map(|f| f.status)
            .collect();
        assert_eq!(statuses, [Some(503), Some(503), Some(500)]);
        assert!(queue.list().is_empty());
    }

    #[test]
    fn star_suffix_is_a_prefix_and_method_is_case_insensitive() {
        let mut queue = FaultQueue::default();
        queue.push(Fault::new("/api/v2/conversations/*").with_method("patch"));
        assert!(queue.take("GET", "/api/v2/conversations/c").is_none());
        assert!(queue.take("PATCH", "/oauth/token").is_none());
        assert!(
            queue
                .take("PATCH", "/api/v2/conversations/c/participants/p/attributes")
                .is_some()
        );
    }

    #[test]
    fn control_api_refuses_nonsense() {
        assert!(Fault::new("/a").times(0).problem().is_some());
        assert!(Fault::new("/a").with_status(200).problem().is_some());
        assert!(
            Fault::new("/a")
                .with_retry_after("a\nb")
                .problem()
                .is_some()
        );
        assert!(
            Fault::new("/a")
                .with_status(503)
                .with_retry_after("Wed, 21 Oct 2026 07:28:00 GMT")
                .problem()
                .is_none()
        );
    }

    #[test]
    fn fault_json_defaults_count_to_one() {
        let fault: Fault =
            serde_json::from_str(r#"{"path": "/oauth/token", "status": 503}"#).unwrap();
        assert_eq!(fault.count, 1);
        assert_eq!(fault.status_code(), Some(StatusCode::SERVICE_UNAVAILABLE));
    }
}
