//! The ops API's credential: the admin bearer token, compared in constant time.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::problem::Problem;
use crate::state::AppState;

/// Proof that the request carried the admin bearer token.
#[derive(Debug)]
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |detail: &str| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                detail.to_owned(),
            )
        };
        let Some(expected) = &state.admin.token_digest else {
            return Err(unauthorized(
                "the ops API is disabled: set admin.token (or admin.token_file)",
            ));
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| unauthorized("send Authorization: Bearer <admin.token>"))?;
        // Digests first, so the comparison takes the same time whatever the length.
        let digest = Sha256::digest(presented.as_bytes());
        if bool::from(digest.as_slice().ct_eq(expected.as_slice())) {
            Ok(Admin)
        } else {
            Err(unauthorized("the bearer token is not the admin token"))
        }
    }
}
