//! Every error the webhook endpoint answers is `application/problem+json` with a stable `type`, its
//! `title`, the `status`, a `detail` and the request id; dry runs and empty updates call nothing.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::{TestApp, spawn_app, spawn_app_with};

const SOURCES: &str = r#"
[sources.demo]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtZXJyb3JzLXRlc3Qtc2VjcmV0"

[sources.demo.mapping.keys]
accountId = "crmAccountId"
tier = "customerTier"

[sources.explicit]
verifier = { type = "standard_webhooks" }
secret = "whsec_Z2VuZXN5cy1icmlkZ2UtZXJyb3JzLXRlc3Qtc2VjcmV0"
participant_id = "/participantId"

[sources.explicit.mapping.keys]
accountId = "crmAccountId"
"#;

/// The `title` each problem `type` is documented with.
fn title_of(kind: &str) -> &'static str {
    match kind {
        "unknown-source" => "Unknown source",
        "not-found" => "Not found",
        "method-not-allowed" => "Method not allowed",
        "unsupported-media-type" => "Unsupported media type",
        "payload-too-large" => "Payload too large",
        "signature-rejected" => "Signature rejected",
        "replay" => "Replayed request",
        "malformed-json" => "Malformed JSON",
        "invalid-event" => "Invalid event",
        "invalid-parameter" => "Invalid query parameter",
        other => panic!("no title known for problem type {other:?}"),
    }
}

/// Checks `response` is the problem `kind` with `status`, in full, and returns its body.
pub(crate) async fn expect_problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    let got = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    assert_eq!(
        got, status,
        "expected a {status} {kind} problem, got: {text}"
    );
    let content_type = headers.get("content-type").map(|v| v.to_str().unwrap());
    assert_eq!(content_type, Some("application/problem+json"), "{text}");
    let body: Value = serde_json::from_str(&text).expect("problem bodies are JSON");
    assert_eq!(
        body["type"],
        format!("urn:genesys-bridge:problem:{kind}"),
        "{text}"
    );
    assert_eq!(body["title"], title_of(kind), "{text}");
    assert_eq!(body["status"], status, "{text}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.trim().is_empty(), "a problem says why: {text}");
    let request_id = headers
        .get("x-request-id")
        .expect("every answer carries x-request-id")
        .to_str()
        .expect("x-request-id is visible ASCII");
    assert!(!request_id.is_empty());
    assert_eq!(body["request_id"], request_id, "{text}");
    body
}

