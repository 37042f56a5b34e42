//! Every signing scheme through HTTP, one file per behaviour: the proofs (fresh requests land;
//! tampered, missing, repeated and garbled headers; the timestamp window), repeats (duplicates)
//! and replays, secret rotation, the published vectors, and bodies whose raw bytes differ from
//! their re-serialised JSON. This file holds what they share: the table of schemes ([`CASES`]),
//! their sources, a movable clock, and the checks of an answer and of what landed.

mod proofs;
mod raw_bytes;
mod repeats;
mod rotation;
mod vectors;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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
