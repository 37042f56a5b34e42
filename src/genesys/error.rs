//! What can go wrong talking to Genesys, with everything an operator needs to act on it: the HTTP
//! status, Genesys' `code` and `message`, and the `ININ-Correlation-Id` to quote to Genesys support.

use std::fmt;
use std::time::{Duration, SystemTime};

/// Which Genesys call failed; low-cardinality, safe as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Token,
    GetConversation,
    PatchAttributes,
    PatchSecureAttributes,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Token => "token",
            Operation::GetConversation => "get_conversation",
            Operation::PatchAttributes => "patch_attributes",
            Operation::PatchSecureAttributes => "patch_secure_attributes",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-2xx answer from Genesys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    /// Genesys' `code` (`too.many.requests.retry.after`), or the OAuth `error` on the token endpoint.
    pub code: Option<String>,
    pub message: String,
    pub correlation_id: Option<String>,
    /// The parsed `Retry-After`, when the answer had one.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.correlation_id {
            write!(f, " (ININ-Correlation-Id {id})")?;
        }
        Ok(())
    }
}

/// Every way a Genesys operation can end without success. `Clone` so that callers waiting on one
/// shared token request all receive its outcome.
#[derive(Clone, Debug, thiserror::Error)]
pub enum GenesysError {
    /// The token endpoint refused the client id or secret: a configuration problem, not retried.
    #[error(
        "Genesys refused the OAuth client credentials ({0}); check genesys.client_id and genesys.client_secret"
    )]
    BadCredentials(ApiFailure),
    /// Genesys answered with an error status (after any retries the policy allowed).
    #[error("Genesys {operation} failed: {failure}")]
    Api {
        operation: Operation,
        failure: ApiFailure,
    },
    /// Genesys asked us to wait longer than this call may take: try again at `at`.
    #[error("Genesys {operation} is rate limited: retry after {}s ({failure})", after.as_secs())]
    RetryAt {
        operation: Operation,
        after: Duration,
        at: SystemTime,
        failure: Box<ApiFailure>,
    },
    /// No answer: connection refused or reset, DNS, TLS, or a timeout.
    #[error("Genesys {operation} got no answer: {message}")]
    Transport {
        operation: Operation,
        message: String,
        timed_out: bool,
    },
    /// A 2xx whose body is not what the contract promises.
    #[error("Genesys {operation} answered with an unexpected body: {message}")]
    InvalidResponse {
        operation: Operation,
        message: String,
        correlation_id: Option<String>,
    },
    #[error("conversation {conversation_id} was not found in Genesys ({failure})")]
    ConversationNotFound {
        conversation_id: String,
        failure: ApiFailure,
    },
    #[error("conversation {conversation_id} has ended")]
    ConversationEnded { conversation_id: String },
    #[error(
        "conversation {conversation_id} has no present participant with purpose {}", purposes.join(" or ")
    )]
    NoParticipant {
        conversation_id: String,
        purposes: Vec<String>,
    },
}

impl GenesysError {
    fn failure(&self) -> Option<&ApiFailure> {
        match self {
            GenesysError::BadCredentials(f)
            | GenesysError::Api { failure: f, .. }
            | GenesysError::ConversationNotFound { failure: f, .. } => Some(f),
            GenesysError::RetryAt { failure, .. } => Some(failure),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.failure().map(|f| f.status)
    }

    /// Genesys' error `code`, when it sent one.
    pub fn code(&self) -> Option<&str> {
        self.failure().and_then(|f| f.code.as_deref())
    }

    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            GenesysError::InvalidResponse { correlation_id, .. } => correlation_id.as_deref(),
            _ => self.failure().and_then(|f| f.correlation_id.as_deref()),
        }
    }

    /// Worth trying again later (the durable queue reschedules these); everything else needs a
    /// person: a payload, permission or configuration problem, or a conversation that is gone.
    pub fn is_transient(&self) -> bool {
        match self {
            GenesysError::RetryAt { .. } | GenesysError::Transport { .. } => true,
            GenesysError::Api { failure, .. } => {
                matches!(failure.status, 408 | 429 | 502 | 503 | 504)
            }
            _ => false,
        }
    }

    /// When Genesys told us to come back (a 429 whose `Retry-After` outlasted the call's budget).
    pub fn retry_at(&self) -> Option<SystemTime> {
        match self {
            GenesysError::RetryAt { at, .. } => Some(*at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16) -> ApiFailure {
        ApiFailure {
            status,
            code: Some("service.unavailable".into()),
            message: "try later".into(),
            correlation_id: Some("corr-1".into()),
            retry_after: None,
        }
    }

    #[test]
    fn display_carries_status_code_message_and_correlation_id() {
        let err = GenesysError::Api {
            operation: Operation::PatchAttributes,
            failure: failure(503),
        };
        assert_eq!(
            err.to_string(),
            "Genesys patch_attributes failed: HTTP 503 service.unavailable: try later (ININ-Correlation-Id corr-1)"
        );
        assert_eq!(err.status(), Some(503));
        assert_eq!(err.correlation_id(), Some("corr-1"));
        assert!(err.is_transient());
    }

    #[test]
    fn payload_and_permission_errors_are_not_transient() {
        for status in [400, 403, 404, 409, 413, 501] {
            let err = GenesysError::Api {
                operation: Operation::PatchAttributes,
                failure: failure(status),
            };
            assert!(!err.is_transient(), "{status}");
        }
        assert!(!GenesysError::BadCredentials(failure(401)).is_transient());
    }
}
