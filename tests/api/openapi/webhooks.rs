//! `POST /webhooks/{source}`: every answer it documents, provoked, including a body that never
//! arrives (408) and a store that cannot take the webhook (503).

use sqlx::Connection as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

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
