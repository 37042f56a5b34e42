use axum::http::Method;
use time::OffsetDateTime;

use super::*;
use crate::webhook::signature::test_support::{self as support, NOW, TestRequest, verifier};
use crate::webhook::signature::{DEFAULT_TOLERANCE, Scheme, TimestampFormat, Verifier};

fn hex_with_prefix() -> Scheme {
    Scheme::Hmac(GenericHmac {
        header: "X-Signature".to_owned(),
        encoding: Encoding::Hex,
        prefix: Some("sha256=".to_owned()),
        timestamp_header: None,
        timestamp_format: TimestampFormat::Seconds,
        template: "{body}".to_owned(),
        id_header: Some("X-Event-Id".to_owned()),
    })
}

fn base64_with_timestamp(format: TimestampFormat) -> Scheme {
    Scheme::Hmac(GenericHmac {
        header: "x-crm-signature".to_owned(),
        encoding: Encoding::Base64,
        prefix: None,
        timestamp_header: Some("X-CRM-Timestamp".to_owned()),
        timestamp_format: format,
        template: "{timestamp}.{body}".to_owned(),
        id_header: None,
    })
}

mod hex_prefix {
    use super::*;
    use crate::webhook::signature::test_support::mac_conformance;

    mac_conformance!(hex_with_prefix(), old: "old", new: "new");
}

mod base64_seconds {
    use super::*;
    use crate::webhook::signature::test_support::{mac_conformance, timestamp_conformance};

    mac_conformance!(base64_with_timestamp(TimestampFormat::Seconds), old: "old", new: "new");
    timestamp_conformance!(base64_with_timestamp(TimestampFormat::Seconds), "new");
}

mod base64_milliseconds {
    use super::*;
    use crate::webhook::signature::test_support::{mac_conformance, timestamp_conformance};

    mac_conformance!(base64_with_timestamp(TimestampFormat::Milliseconds), old: "old", new: "new");
    timestamp_conformance!(base64_with_timestamp(TimestampFormat::Milliseconds), "new");
}

mod base64_rfc3339 {
    use super::*;
    use crate::webhook::signature::test_support::{mac_conformance, timestamp_conformance};

    mac_conformance!(base64_with_timestamp(TimestampFormat::Rfc3339), old: "old", new: "new");
    timestamp_conformance!(base64_with_timestamp(TimestampFormat::Rfc3339), "new");
}

#[test]
fn reproduces_the_github_vector_with_hex_and_prefix() {
    let req = TestRequest::new(Method::POST, "/hooks/x", b"Hello, World!")
        .header(
            "x-signature",
            "SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )
        .header("x-event-id", "evt_42");
    let verifier = verifier(&hex_with_prefix(), &["It's a Secret to Everybody"]);
    let verified = support::verify(&verifier, &req).unwrap();
    assert_eq!(verified.event_id.as_deref(), Some("evt_42"));
}

#[test]
fn reproduces_the_stripe_vector_with_a_timestamp_template() {
    let scheme = Scheme::Hmac(GenericHmac {
        encoding: Encoding::Hex,
        ..config_of(base64_with_timestamp(TimestampFormat::Seconds))
    });
    let req = TestRequest::new(
        Method::POST,
        "/hooks/x",
        br#"{"id":"evt_test_webhook","object":"event"}"#,
    )
    .header(
        "x-crm-signature",
        "88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a",
    )
    .header("x-crm-timestamp", "1492774577");
    let now = OffsetDateTime::from_unix_timestamp(1_492_774_577).unwrap();
    let verifier = verifier(&scheme, &["whsec_test_secret"]);
    assert!(verifier.verify(&req.incoming(), now).is_ok());
}

#[test]
fn rejects_a_value_without_the_configured_prefix() {
    let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let req = TestRequest::new(Method::POST, "/", b"Hello, World!").header("x-signature", hex);
    let verifier = verifier(&hex_with_prefix(), &["It's a Secret to Everybody"]);
    let err = support::verify(&verifier, &req).unwrap_err();
    assert_eq!(
        err,
        SignatureError::malformed("x-signature", "missing sha256= prefix")
    );
}

#[test]
fn method_and_path_placeholders_sign_the_request_line() {
    let scheme = Scheme::Hmac(GenericHmac {
        template: "{method} {path}\n{body}".to_owned(),
        ..config_of(hex_with_prefix())
    });
    let verifier = verifier(&scheme, &["k"]);
    let mut req = TestRequest::signed(&verifier, b"{}", NOW);
    assert!(support::verify(&verifier, &req).is_ok());
    req.uri = "/hooks/crm?source=other".parse().unwrap();
    assert_eq!(
        support::verify(&verifier, &req).unwrap_err(),
        SignatureError::NoMatch
    );
    req.uri = "/hooks/crm?source=test".parse().unwrap();
    req.method = Method::PUT;
    assert_eq!(
        support::verify(&verifier, &req).unwrap_err(),
        SignatureError::NoMatch
    );
}

fn build(config: GenericHmac) -> Result<Verifier, ConfigError> {
    let scheme = Scheme::Hmac(config);
    let secrets = vec![support::secret(&scheme, "k")];
    Verifier::new(scheme, secrets, DEFAULT_TOLERANCE)
}

fn config_of(scheme: Scheme) -> GenericHmac {
    match scheme {
        Scheme::Hmac(config) => config,
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_a_timestamp_header_the_template_does_not_sign() {
    let config = GenericHmac {
        template: "{body}".to_owned(),
        ..config_of(base64_with_timestamp(TimestampFormat::Seconds))
    };
    assert_eq!(build(config).unwrap_err(), ConfigError::UnsignedTimestamp);
}

#[test]
fn rejects_a_timestamp_placeholder_without_a_header() {
    let config = GenericHmac {
        timestamp_header: None,
        ..config_of(base64_with_timestamp(TimestampFormat::Seconds))
    };
    assert_eq!(
        build(config).unwrap_err(),
        ConfigError::MissingTimestampHeader
    );
}

#[test]
fn rejects_invalid_header_names() {
    let base = config_of(hex_with_prefix());
    let bad_header = GenericHmac {
        header: "x sig".to_owned(),
        ..base.clone()
    };
    let bad_id = GenericHmac {
        id_header: Some("x:id".to_owned()),
        ..base
    };
    assert_eq!(
        build(bad_header).unwrap_err(),
        ConfigError::InvalidHeaderName { field: "header" }
    );
    assert_eq!(
        build(bad_id).unwrap_err(),
        ConfigError::InvalidHeaderName { field: "id_header" }
    );
}

#[test]
fn parses_from_config_with_defaults() {
    let scheme: Scheme = serde_json::from_str(
        r#"{"type":"hmac","header":"X-Signature","encoding":"hex","prefix":"sha256="}"#,
    )
    .unwrap();
    assert!(build(config_of(scheme)).is_ok());
}
