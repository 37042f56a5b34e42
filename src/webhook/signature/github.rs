//! GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body alone, no timestamp.

use std::borrow::Cow;

use super::mac::{self, Presented};
use super::{Encoding, IncomingRequest, SignRequest, SignatureError, SignedParts, header};

const SIGNATURE: &str = "x-hub-signature-256";
const DELIVERY: &str = "x-github-delivery";
const PREFIX: &str = "sha256=";

pub(super) fn presented<'r>(req: &IncomingRequest<'r>) -> Result<Presented<'r>, SignatureError> {
    let value = header::required(req.headers, SIGNATURE)?;
    let encoded = value
        .strip_prefix(PREFIX)
        .ok_or_else(|| SignatureError::malformed(SIGNATURE, "missing sha256= prefix"))?;
    let signature = mac::decode(Encoding::Hex, encoded)
        .ok_or_else(|| SignatureError::malformed(SIGNATURE, "signature is not hex"))?;
    Ok(Presented {
        message: vec![Cow::Borrowed(req.body)],
        signatures: vec![signature],
        timestamp: None,
        event_id: header::event_id(req.headers, DELIVERY)?,
        id_is_signed: false,
    })
}

pub(super) fn sign(key: &[u8], req: &SignRequest<'_>) -> Result<SignedParts, SignatureError> {
    let tag = mac::tag(key, &[Cow::Borrowed(req.body)])?;
    let mut headers = vec![(
        SIGNATURE.to_owned(),
        format!("{PREFIX}{}", mac::encode(Encoding::Hex, &tag)),
    )];
    headers.extend(req.event_id.map(|id| (DELIVERY.to_owned(), id.to_owned())));
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
        self as support, TestRequest, mac_conformance, verifier,
    };

    const GITHUB: Scheme = Scheme::Github;
    const SECRET: &str = "It's a Secret to Everybody";
    const VECTOR: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    mac_conformance!(GITHUB, old: "an older secret", new: SECRET);

    fn hello(signature: &str) -> TestRequest {
        TestRequest::new(Method::POST, "/hooks/github", b"Hello, World!")
            .header("X-Hub-Signature-256", signature)
    }

    #[test]
    fn verifies_documented_vector_with_delivery_id() {
        let req = hello(VECTOR).header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        let verified = support::verify(&verifier(&GITHUB, &[SECRET]), &req).unwrap();
        assert_eq!(
            verified.event_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        // The delivery header is not signed, so replays are keyed on the signature instead.
        let hex = VECTOR.trim_start_matches(PREFIX);
        assert_eq!(
            verified.replay_key,
            Some(mac::sha256_hex(&hex::decode(hex).unwrap()))
        );
        assert_eq!(verified.timestamp, None);
    }

    #[test]
    fn accepts_uppercase_hex() {
        let upper = format!(
            "{PREFIX}{}",
            VECTOR.trim_start_matches(PREFIX).to_uppercase()
        );
        assert!(support::verify(&verifier(&GITHUB, &[SECRET]), &hello(&upper)).is_ok());
    }

    #[test]
    fn a_trailing_newline_in_the_secret_is_ignored() {
        let from_env = format!("{SECRET}\n");
        assert!(support::verify(&verifier(&GITHUB, &[&from_env]), &hello(VECTOR)).is_ok());
    }

    #[test]
    fn rejects_missing_prefix_and_non_hex() {
        let verifier = verifier(&GITHUB, &[SECRET]);
        let bare = VECTOR.trim_start_matches(PREFIX);
        for bad in [bare, "sha1=757107ea", "sha256=not-hex", "sha256="] {
            let err = support::verify(&verifier, &hello(bad)).unwrap_err();
            assert_eq!(err.reason(), "malformed_header", "{bad}");
            assert!(err.to_string().contains(SIGNATURE), "{err}");
        }
    }

    #[test]
    fn rejects_a_truncated_signature() {
        let short = &VECTOR[..VECTOR.len() - 2];
        let err = support::verify(&verifier(&GITHUB, &[SECRET]), &hello(short)).unwrap_err();
        assert_eq!(err, SignatureError::NoMatch);
    }
}
