//! The IVR handshake through a running bridge: the flow registers the call, a CRM that knows
//! only the caller's number (or an account number) reaches it, and the flow pulls what arrived.
//! One file per behaviour; this one holds the profile and the requests they send.

mod actions;
mod by_number;
mod pull;
mod registration;

use std::time::Duration;

use serde_json::{Value, json};

use crate::app::{TestApp, spawn_app};

/// The IVR's token in the test profile, as sent.
pub(crate) const IVR: &str = "Bearer test-ivr-token-0123456789";

/// `crm` names the conversation; `phone` the caller's number (national numbers are North
/// American); `account` an account number the IVR collected, refusing to choose among several
/// calls.
pub(crate) const PROFILE: &str = r#"
[ivr]
token = "test-ivr-token-0123456789"
default_country_code = "1"

[queue]
recheck_delay = "100ms"
rechecks = 3

[sources.crm]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ="
[sources.crm.mapping]
fields = "/fields"
[sources.crm.mapping.keys]
tier = "customerTier"

[sources.phone]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ="
conversation = { by = "ani", pointer = "/phone" }
[sources.phone.mapping]
fields = "/fields"
[sources.phone.mapping.keys]
accountId = "crmAccountId"
tier = "customerTier"

[sources.account]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ="
conversation = { by = "key", name = "accountNumber", pointer = "/account", several = "refuse" }
[sources.account.mapping]
fields = "/fields"
[sources.account.mapping.keys]
caseId = "crmOpenCase"
"#;

async fn ivr_app() -> TestApp {
    spawn_app(PROFILE).await
}

/// `POST /v1/calls` with the IVR token; (status, body).
pub(crate) async fn register(app: &TestApp, body: Value) -> (u16, Value) {
    let answer = app
        .http
        .post(app.url("/v1/calls"))
        .header("authorization", IVR)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the bridge answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// `GET /v1/calls/{id}/data` with `query`; (status, body).
pub(crate) async fn pull(app: &TestApp, conversation: &str, query: &str) -> (u16, Value) {
    let answer = app
        .http
        .get(app.url(&format!("/v1/calls/{conversation}/data{query}")))
        .header("authorization", IVR)
        .send()
        .await
        .expect("the bridge answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// A signed webhook from `source`; (status, body).
pub(crate) async fn webhook(app: &TestApp, source: &str, body: Value) -> (u16, Value) {
    let answer = app.send_signed(source, body.to_string().as_bytes()).await;
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// The delivery as the ops API shows it, once `done` says so (5 s at most).
async fn delivery_when(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let view: Value = app
            .http
            .get(app.url(&format!("/deliveries/{id}")))
            .header("authorization", "Bearer test-admin-token-0123456789")
            .send()
            .await
            .expect("the bridge answers")
            .json()
            .await
            .expect("a delivery");
        if done(&view) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery {id} did not get there within 5 s: {view}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many of the simulator's recorded requests were `method` on a path containing `path`.
fn requests(app: &TestApp, method: &str, path: &str) -> usize {
    app.simulator
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path))
        .count()
}

pub(crate) fn fields(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect(),
    )
}
