//! How the errors of the layers below become problems: one `From` impl per error type, so a
//! handler says `?` and the problem's `type`, status and detail are decided here, once.

use axum::http::StatusCode;

use super::Problem;
use crate::intake::IntakeError;
use crate::ivr::IvrError;
use crate::queue::StoreError;

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "the store failed");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "Store unavailable",
            "the webhook could not be stored, so it was not accepted; send it again",
        )
    }
}

impl From<IntakeError> for Problem {
    fn from(err: IntakeError) -> Self {
        let detail = err.to_string();
        match err {
            IntakeError::UnknownSource(name) => Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-source",
                "Unknown source",
                format!("no source named {name:?} is configured (see `genesys-bridge check-config`)"),
            ),
            IntakeError::UnsupportedMediaType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!("{detail}: send Content-Type: application/json"),
            ),
            IntakeError::Signature(e) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "signature-rejected",
                "Signature rejected",
                e.to_string(),
            )
            .with("reason", e.reason()),
            IntakeError::Replay => Problem::new(
                StatusCode::UNAUTHORIZED,
                "replay",
                "Replayed request",
                "this signature was already accepted, for another event, inside the timestamp tolerance window",
            )
            .with("reason", "replay"),
            IntakeError::MalformedJson { line, column, .. } => {
                Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON", detail)
                    .with("line", line)
                    .with("column", column)
            }
            IntakeError::InvalidEvent(errors) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-event",
                "Invalid event",
                format!(
                    "{} problem(s) with the conversation, participant or event id",
                    errors.len()
                ),
            )
            .with("errors", errors),
            IntakeError::Mapping(errors) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "mapping-failed",
                "Mapping failed",
                format!(
                    "{} field(s) cannot be written as participant attributes",
                    errors.errors.len()
                ),
            )
            .with("errors", errors.errors),
            IntakeError::Store(err) => err.into(),
        }
    }
}

impl From<IvrError> for Problem {
    fn from(err: IvrError) -> Self {
        let detail = err.to_string();
        let bad = |kind: &str, title: &'static str| {
            Problem::new(StatusCode::BAD_REQUEST, kind, title, detail.clone())
        };
        match err {
            IvrError::MalformedJson { .. } | IvrError::NotAnObject => {
                bad("malformed-json", "Malformed JSON")
            }
            IvrError::InvalidFields(errors) => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-registration",
                "Invalid registration",
                format!(
                    "{} field(s) of the registration are not usable",
                    errors.len()
                ),
            )
            .with("errors", errors),
            IvrError::InvalidConversation(..) => {
                bad("invalid-conversation-id", "Invalid conversation id")
            }
            IvrError::InvalidWait(_) => {
                bad("invalid-parameter", "Invalid parameter").with("parameter", "waitMs")
            }
            IvrError::Store(err) => {
                tracing::error!(error = %err, "the store failed");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "Store unavailable",
                    "the bridge cannot read or write its store right now; try again",
                )
            }
        }
    }
}
