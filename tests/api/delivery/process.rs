//! A real `genesys-bridge serve` as a child process, for tests that `kill -9` it: its profile,
//! its directory, and the store every process started from that directory shares.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ADMIN_TOKEN, SOURCES};
use crate::binaries::{LoggedChild, bridge};
use crate::store::{Backend, READY_WITHIN, TestStore};

/// A profile for the real binary: no simulator of its own, `sim_url` as Genesys, fast retries,
/// and `lease` as the time a dead process's deliveries stay leased. (On PostgreSQL a process
/// does not take back in-flight leases when it starts, since another replica may hold them:
/// they are due again when they expire.) The store comes from the [`ProcessDir`].
pub(crate) fn child_profile(sim_url: &str, lease: &str) -> String {
    format!(
        r#"
[server]
port = 0
shutdown_grace = "2s"

[log]
format = "json"

[simulator]
enabled = false

[genesys]
api_base_url = "{sim_url}"
login_base_url = "{sim_url}"
client_id = "sim-client"
client_secret = "sim-secret"

[genesys.retry]
max_attempts = 1

[genesys.rate_limit]
requests_per_window = 0

[queue]
lease = "{lease}"
poll_interval = "20ms"
initial_backoff = "50ms"
max_backoff = "200ms"
recheck_delay = "50ms"

[admin]
token = "{ADMIN_TOKEN}"
{SOURCES}"#
    )
}

/// A throw-away directory holding `test.toml` and logs, with the store (the SQLite file in
/// it, or one PostgreSQL schema) that every process started from it shares; the directory is
/// removed when dropped.
pub(crate) struct ProcessDir {
    path: PathBuf,
    store: TestStore,
}

impl ProcessDir {
    pub(crate) async fn with_profile(profile: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("genesys-bridge-delivery-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("test.toml"), profile).unwrap();
        let store = TestStore::create(&path).await;
        Self { path, store }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ProcessDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A real `genesys-bridge serve`, killed when dropped so no failure leaves it behind.
pub(crate) struct BridgeProcess {
    server: LoggedChild,
    pub(crate) base_url: String,
}

impl BridgeProcess {
    /// Starts the binary with nothing from this environment but the store's variables, and
    /// waits until it listens.
    pub(crate) async fn start(dir: &ProcessDir, name: &str) -> Self {
        let mut serve = bridge(dir.path(), "test", &["serve"]);
        serve
            .envs(dir.store.env().iter().map(|(k, v)| (k, v)))
            .current_dir(dir.path());
        let mut process = Self {
            server: LoggedChild::spawn(serve, dir.path().join(format!("{name}.log"))),
            base_url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(address) = process.listening_on() {
                process.base_url = format!("http://{address}");
                process.until_store_ready().await;
                return process;
            }
            if let Some(status) = process.server.exited() {
                panic!("the bridge exited with {status}:\n{}", process.log());
            }
            assert!(
                Instant::now() < deadline,
                "the bridge did not listen within 15 s:\n{}",
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until readiness reports the store ok, as an orchestrator waits before it routes
    /// traffic (a PostgreSQL store connects and migrates once the process listens).
    async fn until_store_ready(&self) {
        if crate::BACKEND != Backend::Postgres {
            return;
        }
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let ready: Option<Value> =
                match reqwest::get(format!("{}/health/ready", self.base_url)).await {
                    Ok(answer) => answer.json().await.ok(),
                    Err(_) => None,
                };
            let store_ok = ready.as_ref().is_some_and(|r| {
                r["checks"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["name"] == "store" && c["status"] == "ok")
                })
            });
            if store_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the store is not ready {READY_WITHIN:?} after the start: {ready:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address in the JSON log line `genesys-bridge listening`.
    fn listening_on(&self) -> Option<String> {
        self.log()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["message"] == "genesys-bridge listening")
            .and_then(|line| line["addr"].as_str().map(str::to_owned))
    }

    pub(crate) fn log(&self) -> String {
        self.server.log()
    }

    /// `kill -9`: no shutdown code runs.
    pub(crate) fn kill_9(&mut self) -> std::process::ExitStatus {
        let killed = self.server.signal("9");
        let pid = self.server.child.id();
        assert!(killed.status.success(), "kill -9 {pid} failed");
        self.server.child.wait().unwrap()
    }
}
