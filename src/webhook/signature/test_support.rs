//! Shared test fixtures and the behaviour every MAC scheme must show, stamped out per scheme
//! by [`mac_conformance!`] and [`timestamp_conformance!`].

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use time::OffsetDateTime;
use time::macros::datetime;

use super::{
    DEFAULT_TOLERANCE, IncomingRequest, Scheme, Secret, SignRequest, SignatureError, Verifier,
};

pub const NOW: OffsetDateTime = datetime!(2024-05-01 12:00 UTC);

/// Bodies that break verifiers which re-serialise JSON or assume text: escaped slashes, escaped
/// ampersand, emoji, odd whitespace, and bytes that are not UTF-8 at all.
pub const BODIES: [&[u8]; 5] = [
    br#"{"id":"evt_1","object":"event"}"#,
    "{\"url\":\"https:\\/\\/crm.example\\/a?b=1\\u0026c=2\",\"name\":\"Zoë 🎉\"}".as_bytes(),
    b" \t{ \"spaced\" :\r\n  true }\n\n",
    b"\xff\xfe\x00not utf-8\x80",
    b"",
];

#[derive(Debug, Clone)]
pub struct TestRequest {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestRequest {
    pub fn new(method: Method, uri: &str, body: &[u8]) -> Self {
        Self {
            method,
            uri: uri.parse().unwrap(),
            headers: HeaderMap::new(),
            body: body.to_vec(),
        }
    }

    /// A `POST /hooks/crm?source=test` signed by `verifier` at `at`.
    pub fn signed(verifier: &Verifier, body: &[u8], at: OffsetDateTime) -> Self {
        let mut req = Self::new(Method::POST, "/hooks/crm?source=test", body);
        let parts = verifier.sign(&req.sign_request(), at).unwrap();
        for (name, value) in &parts.headers {
            req = req.header(name, value);
        }
        if let Some((name, value)) = parts.query {
            let uri = format!(
                "{}&{}={}",
                req.uri,
                percent_encode(&name),
                percent_encode(&value)
            );
            req.uri = uri.parse().unwrap();
        }
        req
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    pub fn incoming(&self) -> IncomingRequest<'_> {
        IncomingRequest {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        }
    }

    pub fn sign_request(&self) -> SignRequest<'_> {
        SignRequest {
            method: &self.method,
            path_and_query: self.uri.path_and_query().map_or("/", |pq| pq.as_str()),
            body: &self.body,
            event_id: None,
        }
    }

    /// Replaces one header's value, keeping everything else as signed.
    pub fn replace(&mut self, name: &str, value: &str) {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }

    pub fn value(&self, name: &str) -> String {
        self.headers.get(name).unwrap().to_str().unwrap().to_owned()
    }

