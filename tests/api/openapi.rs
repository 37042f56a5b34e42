//! `openapi.yaml` is the published contract, and these tests hold the bridge to it: the router
//! serves exactly the documented operations; each documented status is provoked through a running
//! bridge, and every answer is documented for its operation, carries `X-Request-Id`, and matches
//! the documented schema (problems: every field the `Problem` schema requires).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use genesys_bridge::simulator::Fault;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::app::{TestApp, spawn_app, spawn_app_with};

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

// ---- the routes ---------------------------------------------------------------------------------

#[test]
fn the_router_serves_exactly_the_operations_openapi_yaml_documents() {
    let routed = routed_operations();
    let documented = documented_operations(&spec());
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed in src/http/mod.rs but not in openapi.yaml: {undocumented:?}; \
         in openapi.yaml but not routed: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_reaches_its_handler_and_other_methods_are_405() {
    let spec = spec();
    let app = spawn_app(SOURCES).await;
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path) in documented_operations(&spec) {
        let concrete = path.replace("{source}", "crm").replace("{id}", &id);
        let answer = send(
            &app,
            &method,
            &concrete,
            &[("content-type", "application/json")],
        )
        .await;
        let body = conforms(&spec, &method, &path, &answer);
        assert_ne!(answer.status, 405, "{method} {path}: {body}");
        assert_ne!(body["type"], kind("not-found"), "{method} {path}: {body}");
    }
    let paths: BTreeSet<String> = documented_operations(&spec)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    for path in paths {
        let concrete = path.replace("{source}", "crm").replace("{id}", &id);
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if spec["paths"][&path].get(method.to_lowercase()).is_some() {
                continue;
            }
            let answer = send(&app, method, &concrete, &[]).await;
            assert_eq!(answer.status, 405, "{method} {path}: {}", answer.text());
            assert!(
                answer.header("allow").is_some(),
                "{method} {path}: no Allow"
            );
            expect_problem(&spec, &answer, "method-not-allowed");
        }
    }
    let answer = send(&app, "GET", "/no/such/endpoint", &[]).await;
    assert_eq!(answer.status, 404);
    expect_problem(&spec, &answer, "not-found");
    app.stop().await;
}

// ---- POST /webhooks/{source} --------------------------------------------------------------------

