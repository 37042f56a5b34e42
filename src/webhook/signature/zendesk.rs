//! Zendesk: base64 HMAC over `timestamp + body` (no separator), timestamp in RFC 3339.
//!
//! The secret looks like base64 but is used as typed; decoding it gives the wrong answer.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::mac::{self, Message, Presented};
use super::{
    Encoding, IncomingRequest, SignRequest, SignatureError, SignedParts, TimestampFormat, header,
    timestamp,
};

const SIGNATURE: &str = "x-zendesk-webhook-signature";
const TIMESTAMP: &str = "x-zendesk-webhook-signature-timestamp";
const INVOCATION_ID: &str = "x-zendesk-webhook-invocation-id";

pub(super) fn presented<'r>(req: &IncomingRequest<'r>) -> Result<Presented<'r>, SignatureError> {
    let value = header::required(req.headers, SIGNATURE)?;
    let sent_at = header::required(req.headers, TIMESTAMP)?;
    let signature = mac::decode(Encoding::Base64, value)
        .ok_or_else(|| SignatureError::malformed(SIGNATURE, "signature is not base64"))?;
    let signed_at = timestamp::parse(TimestampFormat::Rfc3339, TIMESTAMP, sent_at)?;
    Ok(Presented {
        message: message(sent_at, req.body),
        signatures: vec![signature],
        timestamp: Some(signed_at),
        event_id: header::event_id(req.headers, INVOCATION_ID)?,
        id_is_signed: false,
    })
}

pub(super) fn sign(
    key: &[u8],
    req: &SignRequest<'_>,
    now: OffsetDateTime,
) -> Result<SignedParts, SignatureError> {
    let sent_at = timestamp::format(TimestampFormat::Rfc3339, TIMESTAMP, now)?;
    let tag = mac::tag(key, &message(&sent_at, req.body))?;
    let mut headers = vec![
        (SIGNATURE.to_owned(), mac::encode(Encoding::Base64, &tag)),
        (TIMESTAMP.to_owned(), sent_at),
    ];
    headers.extend(
        req.event_id
            .map(|id| (INVOCATION_ID.to_owned(), id.to_owned())),
    );
    Ok(SignedParts {
        headers,
        query: None,
    })
}

fn message<'a>(sent_at: &'a str, body: &'a [u8]) -> Message<'a> {
    vec![Cow::Borrowed(sent_at.as_bytes()), Cow::Borrowed(body)]
}

#[cfg(test)]
mod tests {
    use axum::http::Method;
    use time::macros::datetime;

    use super::*;
    use crate::webhook::signature::Scheme;
    use crate::webhook::signature::test_support::{
        self as support, TestRequest, mac_conformance, timestamp_conformance, verifier,
    };

    const ZENDESK: Scheme = Scheme::Zendesk;
    const SECRET: &str = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
    const BODY: &[u8] = br#"{"event":"ticket.updated","id":123}"#;
    const VECTOR: &str = "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM=";
    const DECODED_SECRET_ANSWER: &str = "ElGlCykjczJm8dAh5YJyfzGb6ttTqrYPkC81bFc/ZSk=";

    mac_conformance!(ZENDESK, old: "b2xkX3NlY3JldA==", new: SECRET);
    timestamp_conformance!(ZENDESK, SECRET);

    fn vector(signature: &str) -> TestRequest {
        TestRequest::new(Method::POST, "/hooks/zendesk", BODY)
            .header("X-Zendesk-Webhook-Signature", signature)
            .header(
                "X-Zendesk-Webhook-Signature-Timestamp",
                "2021-03-25T05:09:27Z",
            )
            .header("X-Zendesk-Webhook-Invocation-Id", "8350205582")
    }

    fn verify_vector(
        signature: &str,
    ) -> Result<crate::webhook::signature::Verified, SignatureError> {
        let now = datetime!(2021-03-25 05:10:00 UTC);
        verifier(&ZENDESK, &[SECRET]).verify(&vector(signature).incoming(), now)
    }

    #[test]
    fn verifies_constructed_vector_with_secret_as_typed() {
        let verified = verify_vector(VECTOR).unwrap();
        assert_eq!(verified.event_id.as_deref(), Some("8350205582"));
        assert_eq!(verified.timestamp, Some(datetime!(2021-03-25 05:09:27 UTC)));
    }

    #[test]
    fn a_signature_made_with_the_decoded_secret_is_wrong() {
        assert_eq!(
            verify_vector(DECODED_SECRET_ANSWER).unwrap_err(),
            SignatureError::NoMatch
        );
    }

    #[test]
    fn rejects_a_timestamp_that_is_not_rfc3339() {
        let req = vector(VECTOR);
        let mut req = req.clone();
        req.replace("x-zendesk-webhook-signature-timestamp", "1616648967");
        let err = support::verify(&verifier(&ZENDESK, &[SECRET]), &req).unwrap_err();
        assert_eq!(err.reason(), "malformed_header");
        assert!(err.to_string().contains(TIMESTAMP), "{err}");
    }
}
