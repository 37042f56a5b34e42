//! Why a webhook was not accepted: each variant is one problem `type` at the HTTP edge.

use crate::queue::StoreError;
use crate::webhook::mapping::{FieldError, MappingErrors};
use crate::webhook::signature::SignatureError;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("no source named {0:?} is configured")]
    UnknownSource(String),
    #[error("content type {0:?} is not JSON")]
    UnsupportedMediaType(Option<String>),
    #[error("signature rejected: {0}")]
    Signature(#[from] SignatureError),
    #[error("this request was already received: a replay")]
    Replay,
    #[error("the body is not valid JSON: {message} at line {line}, column {column}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the payload does not say which conversation it is about")]
    InvalidEvent(Vec<FieldError>),
    #[error(transparent)]
    Mapping(#[from] MappingErrors),
    /// The job could not be committed (or, with `Prefer: wait`, read back).
    #[error(transparent)]
    Store(#[from] StoreError),
}
