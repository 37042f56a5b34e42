use axum::http::{HeaderValue, Method};

use super::*;
use crate::webhook::signature::test_support::{
    self as support, NOW, TestRequest, expired, secret, verifier,
};
use crate::webhook::signature::{DEFAULT_TOLERANCE, Scheme, Verifier};

const BASIC: Scheme = Scheme::Basic;

fn token_scheme() -> Scheme {
    Scheme::HeaderToken {
        header: "X-Api-Key".to_owned(),
    }
}

fn query_scheme() -> Scheme {
    Scheme::QueryKey {
        param: "code".to_owned(),
    }
}

fn with_auth(value: &str) -> TestRequest {
    TestRequest::new(Method::POST, "/hooks/pipedrive", b"{}").header("authorization", value)
}

fn basic(user_pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(user_pass))
}

fn at(uri: &str) -> TestRequest {
    TestRequest::new(Method::POST, uri, b"{}")
}

#[test]
fn basic_accepts_the_right_credentials() {
    let verifier = verifier(&BASIC, &["pipedrive:s3cret"]);
    let verified = support::verify(&verifier, &with_auth(&basic("pipedrive:s3cret"))).unwrap();
    assert_eq!(verified, Verified::default());
    let lower = basic("pipedrive:s3cret").replacen("Basic", "basic", 1);
    assert!(support::verify(&verifier, &with_auth(&format!("  {lower} "))).is_ok());
}

#[test]
fn basic_rejects_wrong_credentials() {
    let verifier = verifier(&BASIC, &["pipedrive:s3cret"]);
    for wrong in ["pipedrive:guess", "other:s3cret", "pipedrive:s3cret ", ":"] {
        let err = support::verify(&verifier, &with_auth(&basic(wrong))).unwrap_err();
        assert_eq!(err, SignatureError::InvalidCredential, "{wrong}");
    }
    let binary = format!("Basic {}", STANDARD.encode(b"\xff\xfe:\x80"));
    let err = support::verify(&verifier, &with_auth(&binary)).unwrap_err();
    assert_eq!(err, SignatureError::InvalidCredential);
}

#[test]
fn basic_reports_missing_and_malformed_credentials() {
    let verifier = verifier(&BASIC, &["u:p"]);
    let none = at("/hooks/pipedrive");
    assert_eq!(
        support::verify(&verifier, &none).unwrap_err(),
        SignatureError::MissingCredential
    );
    for bad in ["Basic not*base64", "Bearer abc", "Basic", "dTpw"] {
        let err = support::verify(&verifier, &with_auth(bad)).unwrap_err();
        assert_eq!(err.reason(), "malformed_header", "{bad}");
        assert!(err.to_string().contains("authorization"), "{err}");
    }
    let twice = with_auth(&basic("u:p")).header("Authorization", &basic("u:p"));
    assert_eq!(
        support::verify(&verifier, &twice).unwrap_err().reason(),
        "duplicate_header"
    );
    let mut non_utf8 = at("/hooks/pipedrive");
    let raw = HeaderValue::from_bytes(b"Basic \xff\xff").unwrap();
    non_utf8.headers.insert("authorization", raw);
    let err = support::verify(&verifier, &non_utf8).unwrap_err();
    assert_eq!(err.reason(), "malformed_header");
}

#[test]
fn every_credential_scheme_round_trips_and_rotates() {
    for scheme in [BASIC, token_scheme(), query_scheme()] {
        let rotating = verifier(&scheme, &["old:one", "new:two"]);
        for raw in ["old:one", "new:two"] {
            let req = TestRequest::signed(&verifier(&scheme, &[raw]), b"{}", NOW);
            assert!(support::verify(&rotating, &req).is_ok(), "{scheme:?} {raw}");
        }
        let outsider = TestRequest::signed(&verifier(&scheme, &["x:y"]), b"{}", NOW);
        assert_eq!(
            support::verify(&rotating, &outsider).unwrap_err(),
            SignatureError::InvalidCredential
        );
    }
}

