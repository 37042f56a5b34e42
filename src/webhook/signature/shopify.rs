//! Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the body alone, no timestamp.
//!
//! A rotated secret takes up to an hour to switch over, so both are configured meanwhile.

use std::borrow::Cow;

use super::mac::{self, Presented};
use super::{Encoding, IncomingRequest, SignRequest, SignatureError, SignedParts, header};

const SIGNATURE: &str = "x-shopify-hmac-sha256";
const WEBHOOK_ID: &str = "x-shopify-webhook-id";

pub(super) fn presented<'r>(req: &IncomingRequest<'r>) -> Result<Presented<'r>, SignatureError> {
    let value = header::required(req.headers, SIGNATURE)?;
    let signature = mac::decode(Encoding::Base64, value)
        .ok_or_else(|| SignatureError::malformed(SIGNATURE, "signature is not base64"))?;
    Ok(Presented {
        message: vec![Cow::Borrowed(req.body)],
        signatures: vec![signature],
        timestamp: None,
        event_id: header::event_id(req.headers, WEBHOOK_ID)?,
        id_is_signed: false,
    })
}

pub(super) fn sign(key: &[u8], req: &SignRequest<'_>) -> Result<SignedParts, SignatureError> {
    let tag = mac::tag(key, &[Cow::Borrowed(req.body)])?;
    let mut headers = vec![(SIGNATURE.to_owned(), mac::encode(Encoding::Base64, &tag))];
    headers.extend(
        req.event_id
            .map(|id| (WEBHOOK_ID.to_owned(), id.to_owned())),
    );
    Ok(SignedParts {
        headers,
        query: None,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;
    use crate::webhook::signature::Scheme;
    use crate::webhook::signature::test_support::{
        self as support, NOW, TestRequest, mac_conformance, verifier,
    };

    const SHOPIFY: Scheme = Scheme::Shopify;
    const VECTOR: &str = "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=";

    mac_conformance!(SHOPIFY, old: "hush-old", new: "hush");

    #[test]
    fn verifies_constructed_vector_with_webhook_id() {
        let req = TestRequest::new(Method::POST, "/hooks/shopify", br#"{"id":1}"#)
            .header("X-Shopify-Hmac-Sha256", VECTOR)
            .header(
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            );
        let verified = support::verify(&verifier(&SHOPIFY, &["hush"]), &req).unwrap();
        assert_eq!(
            verified.event_id.as_deref(),
            Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        );
    }

    #[test]
    fn rejects_non_base64_signature() {
        let req = TestRequest::new(Method::POST, "/", b"{}")
            .header("x-shopify-hmac-sha256", "not base64!");
        let err = support::verify(&verifier(&SHOPIFY, &["hush"]), &req).unwrap_err();
        assert_eq!(err.reason(), "malformed_header");
    }

    #[test]
    fn sends_the_event_id_when_given() {
        let verifier = verifier(&SHOPIFY, &["hush"]);
        let sign = SignRequest {
            method: &Method::POST,
            path_and_query: "/",
            body: b"{}",
            event_id: Some("evt-9"),
        };
        let parts = verifier.sign(&sign, NOW).unwrap();
        let sent = ("x-shopify-webhook-id".to_owned(), "evt-9".to_owned());
        assert!(parts.headers.contains(&sent), "{parts:?}");
    }
}