    pub fn header_names(&self) -> Vec<String> {
        self.headers.keys().map(|k| k.as_str().to_owned()).collect()
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn secret(scheme: &Scheme, raw: &str) -> Secret {
    Secret::parse(scheme, raw, None).unwrap()
}

/// A secret that stopped being valid an hour before [`NOW`].
pub fn expired(scheme: &Scheme, raw: &str) -> Secret {
    Secret::parse(scheme, raw, Some(NOW - Duration::from_secs(3600))).unwrap()
}

pub fn verifier(scheme: &Scheme, raws: &[&str]) -> Verifier {
    let secrets = raws.iter().map(|raw| secret(scheme, raw)).collect();
    Verifier::new(scheme.clone(), secrets, DEFAULT_TOLERANCE).unwrap()
}

pub fn verify(verifier: &Verifier, req: &TestRequest) -> Result<super::Verified, SignatureError> {
    verifier.verify(&req.incoming(), NOW)
}

pub fn assert_round_trips(scheme: &Scheme, raw: &str) {
    let verifier = verifier(scheme, &[raw]);
    for body in BODIES {
        let req = TestRequest::signed(&verifier, body, NOW);
        let verified = verify(&verifier, &req).unwrap();
        assert!(verified.replay_key.is_some(), "{body:?}");
    }
}

pub fn assert_flipped_body_byte_fails(scheme: &Scheme, raw: &str) {
    let verifier = verifier(scheme, &[raw]);
    for body in BODIES.into_iter().filter(|b| !b.is_empty()) {
        let mut req = TestRequest::signed(&verifier, body, NOW);
        req.body[0] ^= 0x01;
        assert_eq!(
            verify(&verifier, &req).unwrap_err(),
            SignatureError::NoMatch
        );
    }
}

/// Every header the signer sent is required: dropping any one is reported by name.
pub fn assert_missing_header_fails(scheme: &Scheme, raw: &str) {
    let verifier = verifier(scheme, &[raw]);
    let signed = TestRequest::signed(&verifier, BODIES[0], NOW);
    for name in signed.header_names() {
        let mut req = signed.clone();
        req.headers.remove(&name);
        let err = verify(&verifier, &req).unwrap_err();
        assert_eq!(err, SignatureError::MissingHeader { header: name });
    }
}

pub fn assert_duplicated_header_fails(scheme: &Scheme, raw: &str) {
    let verifier = verifier(scheme, &[raw]);
    let signed = TestRequest::signed(&verifier, BODIES[0], NOW);
    for name in signed.header_names() {
        let value = signed.value(&name);
        let req = signed.clone().header(&name, &value);
        let err = verify(&verifier, &req).unwrap_err();
        assert_eq!(err, SignatureError::DuplicateHeader { header: name });
    }
}

pub fn assert_old_and_new_pass_during_rotation(scheme: &Scheme, old: &str, new: &str) {
    let rotating = verifier(scheme, &[old, new]);
    for raw in [old, new] {
        let req = TestRequest::signed(&verifier(scheme, &[raw]), BODIES[1], NOW);
        assert!(verify(&rotating, &req).is_ok(), "signed with {raw}");
    }
}

pub fn assert_expired_secret_fails(scheme: &Scheme, old: &str, new: &str) {
    let retired = vec![expired(scheme, old), secret(scheme, new)];
    let rotated = Verifier::new(scheme.clone(), retired, DEFAULT_TOLERANCE).unwrap();
    let by_old = TestRequest::signed(&verifier(scheme, &[old]), BODIES[1], NOW);
    assert_eq!(
        verify(&rotated, &by_old).unwrap_err(),
        SignatureError::NoMatch
    );
    let by_new = TestRequest::signed(&verifier(scheme, &[new]), BODIES[1], NOW);
    assert!(verify(&rotated, &by_new).is_ok());
}

pub fn assert_header_in_other_case_with_spaces_passes(scheme: &Scheme, raw: &str) {
    let verifier = verifier(scheme, &[raw]);
    let signed = TestRequest::signed(&verifier, BODIES[1], NOW);
    let mut req = TestRequest::new(signed.method.clone(), &signed.uri.to_string(), &signed.body);
    for name in signed.header_names() {
        let value = format!("  {}\t", signed.value(&name));
        req = req.header(&name.to_ascii_uppercase(), &value);
    }
    assert!(verify(&verifier, &req).is_ok());
}

pub fn assert_stale_and_future_fail(scheme: &Scheme, raw: &str) {
    let verifier = verifier(scheme, &[raw]);
    let late = TestRequest::signed(&verifier, BODIES[0], NOW - Duration::from_secs(301));
    assert_eq!(
        verify(&verifier, &late).unwrap_err(),
        SignatureError::StaleTimestamp {
            age_secs: 301,
            tolerance_secs: 300
        }
    );
    let early = TestRequest::signed(&verifier, BODIES[0], NOW + Duration::from_secs(600));
    assert_eq!(
        verify(&verifier, &early).unwrap_err(),
        SignatureError::FutureTimestamp {
            ahead_secs: 600,
            tolerance_secs: 300
        }
    );
    let inside = TestRequest::signed(&verifier, BODIES[0], NOW - Duration::from_secs(299));
    assert!(verify(&verifier, &inside).is_ok());
}

/// The behaviour every MAC scheme shares, as one named test each.
macro_rules! mac_conformance {
    ($scheme:expr, old: $old:expr, new: $new:expr) => {
        #[test]
        fn round_trips_bodies_byte_for_byte() {
            support::assert_round_trips(&$scheme, $new);
        }

        #[test]
        fn rejects_a_flipped_body_byte() {
            support::assert_flipped_body_byte_fails(&$scheme, $new);
        }

        #[test]
        fn rejects_a_missing_header_by_name() {
            support::assert_missing_header_fails(&$scheme, $new);
        }

        #[test]
        fn rejects_a_duplicated_header() {
            support::assert_duplicated_header_fails(&$scheme, $new);
        }

        #[test]
        fn accepts_old_and_new_secret_during_rotation() {
            support::assert_old_and_new_pass_during_rotation(&$scheme, $old, $new);
        }

        #[test]
        fn rejects_a_signature_from_an_expired_secret() {
            support::assert_expired_secret_fails(&$scheme, $old, $new);
        }

        #[test]
        fn reads_headers_in_other_case_with_surrounding_spaces() {
            support::assert_header_in_other_case_with_spaces_passes(&$scheme, $new);
        }
    };
}

macro_rules! timestamp_conformance {
    ($scheme:expr, $raw:expr) => {
        #[test]
        fn rejects_stale_and_future_timestamps() {
            support::assert_stale_and_future_fail(&$scheme, $raw);
        }
    };
}

pub(super) use {mac_conformance, timestamp_conformance};