#[test]
fn an_expired_credential_fails() {
    for scheme in [BASIC, token_scheme(), query_scheme()] {
        let secrets = vec![expired(&scheme, "old:one"), secret(&scheme, "new:two")];
        let rotated = Verifier::new(scheme.clone(), secrets, DEFAULT_TOLERANCE).unwrap();
        let by_old = TestRequest::signed(&verifier(&scheme, &["old:one"]), b"{}", NOW);
        assert_eq!(
            support::verify(&rotated, &by_old).unwrap_err(),
            SignatureError::InvalidCredential
        );
    }
}

#[test]
fn header_token_compares_the_trimmed_value_in_any_header_case() {
    let verifier = verifier(&token_scheme(), &["tok-123"]);
    let req = at("/hooks/dataverse").header("X-API-KEY", "  tok-123 ");
    assert!(support::verify(&verifier, &req).is_ok());
    let wrong = at("/hooks/dataverse").header("x-api-key", "tok-124");
    assert_eq!(
        support::verify(&verifier, &wrong).unwrap_err(),
        SignatureError::InvalidCredential
    );
    assert_eq!(
        support::verify(&verifier, &at("/hooks/dataverse")).unwrap_err(),
        SignatureError::MissingCredential
    );
    let twice = req.clone().header("x-api-key", "tok-123");
    assert_eq!(
        support::verify(&verifier, &twice).unwrap_err().reason(),
        "duplicate_header"
    );
}

#[test]
fn query_key_decodes_percent_escapes_but_not_plus() {
    let verifier = verifier(&query_scheme(), &["ab+c/d=="]);
    let encoded = at("/hooks/dv?x=1&code=ab%2Bc%2Fd%3D%3D&y=2");
    assert!(support::verify(&verifier, &encoded).is_ok());
    let literal = at("/hooks/dv?code=ab+c/d==");
    assert!(support::verify(&verifier, &literal).is_ok());
    let encoded_name = at("/hooks/dv?c%6Fde=ab%2bc%2fd%3d%3d");
    assert!(support::verify(&verifier, &encoded_name).is_ok());
    let spaced = at("/hooks/dv?code=ab%20c/d==");
    assert_eq!(
        support::verify(&verifier, &spaced).unwrap_err(),
        SignatureError::InvalidCredential
    );
}

#[test]
fn query_key_reports_missing_empty_duplicate_and_odd_escapes() {
    let verifier = verifier(&query_scheme(), &["key"]);
    for missing in [
        "/hooks/dv",
        "/hooks/dv?",
        "/hooks/dv?codex=key",
        "/hooks/dv?code=",
    ] {
        let err = support::verify(&verifier, &at(missing)).unwrap_err();
        assert_eq!(err, SignatureError::MissingCredential, "{missing}");
    }
    let twice = at("/hooks/dv?code=key&code=key");
    assert_eq!(
        support::verify(&verifier, &twice).unwrap_err(),
        SignatureError::DuplicateParameter {
            param: "code".to_owned()
        }
    );
    for odd in [
        "/hooks/dv?code=%",
        "/hooks/dv?code=%zz",
        "/hooks/dv?code=%f",
        "/hooks/dv?code=%ff%fe",
    ] {
        let err = support::verify(&verifier, &at(odd)).unwrap_err();
        assert_eq!(err, SignatureError::InvalidCredential, "{odd}");
    }
}

#[test]
fn signing_produces_what_the_sender_sends() {
    let parts = verifier(&BASIC, &["u:p"])
        .sign(&at("/").sign_request(), NOW)
        .unwrap();
    assert_eq!(
        parts.headers,
        [("authorization".to_owned(), "Basic dTpw".to_owned())]
    );
    let parts = verifier(&token_scheme(), &["t"])
        .sign(&at("/").sign_request(), NOW)
        .unwrap();
    assert_eq!(parts.headers, [("x-api-key".to_owned(), "t".to_owned())]);
    let parts = verifier(&query_scheme(), &["k+/"])
        .sign(&at("/").sign_request(), NOW)
        .unwrap();
    assert_eq!(parts.query, Some(("code".to_owned(), "k+/".to_owned())));
}
