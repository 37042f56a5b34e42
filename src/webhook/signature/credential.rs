//! Shared-credential schemes for senders that do not sign bodies: HTTP Basic, a static header
//! token, or a query key such as Dataverse's `?code=`.
//!
//! Both sides are hashed with SHA-256 before a constant-time comparison, so neither the content
//! nor the length of the secret leaks through timing, and every active secret is compared (no
//! early exit) so timing does not tell which one matched.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{IncomingRequest, Secret, SignatureError, SignedParts, Verified, header, percent};

const AUTHORIZATION: &str = "authorization";

pub(super) fn verify_basic(
    req: &IncomingRequest<'_>,
    keys: &[&Secret],
) -> Result<Verified, SignatureError> {
    let value = header::optional(req.headers, AUTHORIZATION)?
        .filter(|value| !value.is_empty())
        .ok_or(SignatureError::MissingCredential)?;
    let malformed = || SignatureError::malformed(AUTHORIZATION, "expected Basic <base64>");
    let (scheme, encoded) = value.split_once(' ').ok_or_else(malformed)?;
    // The scheme name is case-insensitive (RFC 9110, section 11.1).
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let presented = STANDARD
        .decode(encoded.trim())
        .map_err(|_| SignatureError::malformed(AUTHORIZATION, "credentials are not base64"))?;
    matches_any(&presented, keys)
}

pub(super) fn verify_header(
    name: &str,
    req: &IncomingRequest<'_>,
    keys: &[&Secret],
) -> Result<Verified, SignatureError> {
    let value = header::optional(req.headers, name)?
        .filter(|value| !value.is_empty())
        .ok_or(SignatureError::MissingCredential)?;
    matches_any(value.as_bytes(), keys)
}

pub(super) fn verify_query(
    param: &str,
    req: &IncomingRequest<'_>,
    keys: &[&Secret],
) -> Result<Verified, SignatureError> {
    let pairs = req.uri.query().unwrap_or_default().split('&');
    let mut values = pairs
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .filter(|(name, _)| decode(name) == param.as_bytes())
        .map(|(_, value)| value);
    let value = values.next().ok_or(SignatureError::MissingCredential)?;
    if values.next().is_some() {
        return Err(SignatureError::DuplicateParameter {
            param: param.to_owned(),
        });
    }
    if value.is_empty() {
        return Err(SignatureError::MissingCredential);
    }
    matches_any(&decode(value), keys)
}

/// Keys are not form-encoded: a literal `+` in one must stay a `+`, which `percent` ensures.
fn decode(text: &str) -> Vec<u8> {
    percent::decode(text.as_bytes(), |_| true)
}

fn matches_any(presented: &[u8], keys: &[&Secret]) -> Result<Verified, SignatureError> {
    let presented = Sha256::digest(presented);
    let matched = keys.iter().fold(Choice::from(0), |found, key| {
        found
            | Sha256::digest(key.bytes())
                .as_slice()
                .ct_eq(presented.as_slice())
    });
    if bool::from(matched) {
        Ok(Verified::default())
    } else {
        Err(SignatureError::InvalidCredential)
    }
}

pub(super) fn sign_basic(key: &[u8]) -> SignedParts {
    SignedParts {
        headers: vec![(
            AUTHORIZATION.to_owned(),
            format!("Basic {}", STANDARD.encode(key)),
        )],
        query: None,
    }
}

pub(super) fn sign_header(name: &str, key: &[u8]) -> SignedParts {
    SignedParts {
        // Header tokens are checked to be header-safe text when parsed, so nothing is lost.
        headers: vec![(
            name.to_ascii_lowercase(),
            String::from_utf8_lossy(key).into_owned(),
        )],
        query: None,
    }
}

pub(super) fn sign_query(param: &str, key: &[u8]) -> SignedParts {
    SignedParts {
        headers: Vec::new(),
        query: Some((param.to_owned(), String::from_utf8_lossy(key).into_owned())),
    }
}

#[cfg(test)]
mod tests;
