//! Why an IVR request was refused. Each is a 400 (the Data Action's Failure exit: right for a
//! flow that sends something broken) or a 503 (the bridge cannot serve): an unknown call is no
//! error, but a 200 with `status: unknown_call`.

use crate::queue::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum IvrError {
    #[error("the body is not valid JSON (line {line}, column {column})")]
    MalformedJson { line: usize, column: usize },
    #[error("the body must be one flat JSON object")]
    NotAnObject,
    /// Every bad field found.
    #[error("the registration has invalid fields")]
    InvalidFields(Vec<FieldProblem>),
    #[error("{0:?} is not a conversation id: {1}")]
    InvalidConversation(String, String),
    #[error("waitMs must be a whole number of milliseconds, not {0:?}")]
    InvalidWait(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One bad field of a registration, as the answer names it.
#[derive(Debug, serde::Serialize)]
pub struct FieldProblem {
    /// A JSON pointer into the body.
    pub pointer: String,
    /// `missing`, `not_a_string`, `invalid_id`, `invalid_phone_number` or `value_too_long`.
    pub code: &'static str,
    /// What is wrong; never quotes the value.
    pub message: String,
}
