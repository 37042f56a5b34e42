//! Standard Webhooks (and Svix, the same scheme under `svix-*` names).
//!
//! Signed bytes are `{id}.{timestamp}.{body}`; the signature header is a space-separated list
//! of `version,base64` entries, of which only `v1` is accepted.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::mac::{self, Message, Presented};
use super::{
    Encoding, IncomingRequest, SignRequest, SignatureError, SignedParts, StandardHeaderNames,
    TimestampFormat, header, timestamp,
};

pub(super) fn presented<'r>(
    names: StandardHeaderNames,
    req: &IncomingRequest<'r>,
) -> Result<Presented<'r>, SignatureError> {
    let id = header::required(req.headers, names.id())?;
    let sent_at = header::required(req.headers, names.timestamp())?;
    let list = header::required(req.headers, names.signature())?;
    let signed_at = timestamp::parse(TimestampFormat::Seconds, names.timestamp(), sent_at)?;
    // Other versions are skipped, not failed: a sender may add a scheme we do not know.
    let signatures: Vec<Vec<u8>> = list
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| mac::decode(Encoding::Base64, encoded))
        .collect();
    if signatures.is_empty() {
        return Err(SignatureError::malformed(
            names.signature(),
            "no v1 signature in base64",
        ));
    }
    Ok(Presented {
        message: message(id, sent_at, req.body),
        signatures,
        timestamp: Some(signed_at),
        event_id: Some(id.to_owned()),
        id_is_signed: true,
    })
}

pub(super) fn sign(
    names: StandardHeaderNames,
    key: &[u8],
    req: &SignRequest<'_>,
    now: OffsetDateTime,
) -> Result<SignedParts, SignatureError> {
    let sent_at = now.unix_timestamp().to_string();
    let id = match req.event_id {
        Some(id) => id.to_owned(),
        None => derived_id(&sent_at, req.body),
    };
    let tag = mac::tag(key, &message(&id, &sent_at, req.body))?;
    let signature = format!("v1,{}", mac::encode(Encoding::Base64, &tag));
    Ok(SignedParts {
        headers: vec![
            (names.id().to_owned(), id),
            (names.timestamp().to_owned(), sent_at),
            (names.signature().to_owned(), signature),
        ],
        query: None,
    })
}

fn message<'a>(id: &'a str, sent_at: &'a str, body: &'a [u8]) -> Message<'a> {
    vec![
        Cow::Borrowed(id.as_bytes()),
        Cow::Borrowed(b"."),
        Cow::Borrowed(sent_at.as_bytes()),
        Cow::Borrowed(b"."),
        Cow::Borrowed(body),
    ]
}

/// The id is signed, so it cannot be left out; deriving it keeps signing deterministic.
fn derived_id(sent_at: &str, body: &[u8]) -> String {
    let mut digest = mac::sha256_hex(&[sent_at.as_bytes(), body].concat());
    digest.truncate(24);
    format!("msg_{digest}")
}

#[cfg(test)]
mod tests {
    use axum::http::Method;
    use time::OffsetDateTime;

    use super::*;
    use crate::webhook::signature::test_support::{
        self as support, NOW, TestRequest, mac_conformance, timestamp_conformance, verifier,
    };
    use crate::webhook::signature::{Scheme, Verifier};

    const WEBHOOK: Scheme = Scheme::StandardWebhooks {
        header_names: StandardHeaderNames::Webhook,
    };
    const SVIX: Scheme = Scheme::StandardWebhooks {
        header_names: StandardHeaderNames::Svix,
    };
    const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NEW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    mac_conformance!(WEBHOOK, old: OLD, new: NEW);
    timestamp_conformance!(WEBHOOK, NEW);

    fn vector(id: &str, ts: i64, body: &str, signature: &str) -> (TestRequest, OffsetDateTime) {
        let req = TestRequest::new(Method::POST, "/hooks/crm", body.as_bytes())
            .header("webhook-id", id)
            .header("webhook-timestamp", &ts.to_string())
            .header("webhook-signature", signature);
        let now = OffsetDateTime::from_unix_timestamp(ts + 30).unwrap();
        (req, now)
    }

    fn check(verifier: &Verifier, (req, now): &(TestRequest, OffsetDateTime)) -> bool {
        verifier.verify(&req.incoming(), *now).is_ok()
    }

    #[test]
    fn verifies_published_vector_one() {
        let case = vector(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        let verified = verifier(&WEBHOOK, &[OLD])
            .verify(&case.0.incoming(), case.1)
            .unwrap();
        assert_eq!(
            verified.event_id.as_deref(),
            Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
        assert_eq!(verified.replay_key, verified.event_id);
        assert_eq!(
            verified.timestamp,
            OffsetDateTime::from_unix_timestamp(1_614_265_330).ok()
        );
        assert!(!check(&verifier(&WEBHOOK, &[NEW]), &case));
    }

    #[test]
    fn verifies_published_vector_two() {
        let case = vector(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        );
        assert!(check(&verifier(&WEBHOOK, &[NEW]), &case));
    }

    #[test]
    fn ignores_unknown_versions_beside_a_valid_v1() {
        let signature =
            "v2,AAAA v1,not*base64 v1a,zz  v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let case = vector(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
            signature,
        );
        assert!(check(&verifier(&WEBHOOK, &[OLD]), &case));
    }

    #[test]
    fn rejects_a_header_without_any_v1_signature() {
        let case = vector(
            "msg_1",
            1_614_265_330,
            "{}",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        let err = verifier(&WEBHOOK, &[OLD])
            .verify(&case.0.incoming(), case.1)
            .unwrap_err();
        assert_eq!(err.reason(), "malformed_header");
        assert!(err.to_string().contains("webhook-signature"), "{err}");
    }

    #[test]
    fn the_id_is_signed() {
        let verifier = verifier(&WEBHOOK, &[NEW]);
        let mut req = TestRequest::signed(&verifier, b"{}", NOW);
        req.replace("webhook-id", "msg_other");
        assert_eq!(
            support::verify(&verifier, &req).unwrap_err(),
            SignatureError::NoMatch
        );
    }

    #[test]
    fn svix_uses_svix_header_names() {
        let verifier = verifier(&SVIX, &[NEW]);
        let req = TestRequest::signed(&verifier, b"{}", NOW);
        assert_eq!(
            req.header_names(),
            ["svix-id", "svix-timestamp", "svix-signature"]
        );
        assert!(support::verify(&verifier, &req).is_ok());
    }

    #[test]
    fn signs_with_the_given_event_id() {
        let verifier = verifier(&WEBHOOK, &[NEW]);
        let sign = SignRequest {
            method: &Method::POST,
            path_and_query: "/",
            body: b"{}",
            event_id: Some("msg_given"),
        };
        let parts = verifier.sign(&sign, NOW).unwrap();
        assert_eq!(
            parts.headers[0],
            ("webhook-id".to_owned(), "msg_given".to_owned())
        );
    }
}
