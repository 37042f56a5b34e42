//! Who may call what: the admin bearer token for the ops API, and the IVR's own credential (a
//! bearer token or Basic user:password) for the IVR handshake. Both compared in constant time,
//! as SHA-256 digests, so neither the length nor a prefix of a secret leaks through timing.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::problem::Problem;
use crate::state::{AppState, IvrScheme};

/// Proof that the request carried the admin bearer token.
#[derive(Debug)]
pub(super) struct Admin;

/// Proof that the request carried the IVR's credential.
#[derive(Debug)]
pub(super) struct IvrCaller;

fn unauthorized(detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        detail.to_owned(),
    )
}

/// The value after `<scheme> ` in `Authorization`, the scheme matched case-insensitively.
fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Digests first, so the comparison takes the same time whatever the length.
fn same(presented: &[u8], expected: &[u8]) -> bool {
    bool::from(Sha256::digest(presented).as_slice().ct_eq(expected))
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = &state.admin.token_digest else {
            return Err(unauthorized(
                "the ops API is disabled: set admin.token (or admin.token_file)",
            ));
        };
        let presented = authorization(&parts.headers, "Bearer")
            .ok_or_else(|| unauthorized("send Authorization: Bearer <admin.token>"))?;
        if same(presented.as_bytes(), expected) {
            Ok(Admin)
        } else {
            Err(unauthorized("the bearer token is not the admin token"))
        }
    }
}

impl FromRequestParts<AppState> for IvrCaller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some((scheme, expected)) = &state.ivr_access.digest else {
            return Err(unauthorized(
                "the IVR endpoints are disabled: set ivr.token, or ivr.basic_user and ivr.basic_password",
            ));
        };
        let presented = match scheme {
            IvrScheme::Bearer => authorization(&parts.headers, "Bearer")
                .map(|token| token.as_bytes().to_vec())
                .ok_or_else(|| unauthorized("send Authorization: Bearer <ivr.token>"))?,
            IvrScheme::Basic => authorization(&parts.headers, "Basic")
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .ok_or_else(|| {
                    unauthorized(
                        "send Authorization: Basic base64(<ivr.basic_user>:<ivr.basic_password>)",
                    )
                })?,
        };
        if same(&presented, expected) {
            Ok(IvrCaller)
        } else {
            Err(unauthorized("the credential is not the IVR's"))
        }
    }
}
