//! Proven under faults: what a `202` promises. Accepted webhooks reach Genesys through a
//! `kill -9`, an outage and a 429 storm; an event is delivered once however often it is sent;
//! permanent failures become dead letters an operator can inspect and replay; a participant's
//! updates land in order, coalesced; `Prefer: wait` answers with the outcome.

mod faults;
mod kill;
mod ops;
pub(crate) mod process;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use genesys_bridge::cli::sign::{SignOptions, sign};
use genesys_bridge::config::{self, LoadOptions};
use genesys_bridge::simulator::{RecordedRequest, Simulator};
use genesys_bridge::webhook::source::Source;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::app::TestApp;

pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Two senders. Fields the table does not name pass through under their own names, so a
/// webhook can carry a key of its own (`seen3`) next to the shared `accountId`.
pub(crate) const SOURCES: &str = r#"
[sources.crm]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ="

[sources.crm.mapping]
fields = "/fields"
unmapped = "pass"

[sources.crm.mapping.keys]
accountId = "crmAccountId"

[sources.billing]
verifier = { type = "standard_webhooks" }
secret = "whsec_YmlsbGluZy1zZWNyZXQtZm9yLWRlbGl2ZXJ5LXRlc3Rz"

[sources.billing.mapping.keys]
accountId = "crmAccountId"
"#;

/// Retries in tens of milliseconds; one attempt per Genesys call, so every failure is the
/// queue's to handle; no rate budget on either side.
const FAST: &[(&str, &str)] = &[
    ("BRIDGE__QUEUE__INITIAL_BACKOFF", "50ms"),
    ("BRIDGE__QUEUE__MAX_BACKOFF", "200ms"),
    ("BRIDGE__QUEUE__POLL_INTERVAL", "20ms"),
    ("BRIDGE__QUEUE__RECHECK_DELAY", "50ms"),
    ("BRIDGE__GENESYS__RETRY__MAX_ATTEMPTS", "1"),
    ("BRIDGE__GENESYS__RATE_LIMIT__REQUESTS_PER_WINDOW", "0"),
    ("BRIDGE__SIMULATOR__RATE_LIMIT", "0"),
];

const ACCOUNT_KEY: &str = "crmAccountId";

/// `{"conversationId": .., "fields": {..}}`, as the sources above read it.
pub(crate) fn webhook(conversation: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let fields: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    serde_json::to_vec(&json!({ "conversationId": conversation, "fields": fields })).unwrap()
}

/// The participant's attributes as the simulator holds them now.
fn landed(sim: &Simulator, conversation: &str, participant: &str) -> BTreeMap<String, String> {
    sim.participant_attributes(conversation, participant)
        .expect("the participant exists")
}

fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Every attributes PATCH on `conversation` the simulator answered, in arrival order.
fn attribute_patches(sim: &Simulator, conversation: &str) -> Vec<RecordedRequest> {
    let prefix = format!("/api/v2/conversations/{conversation}/participants/");
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with(&prefix))
        .collect()
}

/// Signs webhooks for one configured source, as the sender would.
pub(crate) struct Sender {
    source: Source,
    base_url: String,
    http: reqwest::Client,
}

impl Sender {
    pub(crate) fn new(config_dir: &Path, source: &str, base_url: &str) -> Self {
        let settings = config::load(&LoadOptions {
            config_dir: config_dir.to_owned(),
            profile: "test".to_owned(),
            env: Some(Default::default()),
        })
        .expect("the test profile loads");
        let source = settings
            .sources
            .into_iter()
            .find(|s| s.name() == source)
            .expect("source configured");
        Self {
            source,
            base_url: base_url.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
        }
    }

    fn for_app(app: &TestApp, source: &str) -> Self {
        Self::new(&app.config_dir, source, &app.address)
    }

    /// Posts `body` signed at `at` (with `event_id` as the event id when given) and `extra`
    /// headers.
    pub(crate) async fn try_post(
        &self,
        body: &[u8],
        event_id: Option<&str>,
        at: OffsetDateTime,
        extra: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::Response> {
        let options = SignOptions {
            base_url: &self.base_url,
            event_id,
            dry_run: false,
        };
        let signed = sign(&self.source, body, &options, at).expect("signs");
        let mut request = self.http.post(&signed.url).body(body.to_vec());
        for (name, value) in signed
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(extra.iter().copied())
        {
            request = request.header(name, value);
        }
        request.send().await
    }

    /// Posts `body`, requires a 202, returns its delivery id.
    async fn accepted(&self, body: &[u8]) -> String {
        let answer = self
            .try_post(body, None, OffsetDateTime::now_utc(), &[])
            .await
            .expect("the bridge answers");
        let status = answer.status();
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answer["delivery_id"].as_str().unwrap().to_owned()
    }
}

/// The ops API with the admin token.
pub(crate) struct Ops {
    base_url: String,
    http: reqwest::Client,
}

impl Ops {
    pub(crate) fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    fn for_app(app: &TestApp) -> Self {
        Self::new(&app.address)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.get(format!("{}{path}", self.base_url));
        Self::send(request).await
    }

    async fn post(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.post(format!("{}{path}", self.base_url));
        Self::send(request).await
    }

    async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let answer = request.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = answer.status();
        (status, answer.json().await.unwrap())
    }

    async fn delivered(&self, id: &str) -> Value {
        self.await_status(id, "delivered").await
    }

    async fn dead(&self, id: &str) -> Value {
        self.await_status(id, "dead").await
    }

    /// Polls `GET /deliveries/{id}` until it shows `status` (12 s at most); returns that view.
    async fn await_status(&self, id: &str, status: &str) -> Value {
        let within = Duration::from_secs(12);
        let deadline = Instant::now() + within;
        loop {
            let (code, view) = self.get(&format!("/deliveries/{id}")).await;
            assert_eq!(code, StatusCode::OK, "{view}");
            if view["status"] == status {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "delivery {id} is not {status} within {within:?}; last seen: {view}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
