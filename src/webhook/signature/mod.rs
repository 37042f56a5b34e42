//! Webhook signature schemes: pure, synchronous checks on the raw body bytes.
//!
//! The server, the `sign` CLI and the tests share these functions, so nothing here does I/O or
//! reads the clock: the caller passes `now`. A request either comes out as [`Verified`] or is
//! rejected with a [`SignatureError`] whose message names the header at fault and never a secret
//! or an expected signature.
//!
//! The rules each scheme follows (signed bytes, encodings, timestamps, pitfalls) are those of
//! `shared/webhook-signatures.md`; every vector from that sheet is a unit test here.

mod credential;
mod error;
mod generic;
mod github;
mod header;
mod hubspot;
mod mac;
mod percent;
mod scheme;
mod secret;
mod shopify;
mod slack;
mod standard;
mod stripe;
mod template;
mod timestamp;
mod verifier;
mod zendesk;

#[cfg(test)]
mod test_support;

use axum::http::{HeaderMap, Method, Uri};
use time::OffsetDateTime;

pub use error::{ConfigError, SignatureError};
pub use scheme::{Encoding, GenericHmac, Scheme, StandardHeaderNames, TimestampFormat};
pub use secret::{Secret, SecretError};
pub use verifier::{DEFAULT_TOLERANCE, Verifier};

/// The parts of a received request that a scheme may sign, borrowed from the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct IncomingRequest<'a> {
    pub method: &'a Method,
    /// Path and query exactly as received (HubSpot appends the query to its public URL).
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// The raw body: never re-serialised, never trimmed.
    pub body: &'a [u8],
}

/// Proof that a request passed its source's verifier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// The sender's event id from the scheme's id header, if it sent one. Only Standard Webhooks
    /// signs it; elsewhere it is good for de-duplicating retries, not for stopping replays.
    pub event_id: Option<String>,
    /// The signed timestamp, for schemes that have one.
    pub timestamp: Option<OffsetDateTime>,
    /// A key to remember for at least the tolerance window to stop replays: the event id when the
    /// signature covers it, else the hex SHA-256 of the matched signature (an attacker cannot
    /// change either without breaking the signature). `None` for credential schemes and `None`.
    pub replay_key: Option<String>,
}

/// What the `sign` CLI and tests want signed.
#[derive(Clone, Copy, Debug)]
pub struct SignRequest<'a> {
    pub method: &'a Method,
    /// Path and query the request will be sent to (HubSpot signs its query, `{path}` in a
    /// generic template signs all of it).
    pub path_and_query: &'a str,
    pub body: &'a [u8],
    /// The event id to send where the scheme has an id header; Standard Webhooks derives one
    /// from the content when absent, since its id is part of the signed bytes.
    pub event_id: Option<&'a str>,
}

/// Headers (and, for `QueryKey`, one query parameter) that make a request pass verification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignedParts {
    /// Header names in lowercase, values ready to send.
    pub headers: Vec<(String, String)>,
    /// Name and value, NOT percent-encoded: add them with a URL builder that encodes.
    pub query: Option<(String, String)>,
}
