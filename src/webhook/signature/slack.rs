//! Slack-style: `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`, seconds.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::mac::{self, Message, Presented};
use super::{
    Encoding, IncomingRequest, SignRequest, SignatureError, SignedParts, TimestampFormat, header,
    timestamp,
};

const SIGNATURE: &str = "x-slack-signature";
const TIMESTAMP: &str = "x-slack-request-timestamp";
const PREFIX: &str = "v0=";

pub(super) fn presented<'r>(req: &IncomingRequest<'r>) -> Result<Presented<'r>, SignatureError> {
    let value = header::required(req.headers, SIGNATURE)?;
    let sent_at = header::required(req.headers, TIMESTAMP)?;
    let encoded = value
        .strip_prefix(PREFIX)
        .ok_or_else(|| SignatureError::malformed(SIGNATURE, "missing v0= prefix"))?;
    let signature = mac::decode(Encoding::Hex, encoded)
        .ok_or_else(|| SignatureError::malformed(SIGNATURE, "signature is not hex"))?;
    let signed_at = timestamp::parse(TimestampFormat::Seconds, TIMESTAMP, sent_at)?;
    Ok(Presented {
        message: message(sent_at, req.body),
        signatures: vec![signature],
        timestamp: Some(signed_at),
        event_id: None,
        id_is_signed: false,
    })
}

pub(super) fn sign(
    key: &[u8],
    req: &SignRequest<'_>,
    now: OffsetDateTime,
) -> Result<SignedParts, SignatureError> {
    let sent_at = now.unix_timestamp().to_string();
    let tag = mac::tag(key, &message(&sent_at, req.body))?;
    Ok(SignedParts {
        headers: vec![
            (
                SIGNATURE.to_owned(),
                format!("{PREFIX}{}", mac::encode(Encoding::Hex, &tag)),
            ),
            (TIMESTAMP.to_owned(), sent_at),
        ],
        query: None,
    })
}

fn message<'a>(sent_at: &'a str, body: &'a [u8]) -> Message<'a> {
    vec![
        Cow::Borrowed(b"v0:"),
        Cow::Borrowed(sent_at.as_bytes()),
        Cow::Borrowed(b":"),
        Cow::Borrowed(body),
    ]
}

#[cfg(test)]
mod tests {
    use axum::http::Method;
    use time::OffsetDateTime;

    use super::*;
    use crate::webhook::signature::Scheme;
    use crate::webhook::signature::test_support::{
        self as support, TestRequest, mac_conformance, timestamp_conformance, verifier,
    };

    const SLACK: Scheme = Scheme::Slack;
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const VECTOR: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    mac_conformance!(SLACK, old: "0123456789abcdef0123456789abcdef", new: SECRET);
    timestamp_conformance!(SLACK, SECRET);

    fn vector(signature: &str) -> TestRequest {
        TestRequest::new(Method::POST, "/slack/commands", BODY.as_bytes())
            .header("X-Slack-Signature", signature)
            .header("X-Slack-Request-Timestamp", "1531420618")
    }

    fn verify_at_vector_time(
        req: &TestRequest,
    ) -> Result<crate::webhook::signature::Verified, SignatureError> {
        let now = OffsetDateTime::from_unix_timestamp(1_531_420_618 + 5).unwrap();
        verifier(&SLACK, &[SECRET]).verify(&req.incoming(), now)
    }

    #[test]
    fn verifies_documented_vector() {
        let verified = verify_at_vector_time(&vector(VECTOR)).unwrap();
        assert_eq!(verified.event_id, None);
        assert!(verified.replay_key.is_some());
    }

    #[test]
    fn rejects_other_versions() {
        let v1 = VECTOR.replacen("v0=", "v1=", 1);
        let err = verify_at_vector_time(&vector(&v1)).unwrap_err();
        assert_eq!(err.reason(), "malformed_header");
        assert!(err.to_string().contains("v0="), "{err}");
    }

    #[test]
    fn the_form_body_is_not_decoded() {
        let mut req = vector(VECTOR);
        req.body = BODY.replace("%2F", "/").into_bytes();
        assert_eq!(
            verify_at_vector_time(&req).unwrap_err(),
            SignatureError::NoMatch
        );
    }
}