#[tokio::test]
async fn every_webhook_answer_is_documented_and_matches_its_schema() {
    let app = spawn_app_with(SOURCES, &[("BRIDGE__SERVER__MAX_BODY_BYTES", "4096")], None).await;
    let mut contract = Contract::new("POST /webhooks/{source}");
    let crm = async |body: &[u8]| signed(&app, "crm", body, "").await;
    let post = async |path: &str, content_type: &str| {
        send(&app, "POST", path, &[("content-type", content_type)]).await
    };

    let first = event("oa-accepted", json!({ "accountId": "ACC-1" }));
    // Signed once and sent twice: a copy is the same bytes, whatever second it arrives in (the
    // scheme's event id is derived from the signing time).
    let (url, headers) = app.sign_for("crm", &first, "");
    let copy = async || Answer::of(app.post_raw(&url, &headers, &first).await).await;
    let accepted = contract.expect("accepted", 202, &copy().await);
    assert_eq!(accepted["status"], "accepted");
    let duplicate = contract.expect("a copy", 200, &copy().await);
    assert_eq!(duplicate["status"], "duplicate");
    assert_eq!(duplicate["delivery_id"], accepted["delivery_id"]);
    let nulls = event("oa-null", json!({ "accountId": null }));
    let nothing = contract.expect("all null", 200, &crm(&nulls).await);
    assert_eq!(nothing["status"], "nothing_to_write");
    let planned = event("oa-plan", json!({ "accountId": "ACC-2" }));
    let plan = signed(&app, "crm", &planned, "?dry_run=true").await;
    assert_eq!(contract.expect("dry run", 200, &plan)["dry_run"], true);
    app.call_with_customer("oa-wait");
    let waited = event("oa-wait", json!({ "accountId": "ACC-3" }));
    let (url, mut headers) = app.sign_for("crm", &waited, "");
    headers.push(("prefer".to_owned(), "wait=5".to_owned()));
    let answer = Answer::of(app.post_raw(&url, &headers, &waited).await).await;
    assert_eq!(answer.header("preference-applied"), Some("wait=5"));
    let outcome = contract.expect("Prefer: wait", 200, &answer);
    assert_eq!(outcome["status"], "delivered");

    let json = "application/json";
    let malformed = crm(br#"{"conversationId":"#).await;
    contract.expect("malformed JSON", 400, &malformed);
    let maybe = post("/webhooks/crm?dry_run=maybe", json).await;
    contract.expect("dry_run=maybe", 400, &maybe);
    let not_utf8 = post("/webhooks/%FF", json).await;
    contract.expect("a source name that is not UTF-8", 400, &not_utf8);
    let unsigned = contract.expect("unsigned", 401, &post("/webhooks/crm", json).await);
    assert_eq!(unsigned["reason"], "missing_header");
    let shared = event("oa-replay", json!({ "accountId": "ACC-4" }));
    let (url, headers) = app.sign_for("shared", &shared, "");
    for (event_id, status) in [("evt-a", 202), ("evt-b", 401)] {
        let mut headers = headers.clone();
        headers.push(("x-event-id".to_owned(), event_id.to_owned()));
        let answer = Answer::of(app.post_raw(&url, &headers, &shared).await).await;
        let case = format!("the signature sent as {event_id}");
        contract.expect(&case, status, &answer);
    }
    contract.expect(
        "unknown source",
        404,
        &post("/webhooks/nowhere", json).await,
    );
    let url = app.url("/webhooks/crm");
    let big = Answer::of(app.post_raw(&url, &[], &[b' '; 5000]).await).await;
    let big = contract.expect("over max_body_bytes", 413, &big);
    assert_eq!(big["limit_bytes"], 4096);
    contract.expect(
        "text/plain",
        415,
        &post("/webhooks/crm", "text/plain").await,
    );
    let anonymous = crm(br#"{"fields":{"accountId":"x"}}"#).await;
    contract.expect("no conversation id", 422, &anonymous);
    let nested = event("oa-nested", json!({ "owner": { "name": "Ann" } }));
    contract.expect("a nested field", 422, &crm(&nested).await);

    contract.covered_except(&[
        (408, "a_slow_webhook_body_is_a_documented_408"),
        (503, "a_webhook_the_store_cannot_take_is_a_documented_503"),
        (500, "only a bug answers 500"),
    ]);
    app.stop().await;
}

#[tokio::test]
async fn a_slow_webhook_body_is_a_documented_408() {
    let env = [("BRIDGE__SERVER__REQUEST_TIMEOUT", "300ms")];
    let app = spawn_app_with(SOURCES, &env, None).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // Ten bytes announced, one sent: the bridge waits for the rest until its timeout.
    let head = "POST /webhooks/crm HTTP/1.1\r\nhost: bridge\r\ncontent-type: application/json\r\n\
                content-length: 10\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0; 4096];
        while let Ok(n @ 1..) = stream.read(&mut chunk).await {
            raw.extend_from_slice(&chunk[..n]);
            if Answer::parse(&raw).is_some() {
                break;
            }
        }
    });
    read.await.expect("the bridge answers within 5 s");
    let answer = Answer::parse(&raw).expect("a complete HTTP response");
    Contract::new("POST /webhooks/{source}").expect("a body that never arrives", 408, &answer);
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_the_store_cannot_take_is_a_documented_503() {
    let app = spawn_app(SOURCES).await;
    let mut contract = Contract::new("POST /webhooks/{source}");
    // Another connection holds the store's write lock for as long as this test needs.
    let db = app.config_dir.join("data").join("bridge.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&db);
    let mut lock = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .unwrap();

    let body = event("oa-store", json!({ "accountId": "ACC-5" }));
    let (webhook, probe) = tokio::join!(signed(&app, "crm", &body, ""), get(&app, "/health/ready"));
    let problem = contract.expect("the store is locked", 503, &webhook);
    assert_eq!(problem["type"], kind("store-unavailable"));
    let probe = Contract::new("GET /health/ready").expect("the store is locked", 503, &probe);
    assert_eq!(probe["status"], "not_ready");

    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let again = signed(&app, "crm", &body, "").await;
    contract.expect("the store is back", 202, &again);
    app.stop().await;
}

// ---- the probes and the metrics -----------------------------------------------------------------

#[tokio::test]
async fn every_health_and_metrics_answer_is_documented_and_matches_its_schema() {
    let app = spawn_app(SOURCES).await;
    let mut live = Contract::new("GET /health/live");
    let mut ready = Contract::new("GET /health/ready");
    let mut metrics = Contract::new("GET /metrics");
    live.expect(
        "running",
        200,
        &send(&app, "GET", "/health/live", &[]).await,
    );
    let text = metrics.expect("running", 200, &send(&app, "GET", "/metrics", &[]).await);
    assert!(
        text.as_str().is_some_and(|t| t.contains("# TYPE")),
        "{text}"
    );
    let answer = ready.expect("ready", 200, &get(&app, "/health/ready").await);
    assert_eq!(answer["status"], "ready");
    app.stop().await;

    let env = [(
        "BRIDGE__GENESYS__CLIENT_SECRET",
        "not-the-simulators-secret",
    )];
    let refused = spawn_app_with(SOURCES, &env, None).await;
    let answer = get(&refused, "/health/ready").await;
    let answer = ready.expect("credentials refused", 503, &answer);
    let checks = answer["checks"].as_array().unwrap();
    let failing = |c: &&Value| c["status"] == "failing";
    assert_eq!(
        checks.iter().find(failing).map(|c| &c["name"]),
        Some(&json!("genesys_token"))
    );
    refused.stop().await;

    let elsewhere = [
        (408, "the webhook's 408: one timeout layer"),
        (500, "a bug"),
    ];
    for contract in [live, ready, metrics] {
        contract.covered_except(&elsewhere);
    }
}

// ---- the ops API --------------------------------------------------------------------------------

#[tokio::test]
async fn every_ops_answer_is_documented_and_matches_its_schema() {
    let app = spawn_app(SOURCES).await;
    app.call_with_customer("oa-ops-ok");
    let ok = accepted(&app, "oa-ops-ok").await;
    app.call_with_customer("oa-ops-dead");
    let fault = Fault::new("/api/v2/conversations/oa-ops-dead/*").with_method("PATCH");
    app.simulator.inject_fault(fault.with_status(400));
    let dead = accepted(&app, "oa-ops-dead").await;
    settled(&app, &ok, "delivered").await;
    settled(&app, &dead, "dead").await;
    let page = admin(&app, "GET", "/deliveries?status=dead&limit=1")
        .await
        .json();
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a full page has a next_cursor");
    let unknown = uuid::Uuid::now_v7();

    let wrong = "Bearer not-the-admin-token";
    #[rustfmt::skip]
    let cases: [(String, &str, u16); 23] = [
        ("GET /deliveries".into(), ADMIN, 200),
        ("GET /deliveries?status=dead&source=crm&limit=1".into(), ADMIN, 200),
        (format!("GET /deliveries?limit=1&cursor={cursor}"), ADMIN, 200),
        ("GET /deliveries?limit=0".into(), ADMIN, 400),
        ("GET /deliveries?colour=red".into(), ADMIN, 400),
        ("GET /deliveries".into(), "", 401),
        ("GET /deliveries".into(), wrong, 401),
        (format!("GET /deliveries/{ok}"), ADMIN, 200),
        (format!("GET /deliveries/{dead}"), ADMIN, 200),
        ("GET /deliveries/%FF".into(), ADMIN, 400),
        (format!("GET /deliveries/{ok}"), wrong, 401),
        (format!("GET /deliveries/{unknown}"), ADMIN, 404),
        ("GET /deliveries/not-an-id".into(), ADMIN, 404),
        (format!("POST /deliveries/{ok}/replay"), ADMIN, 409),
        (format!("POST /deliveries/{dead}/replay"), ADMIN, 200),
        ("POST /deliveries/%FF/replay".into(), ADMIN, 400),
        (format!("POST /deliveries/{dead}/replay"), "", 401),
        (format!("POST /deliveries/{unknown}/replay"), ADMIN, 404),
        ("POST /deliveries/replay?source=crm".into(), ADMIN, 200),
        ("POST /deliveries/replay?status=pending".into(), ADMIN, 400),
        ("POST /deliveries/replay?source=crm&limit=10".into(), ADMIN, 200),
        (format!("POST /deliveries/replay?cursor={cursor}"), ADMIN, 400),
        ("POST /deliveries/replay".into(), wrong, 401),
    ];
    let spec = spec();
    let mut contracts: Vec<Contract> = Vec::new();
    for (request, authorization, status) in cases {
        let (method, path) = request.split_once(' ').unwrap();
        let headers = [("authorization", authorization)];
        let headers = &headers[..usize::from(!authorization.is_empty())];
        let answer = send(&app, method, path, headers).await;
        let operation = operation_of(&spec, method, path);
        if !contracts.iter().any(|c| c.operation == operation) {
            contracts.push(Contract::new(&operation));
        }
        let contract = contracts.iter_mut().find(|c| c.operation == operation);
        let body = contract.unwrap().expect(&request, status, &answer);
        if request == format!("GET /deliveries/{dead}") {
            assert!(body["last_error"]["message"].is_string(), "{body}");
        }
    }
    for contract in contracts {
        contract.covered_except(&[
            (408, "the webhook's 408: one timeout layer"),
            (500, "a bug"),
            (503, "the webhook's 503: the same store_problem"),
        ]);
    }
    app.stop().await;
}

// ---- helpers: requests --------------------------------------------------------------------------

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

// ---- helpers: the document ----------------------------------------------------------------------

fn spec() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("openapi.yaml at the repository root");
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml does not parse: {e}"))
}

fn kind(kind: &str) -> String {
    format!("urn:genesys-bridge:problem:{kind}")
}

/// `(METHOD, /path/{param})` of every operation under `paths`.
fn documented_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("openapi.yaml has paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

/// `(METHOD, /path/{param})` of every `.route("/path", get(..).post(..))` in `src/http/mod.rs`,
/// read as text. Anything this reading would miss makes it fail instead.
fn routed_operations() -> BTreeSet<(String, String)> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/mod.rs");
    let source: String = std::fs::read_to_string(&file)
        .expect("src/http/mod.rs")
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for unread in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
        assert!(
            !source.contains(unread),
            "src/http/mod.rs uses {unread}: teach routed_operations() to read it"
        );
    }
    let mut operations = BTreeSet::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a .route( call closes");
        let (arguments, after) = rest.split_at(end);
        let mut quoted = arguments.split('"');
        let path = quoted.nth(1).expect("the route's path is a string literal");
        let handlers = &arguments[arguments.find(',').expect("a handler after the path")..];
        for (at, _) in handlers.match_indices('(') {
            let name_start = handlers[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let name = &handlers[name_start..at];
            assert!(
                !matches!(name, "any" | "on" | "any_service" | "on_service"),
                "route {path} uses {name}(): teach routed_operations() to read it"
            );
            if METHODS.contains(&name) {
                operations.insert((name.to_uppercase(), path.to_owned()));
            }
        }
        rest = after;
    }
    assert!(
        !operations.is_empty(),
        "no .route( found in src/http/mod.rs"
    );
    operations
}

/// What a test provoked for one operation (`"POST /webhooks/{source}"`), checked against
/// openapi.yaml as it goes.
struct Contract {
    spec: Value,
    operation: String,
    provoked: BTreeSet<u16>,
}

impl Contract {
    fn new(operation: &str) -> Self {
        let spec = spec();
        let (method, path) = operation.split_once(' ').unwrap();
        let documented = &spec["paths"][path][method.to_lowercase()];
        assert!(documented.is_object(), "{operation} is not in openapi.yaml");
        let operation = operation.to_owned();
        Self {
            spec,
            operation,
            provoked: BTreeSet::new(),
        }
    }

    /// `answer` was provoked to be `status`: it is, and it conforms. Returns the body.
    fn expect(&mut self, case: &str, status: u16, answer: &Answer) -> Value {
        let operation = &self.operation;
        assert_eq!(
            answer.status,
            status,
            "{operation} ({case}): {}",
            answer.text()
        );
        self.provoked.insert(status);
        let (method, path) = operation.split_once(' ').unwrap();
        conforms(&self.spec, method, path, answer)
    }

    /// Every status documented for the operation was provoked, but those `elsewhere` accounts for.
    fn covered_except(&self, elsewhere: &[(u16, &str)]) {
        let operation = &self.operation;
        let (method, path) = operation.split_once(' ').unwrap();
        let responses = self.spec["paths"][path][method.to_lowercase()]["responses"].as_object();
        let missing: Vec<&String> = (responses.expect("responses").keys())
            .filter(|s| {
                let status = s.parse::<u16>().expect("numeric status keys");
                !self.provoked.contains(&status) && !elsewhere.iter().any(|(e, _)| *e == status)
            })
            .collect();
        assert!(
            missing.is_empty(),
            "{operation}: openapi.yaml documents {missing:?}, never provoked"
        );
    }
}

/// The documented operation (`"GET /deliveries/{id}"`) a request goes to: a literal segment
/// wins over a parameter, as in the router.
fn operation_of(spec: &Value, method: &str, request_path: &str) -> String {
    let segments: Vec<&str> = request_path
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .collect();
    let fits = |template: &str| {
        let parts: Vec<&str> = template.split('/').collect();
        let matches = parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| p == s || p.starts_with('{'));
        matches.then(|| parts.iter().filter(|p| p.starts_with('{')).count())
    };
    let best = documented_operations(spec)
        .into_iter()
        .filter(|(m, _)| m == method)
        .filter_map(|(_, template)| Some((fits(&template)?, template)))
        .min();
    let (_, template) = best
        .unwrap_or_else(|| panic!("no operation in openapi.yaml serves {method} {request_path}"));
    format!("{method} {template}")
}