fn event(conversation: &str) -> Vec<u8> {
    format!(r#"{{"conversationId":"{conversation}","fields":{{"accountId":"ACC-1","tier":"gold","ignored":1}}}}"#)
        .into_bytes()
}

/// The signed headers for `body` with `content-type` replaced by `content_type` (or dropped).
fn with_content_type(
    headers: Vec<(String, String)>,
    content_type: Option<&str>,
) -> Vec<(String, String)> {
    let mut headers: Vec<_> = headers
        .into_iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
        .collect();
    if let Some(value) = content_type {
        headers.push(("content-type".to_owned(), value.to_owned()));
    }
    headers
}

fn json_content_type() -> Vec<(String, String)> {
    vec![("content-type".to_owned(), "application/json".to_owned())]
}

async fn post_signed(app: &TestApp, source: &str, body: &[u8], query: &str) -> reqwest::Response {
    let (url, headers) = app.sign_for(source, body, "");
    app.post_raw(&format!("{url}{query}"), &headers, body).await
}

#[tokio::test]
async fn an_unknown_source_is_a_404_problem_naming_it() {
    let app = spawn_app(SOURCES).await;
    let response = app
        .post_raw(&app.url("/webhooks/nope"), &json_content_type(), b"{}")
        .await;
    let body = expect_problem(response, 404, "unknown-source").await;
    assert!(
        body["detail"].as_str().unwrap().contains("\"nope\""),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_404_problem() {
    let app = spawn_app(SOURCES).await;
    let missing = app.http.get(app.url("/nowhere")).send().await.unwrap();
    expect_problem(missing, 404, "not-found").await;
    let no_source = app
        .post_raw(&app.url("/webhooks"), &json_content_type(), b"{}")
        .await;
    expect_problem(no_source, 404, "not-found").await;
    let too_deep = app
        .post_raw(
            &app.url("/webhooks/demo/extra"),
            &json_content_type(),
            b"{}",
        )
        .await;
    expect_problem(too_deep, 404, "not-found").await;
}

#[tokio::test]
async fn get_on_a_webhook_is_a_405_problem_that_allows_post() {
    let app = spawn_app(SOURCES).await;
    let response = app
        .http
        .get(app.url("/webhooks/demo"))
        .send()
        .await
        .unwrap();
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    expect_problem(response, 405, "method-not-allowed").await;
    assert!(
        allow.as_deref().is_some_and(|a| a.contains("POST")),
        "{allow:?}"
    );
}

#[tokio::test]
async fn an_incoming_request_id_is_echoed_in_the_header_and_the_problem() {
    let app = spawn_app(SOURCES).await;
    let mut headers = json_content_type();
    headers.push(("x-request-id".to_owned(), "crm-req-7f3a".to_owned()));
    let response = app
        .post_raw(&app.url("/webhooks/nope"), &headers, b"{}")
        .await;
    assert_eq!(response.headers()["x-request-id"], "crm-req-7f3a");
    let body = expect_problem(response, 404, "unknown-source").await;
    assert_eq!(body["request_id"], "crm-req-7f3a");

    // Without one, the bridge makes one up, and it is the same in the header and the body.
    let response = app
        .post_raw(&app.url("/webhooks/nope"), &json_content_type(), b"{}")
        .await;
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(generated, "crm-req-7f3a");
    assert_eq!(
        expect_problem(response, 404, "unknown-source").await["request_id"],
        generated
    );
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_415_even_when_signed() {
    let app = spawn_app(SOURCES).await;
    let body = event("call-415");
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/json-seq"),
        Some("text/json"),
    ] {
        let (url, headers) = app.sign_for("demo", &body, "");
        let response = app
            .post_raw(&url, &with_content_type(headers, content_type), &body)
            .await;
        let problem = expect_problem(response, 415, "unsupported-media-type").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{content_type:?}: {problem}"
        );
    }
    // The content type is checked before the signature: an unsigned text/plain post is 415 too.
    let headers = vec![("content-type".to_owned(), "text/plain".to_owned())];
    let response = app
        .post_raw(&app.url("/webhooks/demo"), &headers, b"hello")
        .await;
    expect_problem(response, 415, "unsupported-media-type").await;
}

#[tokio::test]
async fn json_suffix_types_parameters_and_any_case_are_accepted() {
    let app = spawn_app(SOURCES).await;
    for (i, content_type) in [
        "application/vnd.x+json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
    ]
    .into_iter()
    .enumerate()
    {
        let conversation = format!("call-ct-{i}");
        let customer = app.call_with_customer(&conversation);
        let body = event(&conversation);
        let (url, headers) = app.sign_for("demo", &body, "");
        let response = app
            .post_raw(&url, &with_content_type(headers, Some(content_type)), &body)
            .await;
        assert_eq!(response.status(), 202, "{content_type}");
        let landed = app.landed_attributes(&conversation, &customer).await;
        assert_eq!(landed["crmAccountId"], "ACC-1", "{content_type}");
    }
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_413_before_any_signature_check() {
    let app = spawn_app_with(SOURCES, &[("BRIDGE__SERVER__MAX_BODY_BYTES", "1024")], None).await;
    let big = format!(
        r#"{{"conversationId":"call-big","fields":{{"accountId":"{}"}}}}"#,
        "x".repeat(2000)
    );
    let response = app
        .post_raw(
            &app.url("/webhooks/demo"),
            &json_content_type(),
            big.as_bytes(),
        )
        .await;
    let body = expect_problem(response, 413, "payload-too-large").await;
    assert_eq!(body["limit_bytes"], 1024);
    assert!(body["detail"].as_str().unwrap().contains("1024"), "{body}");

    // Exactly at the limit is fine (trailing whitespace is valid JSON and part of the signed bytes).
    let customer = app.call_with_customer("call-at-limit");
    let mut at_limit = event("call-at-limit");
    at_limit.resize(1024, b' ');
    let response = app.send_signed("demo", &at_limit).await;
    assert_eq!(response.status(), 202);
    let landed = app.landed_attributes("call-at-limit", &customer).await;
    assert_eq!(landed["crmAccountId"], "ACC-1");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_too() {
    let app = spawn_app_with(SOURCES, &[("BRIDGE__SERVER__MAX_BODY_BYTES", "1024")], None).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let chunk = "x".repeat(800);
    let request = format!(
        "POST /webhooks/demo HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         {len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
        len = chunk.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the bridge answers within 5 s")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("urn:genesys-bridge:problem:payload-too-large"),
        "{answer}"
    );
}

#[tokio::test]
async fn malformed_json_is_400_with_its_line_and_column() {
    let app = spawn_app(SOURCES).await;
    // Signed, so it is the JSON that is refused; the error is the `'` on line 3, column 27.
    let body = b"{\n  \"conversationId\": \"call-1\",\n  \"fields\": {\"accountId\": 'x'}\n}\n";
    let response = app.send_signed("demo", body).await;
    let problem = expect_problem(response, 400, "malformed-json").await;
    assert_eq!(problem["line"], 3, "{problem}");
    assert_eq!(problem["column"], 27, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("line 3, column 27"),
        "{problem}"
    );

    // Truncated bodies are reported where they end.
    let truncated = b"{\"conversationId\": \"call-1\",\n \"fields\": {";
    let problem = expect_problem(
        app.send_signed("demo", truncated).await,
        400,
        "malformed-json",
    )
    .await;
    assert_eq!(
        (problem["line"].clone(), problem["column"].clone()),
        (json!(2), json!(12))
    );
}

#[tokio::test]
async fn a_non_utf8_body_is_a_4xx_problem_not_a_crash() {
    let app = spawn_app(SOURCES).await;
    let bodies: [&[u8]; 3] = [
        b"{\"conversationId\":\"call-1\",\"fields\":{\"accountId\":\"\xff\xfe\"}}",
        b"\xef\xbb\xbf{\"conversationId\":\"call-1\",\"fields\":{}}",
        b"\x00\x9f\x92\x96\xc3\x28 binary",
    ];
    for body in bodies {
        let response = app.send_signed("demo", body).await;
        let status = response.status();
        assert!(status.is_client_error(), "{body:?}: {status}");
        // Verified on the raw bytes first (never 401), then refused as JSON.
        expect_problem(response, 400, "malformed-json").await;
    }
    let health = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the bridge is still up");
}

#[tokio::test]
async fn conversation_id_problems_are_422_with_pointer_and_code() {
    let app = spawn_app(SOURCES).await;
    let cases: [(&[u8], &str); 6] = [
        (br#"{"fields":{"accountId":"A"}}"#, "missing"),
        (br#"{"conversationId":null,"fields":{}}"#, "missing"),
        (br#"{"conversationId":42,"fields":{}}"#, "not_a_string"),
        (br#"{"conversationId":["c-1"],"fields":{}}"#, "not_a_string"),
        (
            br#"{"conversationId":"../admin","fields":{}}"#,
            "invalid_id",
        ),
        (br#"{"conversationId":"","fields":{}}"#, "invalid_id"),
    ];
    for (body, code) in cases {
        let response = app.send_signed("demo", body).await;
        let problem = expect_problem(response, 422, "invalid-event").await;
        let errors = problem["errors"].as_array().expect("errors[]");
        assert_eq!(errors.len(), 1, "{problem}");
        assert_eq!(errors[0]["pointer"], "/conversationId", "{problem}");
        assert_eq!(errors[0]["code"], code, "{problem}");
        assert!(errors[0]["message"].is_string(), "{problem}");
    }
    // Every problem is reported at once: a bad participant id beside a missing conversation.
    let body = br#"{"participantId":7,"fields":{}}"#;
    let problem = expect_problem(
        app.send_signed("explicit", body).await,
        422,
        "invalid-event",
    )
    .await;
    let found: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["pointer"].clone(), e["code"].clone()))
        .collect();
    assert_eq!(
        found,
        [
            (json!("/conversationId"), json!("missing")),
            (json!("/participantId"), json!("not_a_string"))
        ]
    );
    assert_eq!(app.simulator.stats().api_requests, 0);
}

#[tokio::test]
async fn dry_run_must_be_true_or_false() {
    let app = spawn_app(SOURCES).await;
    let response = post_signed(&app, "demo", &event("call-1"), "?dry_run=maybe").await;
    let problem = expect_problem(response, 400, "invalid-parameter").await;
    assert_eq!(problem["parameter"], "dry_run");
    assert!(
        problem["detail"].as_str().unwrap().contains("maybe"),
        "{problem}"
    );
    assert_eq!(app.simulator.stats().api_requests, 0);
}

#[tokio::test]
async fn a_dry_run_plans_the_exact_calls_and_makes_none() {
    let app = spawn_app(SOURCES).await;
    let customer = app.call_with_customer("call-dry");
    let body = event("call-dry");
    let response = app.send_signed_to("demo", &body, "?dry_run=true").await;
    assert_eq!(response.status(), 200);
    let plan: Value = response.json().await.unwrap();
    assert_eq!(plan["dry_run"], true, "{plan}");
    assert_eq!(plan["source"], "demo");
    assert_eq!(plan["conversation_id"], "call-dry");
    assert_eq!(
        plan["participant"],
        json!({"rule": "purposes", "purposes": ["customer"]})
    );
    let calls = plan["calls"].as_array().expect("calls[]");
    assert_eq!(calls.len(), 2, "{plan}");
    assert_eq!(calls[0]["method"], "GET");
    assert_eq!(calls[0]["path"], "/api/v2/conversations/call-dry");
    assert_eq!(calls[0].get("body"), None);
    assert_eq!(calls[1]["method"], "PATCH");
    assert_eq!(
        calls[1]["path"],
        "/api/v2/conversations/call-dry/participants/{participantId}/attributes"
    );
    assert_eq!(
        calls[1]["body"],
        json!({"attributes": {"crmAccountId": "ACC-1", "customerTier": "gold"}})
    );
    assert_eq!(plan["dropped"], json!(["/fields/ignored"]));
    assert_eq!(
        app.simulator.stats().api_requests,
        0,
        "a dry run calls nothing"
    );
    assert!(app.simulator.requests().is_empty());

    // Dry runs are not remembered as replays: the same signed request may be dry-run again,
    // then sent for real.
    let (url, headers) = app.sign_for("demo", &body, "?dry_run=true");
    let again = app.post_raw(&url, &headers, &body).await;
    assert_eq!(again.status(), 200);
    let real_url = url.replace("?dry_run=true", "");
    let real = app.post_raw(&real_url, &headers, &body).await;
    assert_eq!(real.status(), 202);
    let landed = app.landed_attributes("call-dry", &customer).await;
    assert_eq!(
        serde_json::to_value(&landed).unwrap(),
        calls[1]["body"]["attributes"],
        "what lands is what the dry run planned"
    );
}

#[tokio::test]
async fn a_dry_run_with_a_bad_signature_is_401() {
    let app = spawn_app(SOURCES).await;
    let body = event("call-dry");
    let (url, headers) = app.sign_for("demo", &body, "?dry_run=true");
    let mut tampered = body.clone();
    let at = tampered.iter().rposition(|b| *b == b'1').unwrap();
    tampered[at] = b'2';
    let response = app.post_raw(&url, &headers, &tampered).await;
    let problem = expect_problem(response, 401, "signature-rejected").await;
    assert_eq!(problem["reason"], "no_match");
    assert_eq!(app.simulator.stats().api_requests, 0);
}

#[tokio::test]
async fn a_dry_run_with_an_explicit_participant_plans_only_the_patch() {
    let app = spawn_app(SOURCES).await;
    let body =
        br#"{"conversationId":"call-x","participantId":"p-42","fields":{"accountId":"ACC-9"}}"#;
    let response = app.send_signed_to("explicit", body, "?dry_run=true").await;
    assert_eq!(response.status(), 200);
    let plan: Value = response.json().await.unwrap();
    assert_eq!(
        plan["participant"],
        json!({"rule": "explicit", "participant_id": "p-42"})
    );
    let calls = plan["calls"].as_array().expect("calls[]");
    assert_eq!(
        calls.len(),
        1,
        "no lookup when the payload names the participant: {plan}"
    );
    assert_eq!(calls[0]["method"], "PATCH");
    assert_eq!(
        calls[0]["path"],
        "/api/v2/conversations/call-x/participants/p-42/attributes"
    );
    assert_eq!(
        calls[0]["body"],
        json!({"attributes": {"crmAccountId": "ACC-9"}})
    );
    assert_eq!(app.simulator.stats().api_requests, 0);
}

#[tokio::test]
async fn only_null_fields_answer_nothing_to_write_and_call_nothing() {
    let app = spawn_app(SOURCES).await;
    app.call_with_customer("call-null");
    let body = br#"{"conversationId":"call-null","fields":{"accountId":null,"tier":null}}"#;
    let response = app.send_signed("demo", body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "nothing_to_write", "{answer}");
    assert_eq!(
        answer["skipped_null"],
        json!(["/fields/accountId", "/fields/tier"]),
        "{answer}"
    );
    assert_eq!(app.simulator.stats().api_requests, 0);

    // The dry run of the same payload plans no call either.
    let body = br#"{"conversationId":"call-null","fields":{"accountId":null}}"#;
    let plan: Value = app
        .send_signed_to("demo", body, "?dry_run=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plan["calls"], json!([]), "{plan}");
    assert_eq!(app.simulator.stats().api_requests, 0);
}

#[tokio::test]
async fn a_parameter_that_only_starts_with_dry_run_is_not_dry_run() {
    let app = spawn_app(SOURCES).await;
    let customer = app.call_with_customer("call-q");
    let response = post_signed(&app, "demo", &event("call-q"), "?dry_run_id=7").await;
    let status = response.status();
    assert_eq!(status, 202, "{}", response.text().await.unwrap());
    let landed = app.landed_attributes("call-q", &customer).await;
    assert_eq!(landed["crmAccountId"], "ACC-1");
}

#[tokio::test]
async fn a_request_id_that_is_not_visible_ascii_still_matches_the_problem() {
    let app = spawn_app(SOURCES).await;
    let not_ascii = reqwest::header::HeaderValue::from_bytes(b"req-\xe9t\xe9").unwrap();
    let response = app
        .http
        .post(app.url("/webhooks/nope"))
        .header("content-type", "application/json")
        .header("x-request-id", not_ascii)
        .body("{}")
        .send()
        .await
        .unwrap();
    // Echoed or replaced, the id in the header is one a person can read and find in the body.
    expect_problem(response, 404, "unknown-source").await;
}
