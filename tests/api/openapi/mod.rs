//! `openapi.yaml` is the published contract, and these tests hold the bridge to it: the router
//! serves exactly the documented operations; each documented status is provoked through a running
//! bridge, and every answer is documented for its operation, carries `X-Request-Id`, and matches
//! the documented schema (problems: every field the `Problem` schema requires).
//!
//! One file per part of the API (the routes, the webhooks, the probes and metrics, the ops API);
//! `contract.rs` reads the document and checks answers against it; this file holds the sources
//! and the requests the tests send.

mod contract;
mod ivr;
mod ops;
mod probes;
mod routes;
mod webhooks;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::app::{TestApp, spawn_app, spawn_app_with};
use contract::{
    Contract, conforms, documented_operations, expect_problem, kind, operation_of, spec,
};

/// The admin token of the test profile, as sent.
const ADMIN: &str = "Bearer test-admin-token-0123456789";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const PROBLEM: &str = "application/problem+json";

/// `crm` signs with Standard Webhooks; `shared` with a generic HMAC whose event id header is not
/// signed, so a captured signature can be re-sent for another event (a replay).
const SOURCES: &str = r#"
[sources.crm]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ="

[sources.crm.mapping.keys]
accountId = "crmAccountId"
owner = "crmOwner"

[sources.shared]
verifier = { type = "hmac", header = "X-Signature", encoding = "hex", id_header = "X-Event-Id" }
secret = "shared-hmac-secret-0123456789"

[sources.shared.mapping.keys]
accountId = "crmAccountId"
"#;

fn event(conversation: &str, fields: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "conversationId": conversation, "fields": fields })).unwrap()
}

/// `body` signed for `source` as `genesys-bridge sign` would, posted with `query`.
async fn signed(app: &TestApp, source: &str, body: &[u8], query: &str) -> Answer {
    Answer::of(app.send_signed_to(source, body, query).await).await
}

/// A webhook for `conversation`, accepted; its delivery id.
async fn accepted(app: &TestApp, conversation: &str) -> String {
    let body = event(conversation, json!({ "accountId": conversation }));
    let answer = signed(app, "crm", &body, "").await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    answer.json()["delivery_id"].as_str().unwrap().to_owned()
}

/// Waits (at most 5 s) until the delivery is `status`.
async fn settled(app: &TestApp, id: &str, status: &str) {
    for _ in 0..250 {
        let answer = admin(app, "GET", &format!("/deliveries/{id}")).await;
        if answer.json()["status"] == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("delivery {id} did not become {status} within 5 s");
}

async fn get(app: &TestApp, path: &str) -> Answer {
    send(app, "GET", path, &[]).await
}

async fn admin(app: &TestApp, method: &str, path: &str) -> Answer {
    send(app, method, path, &[("authorization", ADMIN)]).await
}

/// `method path` with `headers` and, for POST, an empty JSON object as the body.
async fn send(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let body = if method == reqwest::Method::POST {
        "{}"
    } else {
        ""
    };
    let mut request = app.http.request(method, app.url(path)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Answer::of(request.send().await.expect("the bridge answers")).await
}

/// A response, read whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a body").to_vec();
        Self {
            status,
            headers,
            body,
        }
    }

    /// An HTTP/1.1 response with a `content-length`, once `raw` holds all of it.
    fn parse(raw: &[u8]) -> Option<Self> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let mut lines = std::str::from_utf8(&raw[..end]).ok()?.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let mut headers = HeaderMap::new();
        for line in lines {
            let (name, value) = line.split_once(':')?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
            headers.append(name, HeaderValue::from_str(value.trim()).ok()?);
        }
        let length: usize = headers.get("content-length")?.to_str().ok()?.parse().ok()?;
        let body = raw.get(end + 4..end + 4 + length)?.to_vec();
        Some(Self {
            status,
            headers,
            body,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.text()))
    }
}