/// The answer's status is documented for `method path`; it has the headers documented as
/// required (`X-Request-Id` on all); its content type is documented; its body matches the
/// documented schema. A problem also repeats the status and the request id. Returns the body.
fn conforms(spec: &Value, method: &str, path: &str, answer: &Answer) -> Value {
    let responses = &spec["paths"][path][method.to_lowercase()]["responses"];
    let status = answer.status.to_string();
    let documented = responses.get(&status).map(|r| resolve(spec, r));
    let documented = documented.unwrap_or_else(|| {
        let listed: Vec<&String> = responses.as_object().map(|r| r.keys().collect()).unwrap();
        panic!(
            "{method} {path} answered {status}, not among {listed:?} in openapi.yaml: {}",
            answer.text()
        )
    });
    let request_id = answer.header("x-request-id");
    assert!(
        request_id.is_some(),
        "{method} {path} {status}: no X-Request-Id"
    );
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        if resolve(spec, header)["required"] == true {
            assert!(
                answer.header(name).is_some(),
                "{method} {path} {status}: no {name}"
            );
        }
    }
    let content_type = answer.header("content-type").unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let media = documented["content"].get(essence).unwrap_or_else(|| {
        panic!("{method} {path} {status}: content type {content_type:?} is not documented")
    });
    let body = if essence.ends_with("json") {
        answer.json()
    } else {
        Value::String(answer.text())
    };
    let mut broken = Vec::new();
    violations(spec, &media["schema"], &body, "", &mut broken);
    assert!(
        broken.is_empty(),
        "{method} {path} {status} breaks its schema in openapi.yaml: {broken:?}\n{body}"
    );
    if essence == PROBLEM {
        let problem = resolve(spec, &spec["components"]["schemas"]["Problem"]);
        for field in problem["required"].as_array().expect("Problem.required") {
            let field = field.as_str().unwrap();
            assert!(
                body.get(field).is_some(),
                "a problem without {field}: {body}"
            );
        }
        assert_eq!(body["status"], answer.status, "{body}");
        assert_eq!(body["request_id"].as_str(), request_id, "{body}");
    }
    body
}

