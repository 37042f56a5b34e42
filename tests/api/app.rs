//! `spawn_app()`: the whole bridge on a free loopback port, with the simulator in-process, a
//! throw-away config directory holding the sources a test needs, and a store of its own on the
//! crate's backend.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use genesys_bridge::config::{self, LoadOptions};
use genesys_bridge::simulator::Simulator;
use genesys_bridge::startup::Application;
use genesys_bridge::state::Clock;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::TestStore;

/// What every test profile starts from: ports chosen by the OS, the simulator in-process.
const BASE_PROFILE: &str = r#"
[server]
port = 0

[simulator]
enabled = true
port = 0

[genesys]
client_id = "sim-client"
client_secret = "sim-secret"

[admin]
token = "test-admin-token-0123456789"
"#;

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub simulator: Simulator,
    pub sim_url: String,
    pub http: reqwest::Client,
    pub config_dir: PathBuf,
    /// Where its jobs are.
    pub store: TestStore,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
}

/// The bridge with `sources` (TOML, `[sources.NAME]` tables) added to the base profile.
pub async fn spawn_app(sources: &str) -> TestApp {
    spawn_app_with(sources, &[], None).await
}

/// As [`spawn_app`], with `BRIDGE__…` environment overrides and, optionally, a fixed clock.
pub async fn spawn_app_with(sources: &str, env: &[(&str, &str)], clock: Option<Clock>) -> TestApp {
    let config_dir = write_profile(&format!("{BASE_PROFILE}\n{sources}"));
    // Each app has its own store (a file in its throw-away config directory, or a schema of
    // its own); the test's overrides win.
    let store = TestStore::create(&config_dir).await;
    let mut vars: HashMap<String, String> = store.env().iter().cloned().collect();
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = config::load(&LoadOptions {
        config_dir: config_dir.clone(),
        profile: "test".to_owned(),
        env: Some(vars),
    })
    .unwrap_or_else(|e| panic!("test configuration is invalid: {e}"));
    let shutdown = CancellationToken::new();
    let mut app = Application::build(settings, shutdown.clone())
        .await
        .expect("the bridge starts");
    if let Some(clock) = clock {
        app = app.with_clock(clock);
    }
    let address = format!("http://{}", app.local_addr().expect("bound"));
    let sim = app
        .simulator()
        .expect("the test profile runs the simulator");
    let (simulator, sim_url) = (sim.simulator.clone(), sim.base_url.clone());
    let server = tokio::spawn(async move {
        let _ = app.run().await;
    });
    TestApp {
        address,
        simulator,
        sim_url,
        http: reqwest::Client::new(),
        config_dir,
        store,
        shutdown,
        server: Some(server),
    }
}

/// A fresh directory with `test.toml` in it.
pub fn write_profile(toml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genesys-bridge-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("test.toml"), toml).expect("profile written");
    dir
}

impl TestApp {
    /// Signs `body` with the source's configured scheme (as `genesys-bridge sign` would) and posts it.
    pub async fn send_signed(&self, source: &str, body: &[u8]) -> reqwest::Response {
        self.send_signed_to(source, body, "").await
    }

    /// As [`send_signed`], with a query string such as `?dry_run=true`.
    pub async fn send_signed_to(
        &self,
        source: &str,
        body: &[u8],
        query: &str,
    ) -> reqwest::Response {
        let (url, headers) = self.sign_for(source, body, query);
        let mut request = self.http.post(url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.expect("the bridge answers")
    }

    /// The URL and headers `genesys-bridge sign` would produce for `body`, now.
    pub fn sign_for(
        &self,
        source: &str,
        body: &[u8],
        query: &str,
    ) -> (String, Vec<(String, String)>) {
        let settings = genesys_bridge::config::load(&genesys_bridge::config::LoadOptions {
            config_dir: self.config_dir.clone(),
            profile: "test".to_owned(),
            env: Some(Default::default()),
        })
        .expect("the test profile loads");
        let source = settings
            .sources
            .iter()
            .find(|s| s.name() == source)
            .expect("source configured");
        let signed = genesys_bridge::cli::sign::sign(
            source,
            body,
            &genesys_bridge::cli::sign::SignOptions {
                base_url: &self.address,
                event_id: None,
                dry_run: query.contains("dry_run=true"),
            },
            time::OffsetDateTime::now_utc(),
        )
        .expect("signs");
        (signed.url, signed.headers)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the server as SIGTERM would, and waits for it.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    /// Stops the bridge (as [`TestApp::stop`]) and reads delivery `id` as it left it in the
    /// store, before the app's files go.
    pub async fn stop_and_read(mut self, id: &str) -> Option<genesys_bridge::queue::Job> {
        self.halt().await;
        self.store.job(id).await
    }

    async fn halt(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Posts `body` to `url` with exactly `headers` (in order, repeats kept), as a sender would.
    pub async fn post_raw(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> reqwest::Response {
        let mut request = self.http.post(url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.expect("the bridge answers")
    }

    /// A live call `id` in the simulator; returns its customer's participant id.
    pub fn call_with_customer(&self, id: &str) -> String {
        let conversation = self
            .simulator
            .create_conversation(genesys_bridge::simulator::NewConversation::with_id(id));
        conversation
            .participants
            .iter()
            .find(|p| p.purpose == "customer")
            .expect("default conversations have a customer")
            .id
            .clone()
    }

    /// The participant's attributes once a write has landed; panics after 5 s without one.
    pub async fn landed_attributes(
        &self,
        conversation: &str,
        participant: &str,
    ) -> std::collections::BTreeMap<String, String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let found = self
                .simulator
                .participant_attributes(conversation, participant)
                .filter(|a| !a.is_empty());
            if let Some(found) = found {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no attributes landed on {conversation}/{participant} within 5 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.config_dir);
    }
}
