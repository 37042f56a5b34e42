//! Why a request or a verifier was rejected.
//!
//! Messages say what was wrong and in which header, and never echo a secret, a presented
//! credential or the expected signature: they end up in logs and problem responses.

/// Why a request failed verification (or could not be signed).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing header {header}")]
    MissingHeader { header: String },
    #[error("header {header} was sent more than once")]
    DuplicateHeader { header: String },
    #[error("malformed header {header}: {reason}")]
    MalformedHeader { header: String, reason: String },
    #[error("timestamp is {age_secs}s old, more than the {tolerance_secs}s tolerance")]
    StaleTimestamp { age_secs: u64, tolerance_secs: u64 },
    #[error("timestamp is {ahead_secs}s in the future, more than the {tolerance_secs}s tolerance")]
    FutureTimestamp {
        ahead_secs: u64,
        tolerance_secs: u64,
    },
    #[error("no signature matched any active secret")]
    NoMatch,
    #[error("every configured secret has expired")]
    NoActiveSecret,
    #[error("no credential was presented")]
    MissingCredential,
    #[error("the presented credential is not accepted")]
    InvalidCredential,
    #[error("query parameter {param} was sent more than once")]
    DuplicateParameter { param: String },
}

impl SignatureError {
    /// A stable `snake_case` code for metrics, logs and problem responses.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader { .. } => "missing_header",
            Self::DuplicateHeader { .. } => "duplicate_header",
            Self::MalformedHeader { .. } => "malformed_header",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::FutureTimestamp { .. } => "future_timestamp",
            Self::NoMatch => "no_match",
            Self::NoActiveSecret => "no_active_secret",
            Self::MissingCredential => "missing_credential",
            Self::InvalidCredential => "invalid_credential",
            Self::DuplicateParameter { .. } => "duplicate_parameter",
        }
    }

    pub(super) fn missing(header: &str) -> Self {
        Self::MissingHeader {
            header: header.to_owned(),
        }
    }

    pub(super) fn malformed(header: &str, reason: impl Into<String>) -> Self {
        Self::MalformedHeader {
            header: header.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Why a verifier could not be built: caught at startup so a source never runs unprotected.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("scheme {scheme} needs at least one secret")]
    NoSecrets { scheme: &'static str },
    #[error("scheme none takes no secrets; remove them or choose a signing scheme")]
    SecretsNotAllowed,
    #[error("a secret was parsed for scheme {parsed_for}, not {scheme}")]
    SecretSchemeMismatch {
        scheme: &'static str,
        parsed_for: &'static str,
    },
    #[error("{field} is not a valid header name")]
    InvalidHeaderName { field: &'static str },
    #[error("query parameter name must not be empty")]
    EmptyParameter,
    #[error("public_url {reason}")]
    InvalidPublicUrl { reason: &'static str },
    #[error("template {reason}")]
    InvalidTemplate { reason: String },
    #[error("timestamp_header is set but the template does not sign {{timestamp}}")]
    UnsignedTimestamp,
    #[error("the template signs {{timestamp}} but no timestamp_header is set")]
    MissingTimestampHeader,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_header_at_fault() {
        let err = SignatureError::malformed("x-hub-signature-256", "missing sha256= prefix");
        assert_eq!(
            err.to_string(),
            "malformed header x-hub-signature-256: missing sha256= prefix"
        );
        assert_eq!(err.reason(), "malformed_header");
        assert_eq!(
            SignatureError::missing("webhook-id").to_string(),
            "missing header webhook-id"
        );
    }

    #[test]
    fn reasons_are_stable_snake_case() {
        let all = [
            SignatureError::missing("a"),
            SignatureError::DuplicateHeader { header: "a".into() },
            SignatureError::malformed("a", "b"),
            SignatureError::StaleTimestamp {
                age_secs: 1,
                tolerance_secs: 0,
            },
            SignatureError::FutureTimestamp {
                ahead_secs: 1,
                tolerance_secs: 0,
            },
            SignatureError::NoMatch,
            SignatureError::NoActiveSecret,
            SignatureError::MissingCredential,
            SignatureError::InvalidCredential,
            SignatureError::DuplicateParameter { param: "a".into() },
        ];
        for err in all {
            let reason = err.reason();
            assert!(
                reason.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{reason}"
            );
        }
    }
}
