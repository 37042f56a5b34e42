//! Every signing scheme through HTTP: fresh requests land, tampering, missing and repeated
//! headers, the timestamp window, repeats (duplicates) and replays, secret rotation, the published
//! vectors, and bodies whose raw bytes differ from their re-serialised JSON.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use genesys_bridge::cli::sign::{SignOptions, sign};
use genesys_bridge::config::{LoadOptions, load};
use genesys_bridge::state::Clock;
use serde_json::Value;
use time::OffsetDateTime;

use crate::app::{TestApp, spawn_app_with};
use crate::webhook_errors::expect_problem;

/// How a scheme authenticates, which decides what tampering and repeats do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    /// An HMAC over the body, with or without a signed timestamp.
    Mac { timestamped: bool },
    /// A shared credential (Basic, a header token, a query key): it says who sent the request,
    /// not what the request says.
    Credential,
    /// `none`: nothing is checked.
    Open,
}

/// Where a scheme's signature or credential travels.
#[derive(Clone, Copy, Debug)]
enum Proof {
    Header(&'static str),
    Query(&'static str),
    Nothing,
}

struct Case {
    source: &'static str,
    verifier: &'static str,
    /// The current secret (`None` for `none`).
    secret: Option<&'static str>,
    /// An older secret, for the rotation tests.
    old: Option<&'static str>,
    proof: Proof,
    auth: Auth,
}

const TIMESTAMPED: Auth = Auth::Mac { timestamped: true };
const UNTIMED: Auth = Auth::Mac { timestamped: false };

const CASES: &[Case] = &[
    Case {
        source: "standard",
        verifier: r#"{ type = "standard_webhooks" }"#,
        secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        old: Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
        proof: Proof::Header("webhook-signature"),
        auth: TIMESTAMPED,
    },
    Case {
        source: "svix",
        verifier: r#"{ type = "standard_webhooks", header_names = "svix" }"#,
        secret: Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
        old: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        proof: Proof::Header("svix-signature"),
        auth: TIMESTAMPED,
    },
    Case {
        source: "stripe",
        verifier: r#"{ type = "stripe" }"#,
        secret: Some("whsec_test_secret"),
        old: Some("whsec_old_secret"),
        proof: Proof::Header("stripe-signature"),
        auth: TIMESTAMPED,
    },
    Case {
        source: "github",
        verifier: r#"{ type = "github" }"#,
        secret: Some("It's a Secret to Everybody"),
        old: Some("an older secret"),
        proof: Proof::Header("x-hub-signature-256"),
        auth: UNTIMED,
    },
    Case {
        source: "shopify",
        verifier: r#"{ type = "shopify" }"#,
        secret: Some("hush"),
        old: Some("hush-old"),
        proof: Proof::Header("x-shopify-hmac-sha256"),
        auth: UNTIMED,
    },
    Case {
        source: "hubspot",
        verifier: r#"{ type = "hubspot_v3", public_url = "https://crm-hooks.example.com/webhooks/hubspot" }"#,
        secret: Some("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"),
        old: Some("xxxxxxxx-old"),
        proof: Proof::Header("x-hubspot-signature-v3"),
        auth: TIMESTAMPED,
    },
    Case {
        source: "zendesk",
        verifier: r#"{ type = "zendesk" }"#,
        secret: Some("dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="),
        old: Some("b2xkX3NlY3JldA=="),
        proof: Proof::Header("x-zendesk-webhook-signature"),
        auth: TIMESTAMPED,
    },
    Case {
        source: "slack",
        verifier: r#"{ type = "slack" }"#,
        secret: Some("8f742231b10e8888abcd99yyyzzz85a5"),
        old: Some("0123456789abcdef0123456789abcdef"),
        proof: Proof::Header("x-slack-signature"),
        auth: TIMESTAMPED,
    },
    Case {
        source: "hmac",
        verifier: r#"{ type = "hmac", header = "X-Signature", encoding = "base64", prefix = "sha256=", timestamp_header = "X-Timestamp", timestamp_format = "seconds", template = "{timestamp}.{body}" }"#,
        secret: Some("generic-hmac-secret"),
        old: Some("generic-old"),
        proof: Proof::Header("x-signature"),
        auth: TIMESTAMPED,
    },
    Case {
        source: "hmac-hex",
        verifier: r#"{ type = "hmac", header = "X-Hook-Signature", encoding = "hex", timestamp_header = "X-Hook-Time", timestamp_format = "milliseconds", template = "{method}\n{timestamp}\n{body}" }"#,
        secret: Some("generic-hex-secret"),
        old: Some("generic-hex-old"),
        proof: Proof::Header("x-hook-signature"),
        auth: TIMESTAMPED,
    },
    Case {
        source: "basic",
        verifier: r#"{ type = "basic" }"#,
        secret: Some("crm-user:s3cret pass:word"),
        old: Some("crm-user:old-password"),
        proof: Proof::Header("authorization"),
        auth: Auth::Credential,
    },
    Case {
        source: "header-token",
        verifier: r#"{ type = "header_token", header = "X-Api-Key" }"#,
        secret: Some("tok_4f9b2c"),
        old: Some("tok_old"),
        proof: Proof::Header("x-api-key"),
        auth: Auth::Credential,
    },
    Case {
        source: "query-key",
        verifier: r#"{ type = "query_key", param = "code" }"#,
        secret: Some("k/ey+with=odd&chars"),
        old: Some("old-code"),
        proof: Proof::Query("code"),
        auth: Auth::Credential,
    },
    Case {
        source: "open",
        verifier: r#"{ type = "none" }"#,
        secret: None,
        old: None,
        proof: Proof::Nothing,
        auth: Auth::Open,
    },
];

/// One `[sources.NAME]` with its own mapping table: every key lands as `NAME.key`.
fn source_toml(name: &str, verifier: &str, secret_lines: &str) -> String {
    format!(
        r#"
[sources.{name}]
verifier = {verifier}
{secret_lines}

[sources.{name}.mapping.keys]
accountId = "{name}.accountId"
path = "{name}.path"
amp = "{name}.amp"
emoji = "{name}.emoji"
escapedEmoji = "{name}.escapedEmoji"
spaced = "{name}.spaced"
"#
    )
}

fn secret_line(secret: &str) -> String {
    format!("secret = {}", toml_string(secret))
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn all_schemes() -> String {
    CASES
        .iter()
        .map(|case| {
            let secret = case.secret.map(secret_line).unwrap_or_default();
            source_toml(case.source, case.verifier, &secret)
        })
        .collect()
}

fn event(conversation: &str, account: &str) -> Vec<u8> {
    format!(r#"{{"conversationId":"{conversation}","fields":{{"accountId":"{account}"}}}}"#)
        .into_bytes()
}

fn account_of(source: &str) -> String {
    format!("{source}.accountId")
}

/// A wall clock the test can move, or stop at a vector's time.
#[derive(Clone, Default)]
struct TestClock(Arc<Mutex<Setting>>);

#[derive(Clone, Copy, Default)]
enum Setting {
    #[default]
    Wall,
    Shifted(time::Duration),
    At(OffsetDateTime),
}

impl TestClock {
    fn clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || match *me.0.lock().unwrap() {
            Setting::Wall => OffsetDateTime::now_utc(),
            Setting::Shifted(by) => OffsetDateTime::now_utc() + by,
            Setting::At(at) => at,
        })
    }

    fn set(&self, setting: Setting) {
        *self.0.lock().unwrap() = setting;
    }
}

/// The bridge with `sources`, its Genesys request pacing lifted: these tests deliver dozens of
/// updates at once, and the pacing is not what they are about.
async fn spawn_unpaced(sources: &str, clock: Option<Clock>) -> TestApp {
    let unpaced = [("BRIDGE__GENESYS__RATE_LIMIT__REQUESTS_PER_WINDOW", "0")];
    spawn_app_with(sources, &unpaced, clock).await
}

/// Checks a 202 with a delivery id, and returns the id.
async fn expect_accepted(response: reqwest::Response, what: &str) -> String {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 202, "{what}: {text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let delivery = answer["delivery_id"].as_str().unwrap_or_default();
    assert!(!delivery.is_empty(), "{what}: {text}");
    delivery.to_owned()
}

/// Checks a 200 `duplicate` that points at the original delivery.
async fn expect_duplicate(response: reqwest::Response, original: &str, what: &str) {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{what}: {text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["status"], "duplicate", "{what}: {text}");
    assert_eq!(answer["delivery_id"], original, "{what}: {text}");
}

/// Checks a 401 `signature-rejected` with `reason`.
async fn expect_rejected(response: reqwest::Response, reason: &str, what: &str) -> Value {
    let problem = expect_problem(response, 401, "signature-rejected").await;
    assert_eq!(problem["reason"], reason, "{what}: {problem}");
    problem
}

/// The attribute writes the simulator received for `conversation`.
fn patches_to(app: &TestApp, conversation: &str) -> usize {
    let prefix = format!("/api/v2/conversations/{conversation}/participants/");
    app.simulator
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with(&prefix))
        .count()
}

/// A write a test expects on a call's customer.
struct Landing {
    conversation: String,
    customer: String,
    attributes: BTreeMap<String, String>,
}

impl Landing {
    /// A new call `conversation`, expected to end up with exactly `attributes`.
    fn expect(app: &TestApp, conversation: &str, attributes: &[(String, &str)]) -> Self {
        Self {
            conversation: conversation.to_owned(),
            customer: app.call_with_customer(conversation),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.clone(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// Waits for every expected write (the bridge delivers them concurrently) and checks each
/// landed exactly as expected, in one write.
async fn expect_landed(app: &TestApp, landings: &[Landing]) {
    for landing in landings {
        let (conversation, customer) = (&landing.conversation, &landing.customer);
        let landed = app.landed_attributes(conversation, customer).await;
        assert_eq!(landed, landing.attributes, "{conversation}");
        assert_eq!(
            patches_to(app, conversation),
            1,
            "{conversation}: one write"
        );
    }
}

/// `headers` without the scheme's proof, and `url` without a query credential.
fn strip_proof(
    case: &Case,
    url: &str,
    headers: &[(String, String)],
) -> (String, Vec<(String, String)>) {
    match case.proof {
        Proof::Header(name) => {
            let kept = headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
                .cloned()
                .collect::<Vec<_>>();
            assert!(kept.len() < headers.len(), "{} signs {name}", case.source);
            (url.to_owned(), kept)
        }
        Proof::Query(param) => {
            let (path, query) = url.split_once('?').expect("a query credential");
            assert!(query.starts_with(&format!("{param}=")), "{url}");
            (path.to_owned(), headers.to_vec())
        }
        Proof::Nothing => (url.to_owned(), headers.to_vec()),
    }
}

#[tokio::test]
async fn every_scheme_accepts_a_fresh_request_and_the_fields_land() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-fresh", case.source);
        let account = [(account_of(case.source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let response = app
            .send_signed(case.source, &event(&conversation, "ACC-1"))
            .await;
        expect_accepted(response, case.source).await;
    }
    expect_landed(&app, &landings).await;
}

#[tokio::test]
async fn a_flipped_body_byte_fails_every_mac_and_passes_credentials() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-tampered", case.source);
        let body = event(&conversation, "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        let mut tampered = body.clone();
        let at = tampered.windows(5).position(|w| w == b"ACC-1").unwrap() + 4;
        tampered[at] ^= 0x01; // "ACC-1" becomes "ACC-0"
        let response = app.post_raw(&url, &headers, &tampered).await;
        match case.auth {
            Auth::Mac { .. } => {
                expect_rejected(response, "no_match", case.source).await;
            }
            // A credential does not cover the body, so the altered value is what lands.
            Auth::Credential | Auth::Open => {
                let account = [(account_of(case.source), "ACC-0")];
                landings.push(Landing::expect(&app, &conversation, &account));
                expect_accepted(response, case.source).await;
            }
        }
    }
    expect_landed(&app, &landings).await;
    let written: Vec<_> = CASES
        .iter()
        .map(|case| format!("{}-tampered", case.source))
        .filter(|conversation| patches_to(&app, conversation) > 0)
        .collect();
    let expected: Vec<_> = landings.iter().map(|l| l.conversation.clone()).collect();
    assert_eq!(written, expected, "no tampered MAC request was written");
}

#[tokio::test]
async fn a_missing_signature_or_credential_is_refused_by_name() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    for case in CASES {
        let conversation = format!("{}-unsigned", case.source);
        app.call_with_customer(&conversation);
        let body = event(&conversation, "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        let (url, headers) = strip_proof(case, &url, &headers);
        let response = app.post_raw(&url, &headers, &body).await;
        match (case.auth, case.proof) {
            (Auth::Mac { .. }, Proof::Header(name)) => {
                let problem = expect_rejected(response, "missing_header", case.source).await;
                let detail = problem["detail"].as_str().unwrap();
                assert!(detail.contains(name), "{}: {detail}", case.source);
            }
            (Auth::Credential, _) => {
                expect_rejected(response, "missing_credential", case.source).await;
            }
            // `none` has nothing to leave out: it takes the request as it is.
            (Auth::Open, _) => {
                expect_accepted(response, case.source).await;
            }
            (auth, proof) => panic!("{}: no expectation for {auth:?} {proof:?}", case.source),
        }
    }
}

#[tokio::test]
async fn a_signature_or_credential_sent_twice_is_refused() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    for case in CASES {
        let body = event(&format!("{}-twice", case.source), "ACC-1");
        let (url, mut headers) = app.sign_for(case.source, &body, "");
        match case.proof {
            Proof::Header(name) => {
                let sent = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .cloned()
                    .expect("the proof header is signed");
                headers.push(sent);
                let response = app.post_raw(&url, &headers, &body).await;
                let problem = expect_rejected(response, "duplicate_header", case.source).await;
                let detail = problem["detail"].as_str().unwrap().to_ascii_lowercase();
                assert!(detail.contains(name), "{}: {detail}", case.source);
            }
            Proof::Query(param) => {
                let (_, query) = url.split_once('?').unwrap();
                let response = app
                    .post_raw(&format!("{url}&{query}"), &headers, &body)
                    .await;
                let problem = expect_rejected(response, "duplicate_parameter", case.source).await;
                let detail = problem["detail"].as_str().unwrap();
                assert!(detail.contains(param), "{}: {detail}", case.source);
                assert!(!detail.contains("k/ey"), "never echoes the key: {detail}");
            }
            Proof::Nothing => {}
        }
    }
}

#[tokio::test]
async fn timestamps_outside_the_window_are_stale_or_future() {
    let clock = TestClock::default();
    let app = spawn_unpaced(&all_schemes(), Some(clock.clock())).await;
    let cases = [
        (time::Duration::minutes(10), "stale"),
        (time::Duration::minutes(-10), "future"),
        (time::Duration::minutes(4), "late-but-inside"),
        (time::Duration::minutes(-4), "early-but-inside"),
    ];
    for (shift, label) in cases {
        // Signed now; the bridge's clock reads now + shift.
        clock.set(Setting::Shifted(shift));
        for case in CASES {
            let conversation = format!("{}-{label}", case.source);
            app.call_with_customer(&conversation);
            let what = format!("{} {label}", case.source);
            let response = app
                .send_signed(case.source, &event(&conversation, "ACC-1"))
                .await;
            match (case.auth, label) {
                (Auth::Mac { timestamped: true }, "stale") => {
                    let problem = expect_rejected(response, "stale_timestamp", &what).await;
                    let detail = problem["detail"].as_str().unwrap();
                    assert!(detail.contains("300s tolerance"), "{what}: {detail}");
                }
                (Auth::Mac { timestamped: true }, "future") => {
                    expect_rejected(response, "future_timestamp", &what).await;
                }
                // Inside the window, or a scheme without a signed time: the clock does not matter.
                _ => {
                    expect_accepted(response, &what).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn the_same_request_twice_is_answered_as_a_duplicate_and_written_once() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-repeated", case.source);
        let account = [(account_of(case.source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let body = event(&conversation, "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        let first = app.post_raw(&url, &headers, &body).await;
        let delivery = expect_accepted(first, case.source).await;
        let second = app.post_raw(&url, &headers, &body).await;
        expect_duplicate(second, &delivery, case.source).await;
    }
    expect_landed(&app, &landings).await;
}

#[tokio::test]
async fn a_freshly_signed_retry_of_the_same_event_is_a_duplicate() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let now = OffsetDateTime::now_utc();
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-retried", case.source);
        let account = [(account_of(case.source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let body = event(&conversation, "ACC-1");
        let id = format!("evt-{}", case.source);
        let (url, first) = sign_with_id(&app, case.source, &body, &id, now);
        let delivery = expect_accepted(app.post_raw(&url, &first, &body).await, case.source).await;
        // The sender missed the answer and retries a few seconds later: same event, new
        // timestamp (and so a new signature where the scheme signs one).
        let later = now + time::Duration::seconds(3);
        let (url, retry) = sign_with_id(&app, case.source, &body, &id, later);
        let response = app.post_raw(&url, &retry, &body).await;
        expect_duplicate(response, &delivery, case.source).await;
    }
    expect_landed(&app, &landings).await;
}

/// The header each scheme's event id travels in, and whether its signature covers it.
const ID_HEADERS: [(&str, &str, bool); 5] = [
    ("standard", "webhook-id", true),
    ("svix", "svix-id", true),
    ("github", "x-github-delivery", false),
    ("shopify", "x-shopify-webhook-id", false),
    ("zendesk", "x-zendesk-webhook-invocation-id", false),
];

#[tokio::test]
async fn a_captured_signature_sent_under_a_new_event_id_is_refused() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for (source, id_header, signed) in ID_HEADERS {
        let conversation = format!("{source}-relabelled");
        let account = [(account_of(source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let body = event(&conversation, "ACC-1");
        let now = OffsetDateTime::now_utc();
        let (url, headers) = sign_with_id(&app, source, &body, "evt-1", now);
        assert!(
            headers.iter().any(|(n, _)| n == id_header),
            "{source}: {headers:?}"
        );
        expect_accepted(app.post_raw(&url, &headers, &body).await, source).await;
        // An attacker resends the captured request as a "new" event.
        let relabelled: Vec<_> = headers
            .iter()
            .map(|(n, v)| {
                let v = if n == id_header { "evt-2" } else { v.as_str() };
                (n.clone(), v.to_owned())
            })
            .collect();
        let response = app.post_raw(&url, &relabelled, &body).await;
        if signed {
            expect_rejected(response, "no_match", source).await;
        } else {
            let problem = expect_problem(response, 401, "replay").await;
            assert_eq!(problem["reason"], "replay", "{source}");
        }
    }
    expect_landed(&app, &landings).await;
}

/// Every scheme that has secrets to rotate.
fn rotating() -> impl Iterator<Item = &'static Case> {
    CASES.iter().filter(|case| case.old.is_some())
}

const LONG_AGO: &str = "2020-01-01T00:00:00Z";

/// Per scheme: `-rotating` (old still accepted, new current), `-retired` (old expired), and the
/// signers `-old` and `-new` that hold one secret each.
fn rotation_sources() -> String {
    let mut toml = String::new();
    for case in rotating() {
        let (s, verifier) = (case.source, case.verifier);
        let (old, new) = (case.old.unwrap(), case.secret.unwrap());
        let (old_toml, new_toml) = (toml_string(old), toml_string(new));
        let rotating = format!("secrets = [{{ value = {old_toml} }}]\nsecret = {new_toml}");
        let retired = format!(
            "secrets = [{{ value = {old_toml}, not_after = \"{LONG_AGO}\" }}]\nsecret = {new_toml}"
        );
        toml += &source_toml(&format!("{s}-rotating"), verifier, &rotating);
        toml += &source_toml(&format!("{s}-retired"), verifier, &retired);
        toml += &source_toml(&format!("{s}-old"), verifier, &secret_line(old));
        toml += &source_toml(&format!("{s}-new"), verifier, &secret_line(new));
    }
    let github = r#"{ type = "github" }"#;
    let retiring = r#"secrets = [{ value = "an older secret", not_after = "2999-01-01T00:00:00Z" }]
secret = "It's a Secret to Everybody""#;
    toml += &source_toml("github-retiring", github, retiring);
    let expired =
        format!(r#"secrets = [{{ value = "an older secret", not_after = "{LONG_AGO}" }}]"#);
    toml += &source_toml("github-expired", github, &expired);
    toml
}

/// Signs as `signer` would, and sends to `target`: same scheme, another secret list.
async fn send_signed_as(
    app: &TestApp,
    signer: &str,
    target: &str,
    conversation: &str,
) -> reqwest::Response {
    let body = event(conversation, "ACC-1");
    let (url, headers) = app.sign_for(signer, &body, "");
    let url = url.replacen(
        &format!("/webhooks/{signer}"),
        &format!("/webhooks/{target}"),
        1,
    );
    app.post_raw(&url, &headers, &body).await
}

#[tokio::test]
async fn during_a_rotation_old_and_new_secrets_both_verify() {
    let app = spawn_unpaced(&rotation_sources(), None).await;
    let mut landings = Vec::new();
    for case in rotating() {
        let target = format!("{}-rotating", case.source);
        for signer in ["old", "new"] {
            let conversation = format!("{}-{signer}", target);
            let account = [(account_of(&target), "ACC-1")];
            landings.push(Landing::expect(&app, &conversation, &account));
            let signer = format!("{}-{signer}", case.source);
            let response = send_signed_as(&app, &signer, &target, &conversation).await;
            expect_accepted(response, &format!("{signer} -> {target}")).await;
        }
    }
    expect_landed(&app, &landings).await;
}

#[tokio::test]
async fn an_old_secret_past_not_after_is_refused_and_the_new_one_still_works() {
    let app = spawn_unpaced(&rotation_sources(), None).await;
    let mut landings = Vec::new();
    for case in rotating() {
        let target = format!("{}-retired", case.source);
        let old = format!("{}-old", case.source);
        let conversation = format!("{target}-old");
        let response = send_signed_as(&app, &old, &target, &conversation).await;
        let reason = match case.auth {
            Auth::Credential => "invalid_credential",
            Auth::Mac { .. } | Auth::Open => "no_match",
        };
        expect_rejected(response, reason, &format!("{old} -> {target}")).await;

        let new = format!("{}-new", case.source);
        let conversation = format!("{target}-new");
        let account = [(account_of(&target), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let response = send_signed_as(&app, &new, &target, &conversation).await;
        expect_accepted(response, &format!("{new} -> {target}")).await;
    }
    expect_landed(&app, &landings).await;
    // An expiry still ahead changes nothing yet.
    let response = send_signed_as(&app, "github-old", "github-retiring", "retiring-old").await;
    expect_accepted(response, "github-old -> github-retiring").await;
}

#[tokio::test]
async fn a_source_whose_every_secret_expired_refuses_everything() {
    let app = spawn_unpaced(&rotation_sources(), None).await;
    for signer in ["github-old", "github-new"] {
        let response = send_signed_as(&app, signer, "github-expired", signer).await;
        expect_rejected(response, "no_active_secret", signer).await;
    }
}

/// A vector from `shared/webhook-signatures.md`: its exact body and headers, at its time.
struct Vector {
    source: &'static str,
    verifier: &'static str,
    secret: &'static str,
    at: i64,
    body: &'static str,
    headers: &'static [(&'static str, &'static str)],
    /// The body is not JSON (GitHub's and Slack's are not): verified, then refused as JSON.
    json: bool,
}

const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

const VECTORS: &[Vector] = &[
    Vector {
        source: "standard-vector-1",
        verifier: r#"{ type = "standard_webhooks" }"#,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        at: 1_614_265_330,
        body: r#"{"test": 2432232314}"#,
        headers: &[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ],
        json: true,
    },
    Vector {
        source: "standard-vector-2",
        verifier: r#"{ type = "standard_webhooks" }"#,
        secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        at: 1_649_367_553,
        body: r#"{"email":"test@example.com","username":"test_user"}"#,
        headers: &[
            ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
            ("webhook-timestamp", "1649367553"),
            (
                "webhook-signature",
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
        ],
        json: true,
    },
    Vector {
        source: "stripe-vector",
        verifier: r#"{ type = "stripe" }"#,
        secret: "whsec_test_secret",
        at: 1_492_774_577,
        body: r#"{"id":"evt_test_webhook","object":"event"}"#,
        headers: &[(
            "Stripe-Signature",
            "t=1492774577,v1=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a",
        )],
        json: true,
    },
    Vector {
        source: "github-vector",
        verifier: r#"{ type = "github" }"#,
        secret: "It's a Secret to Everybody",
        at: 1_700_000_000,
        body: "Hello, World!",
        headers: &[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )],
        json: false,
    },
    Vector {
        source: "shopify-vector",
        verifier: r#"{ type = "shopify" }"#,
        secret: "hush",
        at: 1_700_000_000,
        body: r#"{"id":1}"#,
        headers: &[(
            "X-Shopify-Hmac-Sha256",
            "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=",
        )],
        json: true,
    },
    Vector {
        source: "hubspot-vector",
        verifier: r#"{ type = "hubspot_v3", public_url = "https://www.example.com/webhook_uri" }"#,
        secret: "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        at: 1_700_000_000,
        body: r#"{"example_field":"example_value"}"#,
        headers: &[
            (
                "X-HubSpot-Signature-v3",
                "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o=",
            ),
            ("X-HubSpot-Request-Timestamp", "1700000000000"),
        ],
        json: true,
    },
    Vector {
        source: "zendesk-vector",
        verifier: r#"{ type = "zendesk" }"#,
        secret: "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==",
        at: 1_616_648_967, // 2021-03-25T05:09:27Z
        body: r#"{"event":"ticket.updated","id":123}"#,
        headers: &[
            (
                "X-Zendesk-Webhook-Signature",
                "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM=",
            ),
            (
                "X-Zendesk-Webhook-Signature-Timestamp",
                "2021-03-25T05:09:27Z",
            ),
        ],
        json: true,
    },
    Vector {
        source: "slack-vector",
        verifier: r#"{ type = "slack" }"#,
        secret: "8f742231b10e8888abcd99yyyzzz85a5",
        at: 1_531_420_618,
        body: SLACK_BODY,
        headers: &[
            (
                "X-Slack-Signature",
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            ("X-Slack-Request-Timestamp", "1531420618"),
        ],
        json: false,
    },
];

fn vector_headers(vector: &Vector) -> Vec<(String, String)> {
    // Slack's body is a form, but the content type is checked before the signature, and the
    // signature covers the bytes alone.
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(
        vector
            .headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    headers
}

#[tokio::test]
async fn the_published_vectors_verify_through_http() {
    let toml: String = VECTORS
        .iter()
        .map(|v| source_toml(v.source, v.verifier, &secret_line(v.secret)))
        .collect();
    let clock = TestClock::default();
    let app = spawn_unpaced(&toml, Some(clock.clock())).await;
    for vector in VECTORS {
        let at = OffsetDateTime::from_unix_timestamp(vector.at + 30).unwrap();
        clock.set(Setting::At(at));
        let url = app.url(&format!("/webhooks/{}", vector.source));
        let headers = vector_headers(vector);
        let response = app.post_raw(&url, &headers, vector.body.as_bytes()).await;
        // Past the signature (a 401 would mean it failed); the body names no conversation.
        if vector.json {
            let problem = expect_problem(response, 422, "invalid-event").await;
            assert_eq!(
                problem["errors"][0]["pointer"], "/conversationId",
                "{}",
                vector.source
            );
            assert_eq!(problem["errors"][0]["code"], "missing", "{}", vector.source);
        } else {
            expect_problem(response, 400, "malformed-json").await;
        }

        // The control: the same request with one body byte changed fails the signature.
        let mut tampered = vector.body.as_bytes().to_vec();
        tampered[1] ^= 0x01;
        let response = app.post_raw(&url, &headers, &tampered).await;
        expect_rejected(response, "no_match", vector.source).await;
    }
}

#[tokio::test]
async fn zendesk_signatures_made_with_the_decoded_secret_are_refused() {
    let vector = VECTORS
        .iter()
        .find(|v| v.source == "zendesk-vector")
        .unwrap();
    let clock = TestClock::default();
    clock.set(Setting::At(
        OffsetDateTime::from_unix_timestamp(vector.at).unwrap(),
    ));
    let toml = source_toml(vector.source, vector.verifier, &secret_line(vector.secret));
    let app = spawn_unpaced(&toml, Some(clock.clock())).await;
    let mut headers = vector_headers(vector);
    headers[1].1 = "ElGlCykjczJm8dAh5YJyfzGb6ttTqrYPkC81bFc/ZSk=".to_owned();
    let url = app.url(&format!("/webhooks/{}", vector.source));
    let response = app.post_raw(&url, &headers, vector.body.as_bytes()).await;
    expect_rejected(response, "no_match", "decoded zendesk secret").await;
}

/// JSON whose bytes a re-serialiser would change: CRLF, tabs, `\/`, `\u0026`, a raw and an
/// escaped emoji, and a trailing newline after the document.
fn awkward_event(conversation: &str) -> Vec<u8> {
    [
        "{\r\n  \"conversationId\" :\t\"",
        conversation,
        "\" ,\n  \"fields\" : { \"path\": \"a\\/b\", \"amp\": \"\\u0026\",\n\t",
        "\"emoji\": \"😀\", \"escapedEmoji\": \"\\ud83d\\ude00\", \"spaced\": \"  x \\n\" }  \n}\n\n",
    ]
    .concat()
    .into_bytes()
}

#[tokio::test]
async fn raw_bytes_are_verified_as_sent_and_values_land_decoded() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-awkward", case.source);
        let key = |field: &str| format!("{}.{field}", case.source);
        let decoded = [
            (key("path"), "a/b"),
            (key("amp"), "&"),
            (key("emoji"), "😀"),
            (key("escapedEmoji"), "😀"),
            (key("spaced"), "  x \n"),
        ];
        landings.push(Landing::expect(&app, &conversation, &decoded));
        let response = app
            .send_signed(case.source, &awkward_event(&conversation))
            .await;
        expect_accepted(response, case.source).await;
    }
    expect_landed(&app, &landings).await;
}

#[tokio::test]
async fn a_re_serialised_body_no_longer_matches_its_signature() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    for case in CASES.iter().filter(|c| matches!(c.auth, Auth::Mac { .. })) {
        let conversation = format!("{}-reserialised", case.source);
        let body = awkward_event(&conversation);
        let (url, headers) = app.sign_for(case.source, &body, "");
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        let compact = serde_json::to_vec(&parsed).unwrap();
        assert_ne!(compact, body);
        let response = app.post_raw(&url, &headers, &compact).await;
        expect_rejected(response, "no_match", case.source).await;
    }
}

#[tokio::test]
async fn a_proof_header_that_is_empty_or_not_utf8_is_refused() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    for case in CASES {
        let Proof::Header(name) = case.proof else {
            continue;
        };
        let body = event(&format!("{}-garbled", case.source), "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        for (label, value) in [("empty", &b""[..]), ("not UTF-8", &b"\xff\xfe\xfd"[..])] {
            let what = format!("{} {label}", case.source);
            let mut request = app.http.post(&url).body(body.clone());
            for (n, v) in headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            {
                request = request.header(n, v);
            }
            let value = reqwest::header::HeaderValue::from_bytes(value).unwrap();
            let response = request.header(name, value).send().await.unwrap();
            let reason = match (case.auth, label) {
                (Auth::Credential, "empty") => "missing_credential",
                _ => "malformed_header",
            };
            expect_rejected(response, reason, &what).await;
        }
    }
}

/// Signs as `genesys-bridge sign --event-id ID` would at `at`.
fn sign_with_id(
    app: &TestApp,
    source: &str,
    body: &[u8],
    event_id: &str,
    at: OffsetDateTime,
) -> (String, Vec<(String, String)>) {
    let settings = load(&LoadOptions {
        config_dir: app.config_dir.clone(),
        profile: "test".to_owned(),
        env: Some(Default::default()),
    })
    .unwrap();
    let source = settings
        .sources
        .iter()
        .find(|s| s.name() == source)
        .unwrap();
    let options = SignOptions {
        base_url: &app.address,
        event_id: Some(event_id),
        dry_run: false,
    };
    let signed = sign(source, body, &options, at).unwrap();
    (signed.url, signed.headers)
}

#[tokio::test]
async fn copies_of_one_request_arriving_together_are_duplicates_not_replays() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-burst", case.source);
        let account = [(account_of(case.source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let body = event(&conversation, "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        let copies: Vec<_> = (0..8)
            .map(|_| {
                let request = app.http.post(&url).body(body.clone());
                let request = headers.iter().fold(request, |request, (name, value)| {
                    request.header(name, value)
                });
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for copy in copies {
            statuses.push(copy.await.unwrap());
        }
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 200, 200, 200, 200, 200, 200, 202],
            "{}",
            case.source
        );
    }
    expect_landed(&app, &landings).await;
}