/// A problem of `kind`, conforming to the `Problem` schema.
fn expect_problem(spec: &Value, answer: &Answer, expected: &str) {
    assert_eq!(answer.header("content-type"), Some(PROBLEM));
    assert!(answer.header("x-request-id").is_some());
    let body = answer.json();
    let mut broken = Vec::new();
    let problem = &spec["components"]["schemas"]["Problem"];
    violations(spec, problem, &body, "", &mut broken);
    assert!(broken.is_empty(), "{broken:?}: {body}");
    assert_eq!(body["type"], kind(expected), "{body}");
}

fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("only local $refs");
            let target = spec.pointer(pointer);
            resolve(
                spec,
                target.unwrap_or_else(|| panic!("dangling $ref {reference}")),
            )
        }
        None => node,
    }
}

/// Where `value` breaks `schema`, for the JSON Schema keywords openapi.yaml uses: `$ref`, `allOf`,
/// `oneOf`, `anyOf`, `type`, `const`, `enum`, `minimum`, `maximum`, `required`, `properties`,
/// `additionalProperties` and `items`. Others (`format`, `description`, ...) are not checked.
fn violations(spec: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    let fits = |s: &Value| {
        let mut found = Vec::new();
        violations(spec, s, value, at, &mut found);
        found.is_empty()
    };
    for sub in schema["allOf"].as_array().into_iter().flatten() {
        violations(spec, sub, value, at, out);
    }
    if let Some(any) = schema["anyOf"].as_array().filter(|a| !a.iter().any(fits)) {
        out.push(format!("{at}: none of {} anyOf schemas fits", any.len()));
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let fitting = one.iter().filter(|s| fits(s)).count();
        if fitting != 1 {
            out.push(format!(
                "{at}: {fitting} of the oneOf schemas fit, not exactly 1"
            ));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| is_type(value, t)) {
        out.push(format!("{at}: {value} is not {types:?}"));
    }
    if let Some(expected) = schema.get("const").filter(|c| *c != value) {
        out.push(format!("{at}: {value} is not {expected}"));
    }
    if let Some(allowed) = schema["enum"].as_array().filter(|e| !e.contains(value)) {
        out.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let number = value.as_f64();
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), number)
        && n < min
    {
        out.push(format!("{at}: {n} is below {min}"));
    }
    if let (Some(max), Some(n)) = (schema["maximum"].as_f64(), number)
        && n > max
    {
        out.push(format!("{at}: {n} is above {max}"));
    }
    if let Value::Object(members) = value {
        for name in schema["required"].as_array().into_iter().flatten() {
            if !members.contains_key(name.as_str().unwrap_or_default()) {
                out.push(format!("{at}: {name} is required"));
            }
        }
        for (name, member) in members {
            let inner = format!("{at}/{name}");
            match (
                schema["properties"].get(name),
                schema.get("additionalProperties"),
            ) {
                (Some(property), _) => violations(spec, property, member, &inner, out),
                (None, Some(Value::Bool(false))) => out.push(format!("{inner}: not allowed")),
                (None, Some(extra @ Value::Object(_))) => {
                    violations(spec, extra, member, &inner, out);
                }
                (None, _) => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            violations(spec, item_schema, item, &format!("{at}/{index}"), out);
        }
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}
