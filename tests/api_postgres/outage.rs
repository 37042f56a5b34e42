//! The database goes away and comes back. A replica that starts while PostgreSQL is unreachable
//! starts anyway, reports not-ready and turns webhooks away with `503` (the sender retries);
//! once the database answers it becomes ready by itself. When the database goes away later, what
//! was accepted before is delivered after it returns.
//!
//! The database sits behind a TCP proxy the test opens and closes, as a network partition would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::app::spawn_app_with;
use crate::delivery::SOURCES;
use crate::store::{create_schema, database_url, with_schema};

/// A loopback port that forwards to PostgreSQL while up, and refuses connections (and drops
/// the ones it carried) while down.
struct Partition {
    port: u16,
    database: SocketAddr,
    links: Option<JoinSet<()>>,
}

impl Partition {
    /// A free port, closed for now.
    async fn closed(database: SocketAddr) -> Self {
        let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = probe.local_addr().expect("addr").port();
        drop(probe);
        Self {
            port,
            database,
            links: None,
        }
    }

    async fn open(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the proxy port is free again");
        let database = self.database;
        let mut links = JoinSet::new();
        links.spawn(async move {
            let mut carried = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                carried.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(database).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        self.links = Some(links);
    }

    /// Closes the port and every connection through it (dropping the JoinSet aborts them all).
    fn close(&mut self) {
        self.links = None;
    }
}

fn webhook(conversation: &str, n: usize) -> Vec<u8> {
    serde_json::to_vec(
        &json!({ "conversationId": conversation, "fields": { "seq": n.to_string() } }),
    )
    .expect("json")
}

async fn until_ready(app: &crate::app::TestApp, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let answer = app
            .http
            .get(app.url("/health/ready"))
            .send()
            .await
            .expect("answers");
        let ok = answer.status() == StatusCode::OK;
        let body: Value = answer.json().await.expect("json");
        if ok {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "not ready within {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn store_check(body: &Value) -> Value {
    body["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == "store"))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_replica_rides_out_a_database_outage_without_losing_what_it_accepted() {
    let url = database_url();
    let options: PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    let database: SocketAddr = format!("{}:{}", options.get_host(), options.get_port())
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], options.get_port())));
    let schema = create_schema(&url).await;
    let mut partition = Partition::closed(database).await;
    let user = options.get_username();
    let name = options.get_database().unwrap_or("postgres");
    let proxied = with_schema(
        &format!("postgres://{user}@127.0.0.1:{}/{name}", partition.port),
        &schema,
    );
    let started = Instant::now();
    let app = spawn_app_with(
        SOURCES,
        &[
            ("BRIDGE__STORE__URL", &proxied),
            ("BRIDGE__STORE__CONNECT_TIMEOUT", "500ms"),
            ("BRIDGE__QUEUE__POLL_INTERVAL", "50ms"),
            ("BRIDGE__QUEUE__LEASE", "2s"),
        ],
        None,
    )
    .await;
    // It started although the database is unreachable: not ready, and saying why.
    assert!(started.elapsed() < Duration::from_secs(5));
    let ready = app
        .http
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("answers");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(store_check(&body)["status"], "failing", "{body}");
    let customer = app.call_with_customer("outage-1");
    let refused = app.send_signed("crm", &webhook("outage-1", 0)).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(
        problem["type"],
        "urn:genesys-bridge:problem:store-unavailable"
    );

    // The database is reachable: ready by itself, and webhooks are accepted and delivered.
    partition.open().await;
    until_ready(&app, Duration::from_secs(15)).await;
    for n in 1..=20 {
        let answer = app.send_signed("crm", &webhook("outage-1", n)).await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "webhook {n}");
    }
    let landed = app.landed_attributes("outage-1", &customer).await;
    assert!(landed.contains_key("seq"), "{landed:?}");

    // Accepted while Genesys is slow, so the database goes away with their delivery under way:
    // its outcome cannot be recorded, and the lease (2 s here) hands them out again later.
    let mut slow = genesys_bridge::simulator::Fault::new("/api/v2/conversations/outage-2/*");
    slow.method = Some("PATCH".to_owned());
    slow.latency_ms = Some(400);
    app.simulator.inject_fault(slow);
    let customer2 = app.call_with_customer("outage-2");
    let mut accepted = 0;
    for n in 1..=10 {
        let answer = app.send_signed("crm", &webhook("outage-2", n)).await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "webhook {n}");
        accepted += 1;
    }
    partition.close();
    let refused = app.send_signed("crm", &webhook("outage-2", 99)).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Back again: the ten accepted before the outage land, the last one last.
    partition.open().await;
    until_ready(&app, Duration::from_secs(15)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = app
            .simulator
            .participant_attributes("outage-2", &customer2)
            .unwrap_or_default();
        if now.get("seq").map(String::as_str) == Some("10") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the {accepted} webhooks accepted before the outage did not all land: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
