//! `sign`: the URL and Standard Webhooks headers for a source, as lines or as a `curl` command,
//! for the sample payload or a file's exact bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::*;

/// The Standard Webhooks `v1` signature of `body` under a `whsec_` secret.
fn standard_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The value of `name: value` in `sign`'s header lines.
fn header<'o>(output: &'o str, name: &str) -> &'o str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in:\n{output}"))
}

#[test]
fn sign_prints_the_url_and_standard_webhooks_headers_for_the_demo() {
    let out = run(
        bridge(&repo_config(), "local", &["sign", "--source", "demo"]),
        QUICK,
    );

    assert!(out.status.success(), "{}", out.all());
    assert_eq!(
        out.stdout.lines().next(),
        Some("POST http://127.0.0.1:8080/webhooks/demo")
    );
    let id = header(&out.stdout, "webhook-id");
    let timestamp = header(&out.stdout, "webhook-timestamp");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed_at: i64 = timestamp.parse().unwrap();
    assert!((now - signed_at).abs() < 60, "signed now: {timestamp}");
    assert_eq!(
        header(&out.stdout, "webhook-signature"),
        standard_signature(
            DEMO_SECRET,
            id,
            timestamp,
            genesys_bridge::cli::sign::SAMPLE_PAYLOAD.as_bytes()
        ),
        "the sample payload is signed with the demo secret"
    );
    assert!(!out.all().contains(DEMO_SECRET));
}

#[test]
fn sign_curl_prints_a_complete_curl_command() {
    let out = run(
        bridge(
            &repo_config(),
            "local",
            &["sign", "--source", "demo", "--curl"],
        ),
        QUICK,
    );

    assert!(out.status.success(), "{}", out.all());
    let text = &out.stdout;
    assert!(
        text.starts_with("curl ") && text.contains("-X POST 'http://127.0.0.1:8080/webhooks/demo'"),
        "{text}"
    );
    for header in [
        "-H 'content-type: application/json'",
        "-H 'webhook-id: ",
        "-H 'webhook-timestamp: ",
        "-H 'webhook-signature: v1,",
    ] {
        assert!(text.contains(header), "{header} missing:\n{text}");
    }
    assert!(
        text.contains("--data-binary '{\"conversationId\":\"demo-conversation\""),
        "{text}"
    );
}

#[test]
fn sign_for_an_unknown_source_names_the_configured_ones() {
    let out = run(
        bridge(&repo_config(), "local", &["sign", "--source", "nope"]),
        QUICK,
    );

    assert!(!out.status.success(), "{}", out.all());
    assert!(out.stdout.is_empty(), "nothing to paste: {}", out.stdout);
    assert!(
        out.stderr.contains("\"nope\"") && out.stderr.contains("configured: demo"),
        "{}",
        out.stderr
    );
}

#[test]
fn sign_file_signs_exactly_that_files_bytes() {
    let payload: &[u8] =
        b"{ \"conversationId\": \"call-9\",\n  \"fields\": {\"name\": \"Zo\xc3\xab\"} }\n";
    let dir = ConfigDir::with(&[]);
    let file = dir.path().join("payload.json");
    std::fs::write(&file, payload).unwrap();
    let file_arg = file.to_str().unwrap();

    let out = run(
        bridge(
            &repo_config(),
            "local",
            &["sign", "--source", "demo", "--file", file_arg],
        ),
        QUICK,
    );

    assert!(out.status.success(), "{}", out.all());
    let id = header(&out.stdout, "webhook-id");
    let timestamp = header(&out.stdout, "webhook-timestamp");
    assert_eq!(
        header(&out.stdout, "webhook-signature"),
        standard_signature(DEMO_SECRET, id, timestamp, payload)
    );

    let curl = run(
        bridge(
            &repo_config(),
            "local",
            &["sign", "--source", "demo", "--file", file_arg, "--curl"],
        ),
        QUICK,
    );
    assert!(curl.status.success(), "{}", curl.all());
    assert!(
        curl.stdout
            .contains(&format!("--data-binary @'{file_arg}'")),
        "curl sends the file itself:\n{}",
        curl.stdout
    );
}
