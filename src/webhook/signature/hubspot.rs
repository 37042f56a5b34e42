//! HubSpot v3: base64 HMAC over `METHOD + URI + body + timestamp`, timestamp in milliseconds.
//!
//! The URI is the one the sender used. Behind a proxy the bridge sees another scheme and host, so
//! it is the configured public URL plus the query as received, never rebuilt from `Host` or
//! `X-Forwarded-*`. HubSpot percent-decodes a fixed set of characters before signing.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::mac::{self, Message, Presented};
use super::{
    ConfigError, Encoding, IncomingRequest, SignRequest, SignatureError, SignedParts,
    TimestampFormat, header, percent, timestamp,
};

const SIGNATURE: &str = "x-hubspot-signature-v3";
const TIMESTAMP: &str = "x-hubspot-request-timestamp";

/// `: / ? @ ! $ ' ( ) * , ;`, the only escapes HubSpot decodes.
const DECODED: [u8; 12] = [
    b':', b'/', b'?', b'@', b'!', b'$', b'\'', b'(', b')', b'*', b',', b';',
];

pub(super) fn validate_public_url(url: &str) -> Result<(), ConfigError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let reason = match rest {
        None => "must start with https:// or http://",
        Some(rest) if rest.is_empty() || rest.starts_with('/') => "has no host",
        Some(_) if url.contains(['?', '#']) => "must not have a query or fragment",
        Some(_) if url.bytes().any(|b| b <= b' ' || b == 0x7f) => "must not contain whitespace",
        Some(_) => return Ok(()),
    };
    Err(ConfigError::InvalidPublicUrl { reason })
}

pub(super) fn presented<'r>(
    public_url: &str,
    req: &IncomingRequest<'r>,
) -> Result<Presented<'r>, SignatureError> {
    let value = header::required(req.headers, SIGNATURE)?;
    let sent_at = header::required(req.headers, TIMESTAMP)?;
    let signature = mac::decode(Encoding::Base64, value)
        .ok_or_else(|| SignatureError::malformed(SIGNATURE, "signature is not base64"))?;
    let signed_at = timestamp::parse(TimestampFormat::Milliseconds, TIMESTAMP, sent_at)?;
    let uri = signed_uri(public_url, req.uri.query());
    Ok(Presented {
        message: message(req.method.as_str(), uri, req.body, sent_at),
        signatures: vec![signature],
        timestamp: Some(signed_at),
        event_id: None,
        id_is_signed: false,
    })
}

pub(super) fn sign(
    public_url: &str,
    key: &[u8],
    req: &SignRequest<'_>,
    now: OffsetDateTime,
) -> Result<SignedParts, SignatureError> {
    let sent_at = timestamp::format(TimestampFormat::Milliseconds, TIMESTAMP, now)?;
    let query = req.path_and_query.split_once('?').map(|(_, query)| query);
    let uri = signed_uri(public_url, query);
    let tag = mac::tag(key, &message(req.method.as_str(), uri, req.body, &sent_at))?;
    Ok(SignedParts {
        headers: vec![
            (SIGNATURE.to_owned(), mac::encode(Encoding::Base64, &tag)),
            (TIMESTAMP.to_owned(), sent_at),
        ],
        query: None,
    })
}

fn message<'a>(method: &'a str, uri: Vec<u8>, body: &'a [u8], sent_at: &'a str) -> Message<'a> {
    vec![
        Cow::Borrowed(method.as_bytes()),
        Cow::Owned(uri),
        Cow::Borrowed(body),
        Cow::Borrowed(sent_at.as_bytes()),
    ]
}

fn signed_uri(public_url: &str, query: Option<&str>) -> Vec<u8> {
    let mut uri = public_url.to_owned();
    if let Some(query) = query {
        uri.push('?');
        uri.push_str(query);
    }
    // Only the listed escapes are decoded; everything else stays as sent.
    percent::decode(uri.as_bytes(), |byte| DECODED.contains(&byte))
}

#[cfg(test)]
mod tests {
    use axum::http::Method;
    use time::OffsetDateTime;

    use super::*;
    use crate::webhook::signature::test_support::{
        self as support, NOW, TestRequest, mac_conformance, timestamp_conformance, verifier,
    };
    use crate::webhook::signature::{DEFAULT_TOLERANCE, Scheme, Verifier};

    fn hubspot() -> Scheme {
        Scheme::HubspotV3 {
            public_url: "https://www.example.com/webhook_uri".to_owned(),
        }
    }

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const BODY: &[u8] = br#"{"example_field":"example_value"}"#;
    const VECTOR: &str = "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o=";

    mac_conformance!(hubspot(), old: "xxxxxxxx-old", new: SECRET);
    timestamp_conformance!(hubspot(), SECRET);

    #[test]
    fn verifies_constructed_vector_behind_a_proxy() {
        // The bridge is reached as http://bridge:8080/hooks/hubspot; the sender signed its URL.
        let req = TestRequest::new(Method::POST, "/hooks/hubspot", BODY)
            .header("host", "bridge:8080")
            .header("x-forwarded-host", "evil.example")
            .header("X-HubSpot-Signature-v3", VECTOR)
            .header("X-HubSpot-Request-Timestamp", "1700000000000");
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_100).unwrap();
        let verified = verifier(&hubspot(), &[SECRET])
            .verify(&req.incoming(), now)
            .unwrap();
        let expected = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(verified.timestamp, Some(expected));
    }

    #[test]
    fn timestamp_is_in_milliseconds() {
        let req = TestRequest::new(Method::POST, "/hooks/hubspot", BODY)
            .header("X-HubSpot-Signature-v3", VECTOR)
            .header("X-HubSpot-Request-Timestamp", "1700000000000");
        // Read as seconds, 1700000000000 would be tens of thousands of years ahead.
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert!(
            verifier(&hubspot(), &[SECRET])
                .verify(&req.incoming(), now)
                .is_ok()
        );
    }

    #[test]
    fn appends_the_received_query_and_decodes_only_listed_escapes() {
        let uri = signed_uri(
            "https://h.example/p%3a",
            Some("a=%2F%2f%40x%20y%3D&b=%21%7E%2"),
        );
        assert_eq!(uri, b"https://h.example/p:?a=//@x%20y%3D&b=!%7E%2");
        assert_eq!(
            signed_uri("https://h.example/p", None),
            b"https://h.example/p"
        );
    }

    #[test]
    fn signs_the_query_as_received() {
        let verifier = verifier(&hubspot(), &[SECRET]);
        let mut req = TestRequest::new(Method::POST, "/hooks/hubspot?portal=1%3A2", BODY);
        let parts = verifier.sign(&req.sign_request(), NOW).unwrap();
        for (name, value) in &parts.headers {
            req = req.header(name, value);
        }
        assert!(support::verify(&verifier, &req).is_ok());
        req.uri = "/hooks/hubspot?portal=2".parse().unwrap();
        assert_eq!(
            support::verify(&verifier, &req).unwrap_err(),
            SignatureError::NoMatch
        );
    }

    #[test]
    fn rejects_unusable_public_urls() {
        for url in [
            "www.example.com/hook",
            "https://",
            "https:///x",
            "https://h/p?q=1",
            "https://h/a b",
        ] {
            let scheme = Scheme::HubspotV3 {
                public_url: url.to_owned(),
            };
            let secrets = vec![support::secret(&scheme, SECRET)];
            let err = Verifier::new(scheme, secrets, DEFAULT_TOLERANCE).unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidPublicUrl { .. }),
                "{url}: {err}"
            );
        }
    }
}
