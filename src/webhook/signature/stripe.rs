//! Stripe-style: `Stripe-Signature: t=<secs>,v1=<hex>[,v1=<hex>][,v0=<hex>]` over `{t}.{body}`.
//!
//! Only `v1` is ever accepted: honouring `v0` or another scheme named in the header would let an
//! attacker downgrade to something weaker.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::mac::{self, Message, Presented};
use super::{
    Encoding, IncomingRequest, SignRequest, SignatureError, SignedParts, TimestampFormat, header,
    timestamp,
};

const SIGNATURE: &str = "stripe-signature";

pub(super) fn presented<'r>(req: &IncomingRequest<'r>) -> Result<Presented<'r>, SignatureError> {
    let value = header::required(req.headers, SIGNATURE)?;
    let mut sent_at = None;
    let mut signatures = Vec::new();
    for (key, item) in value.split(',').filter_map(|pair| pair.split_once('=')) {
        match key.trim() {
            "t" if sent_at.replace(item.trim()).is_some() => {
                return Err(SignatureError::malformed(SIGNATURE, "more than one t="));
            }
            "v1" => signatures.extend(mac::decode(Encoding::Hex, item.trim())),
            _ => {}
        }
    }
    let sent_at = sent_at.ok_or_else(|| SignatureError::malformed(SIGNATURE, "no t= timestamp"))?;
    let signed_at = timestamp::parse(TimestampFormat::Seconds, SIGNATURE, sent_at)?;
    if signatures.is_empty() {
        return Err(SignatureError::malformed(
            SIGNATURE,
            "no v1= signature in hex",
        ));
    }
    Ok(Presented {
        message: message(sent_at, req.body),
        signatures,
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
    let value = format!("t={sent_at},v1={}", mac::encode(Encoding::Hex, &tag));
    Ok(SignedParts {
        headers: vec![(SIGNATURE.to_owned(), value)],
        query: None,
    })
}

fn message<'a>(sent_at: &'a str, body: &'a [u8]) -> Message<'a> {
    vec![
        Cow::Borrowed(sent_at.as_bytes()),
        Cow::Borrowed(b"."),
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

    const STRIPE: Scheme = Scheme::Stripe;
    const SECRET: &str = "whsec_test_secret";
    const BODY: &str = r#"{"id":"evt_test_webhook","object":"event"}"#;
    const V1: &str = "88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a";

    mac_conformance!(STRIPE, old: "whsec_old_secret", new: SECRET);
    timestamp_conformance!(STRIPE, SECRET);

    fn verify_vector(value: &str) -> Result<crate::webhook::signature::Verified, SignatureError> {
        let req = TestRequest::new(Method::POST, "/hooks/stripe", BODY.as_bytes())
            .header("Stripe-Signature", value);
        let now = OffsetDateTime::from_unix_timestamp(1_492_774_577 + 60).unwrap();
        verifier(&STRIPE, &[SECRET]).verify(&req.incoming(), now)
    }

    #[test]
    fn verifies_constructed_vector() {
        let verified = verify_vector(&format!("t=1492774577,v1={V1}")).unwrap();
        assert_eq!(verified.event_id, None);
        assert_eq!(
            verified.replay_key,
            Some(mac::sha256_hex(&hex::decode(V1).unwrap()))
        );
    }

    #[test]
    fn keys_with_the_whole_secret_whsec_prefix_included() {
        let req = TestRequest::new(Method::POST, "/", BODY.as_bytes())
            .header("stripe-signature", &format!("t=1492774577,v1={V1}"));
        let now = OffsetDateTime::from_unix_timestamp(1_492_774_577).unwrap();
        let stripped = verifier(&STRIPE, &["test_secret"]);
        assert_eq!(
            stripped.verify(&req.incoming(), now).unwrap_err(),
            SignatureError::NoMatch
        );
    }

    #[test]
    fn ignores_v0_and_unknown_schemes_beside_a_valid_v1() {
        let value = format!("t=1492774577, v0=deadbeef,v1=zz,x9=abc,junk, v1={V1}");
        assert!(verify_vector(&value).is_ok());
    }

    #[test]
    fn rejects_a_header_with_only_v0() {
        let err = verify_vector(&format!("t=1492774577,v0={V1}")).unwrap_err();
        assert_eq!(err.reason(), "malformed_header");
        assert!(err.to_string().contains("no v1="), "{err}");
    }

    #[test]
    fn rejects_missing_or_repeated_timestamp() {
        let missing = verify_vector(&format!("v1={V1}")).unwrap_err();
        assert!(missing.to_string().contains("no t="), "{missing}");
        let repeated = verify_vector(&format!("t=1492774577,t=1492774577,v1={V1}")).unwrap_err();
        assert!(
            repeated.to_string().contains("more than one t="),
            "{repeated}"
        );
    }

    #[test]
    fn the_timestamp_is_signed() {
        let verifier = verifier(&STRIPE, &[SECRET]);
        let mut req = TestRequest::signed(&verifier, BODY.as_bytes(), support::NOW);
        let value = req.value("stripe-signature");
        let (_, signature) = value.split_once(',').unwrap();
        let moved = support::NOW.unix_timestamp() + 1;
        req.replace("stripe-signature", &format!("t={moved},{signature}"));
        assert_eq!(
            support::verify(&verifier, &req).unwrap_err(),
            SignatureError::NoMatch
        );
    }
}
