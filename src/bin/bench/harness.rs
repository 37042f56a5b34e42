//! Starts what a benchmark measures: the simulator in this process, the bridge replicas as child
//! processes sharing one store and one simulator. Dropping the harness stops them.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::Connection;

use genesys_bridge::simulator::{
    NewConversation, NewParticipant, RunningSimulator, SimConfig, Simulator,
};
use genesys_bridge::webhook::signature::{
    DEFAULT_TOLERANCE, Scheme, Secret, StandardHeaderNames, Verifier,
};

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
pub const IVR_TOKEN: &str = "bench-ivr-token-0123456789";
pub const SECRET: &str = "whsec_Z2VuZXN5cy1icmlkZ2UtYmVuY2htYXJrLXNlY3JldA==";

/// Where the replicas keep their jobs.
#[derive(Clone, Copy, Debug)]
pub enum Store<'a> {
    /// A SQLite file in the run's temporary directory (one replica).
    Sqlite,
    /// This PostgreSQL database, shared by every replica.
    Postgres { url: &'a str },
}

/// What to start.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    pub bridge: &'a Path,
    pub store: Store<'a>,
    pub replicas: usize,
    /// Whether to keep the temporary directory (the logs, the SQLite store).
    pub keep: bool,
}

pub struct Harness {
    pub sim: RunningSimulator,
    pub verifier: Verifier,
    replicas: Vec<Replica>,
    dir: PathBuf,
    /// The store's URL, for counting its rows (SQLite: read-only).
    store_url: String,
    keep: bool,
}

struct Replica {
    addr: SocketAddr,
    child: Child,
}

/// `sim_limit` and `client_limit`: requests per minute (None = lifted); `client_limit` is each
/// replica's own budget.
pub async fn start(
    setup: Setup<'_>,
    sim_limit: Option<u32>,
    client_limit: Option<u32>,
    conversations: usize,
) -> anyhow::Result<Harness> {
    let sim = Simulator::new(SimConfig {
        rate_limit: sim_limit,
        ..SimConfig::default()
    })
    .spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    .await?;
    for i in 0..conversations {
        sim.simulator.create_conversation(NewConversation {
            id: Some(format!("bench-{i}")),
            participants: Some(vec![
                NewParticipant {
                    id: Some(format!("ivr-{i}")),
                    ..NewParticipant::active("ivr")
                },
                NewParticipant {
                    id: Some(format!("customer-{i}")),
                    ..NewParticipant::active("customer")
                },
            ]),
        });
    }
    let dir = std::env::temp_dir().join(format!("genesys-bridge-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("bench.toml"),
        profile(&sim.base_url, client_limit, &dir, setup.store),
    )?;
    let scheme = Scheme::StandardWebhooks {
        header_names: StandardHeaderNames::default(),
    };
    let secret = Secret::parse(&scheme, SECRET, None)?;
    let mut harness = Harness {
        sim,
        verifier: Verifier::new(scheme, vec![secret], DEFAULT_TOLERANCE)?,
        replicas: Vec::new(),
        store_url: match setup.store {
            Store::Sqlite => format!("sqlite://{}?mode=ro", dir.join("data/bridge.db").display()),
            Store::Postgres { url } => url.to_owned(),
        },
        dir,
        keep: setup.keep,
    };
    // The first replica alone applies the migrations to a fresh store; then the others start.
    harness.launch(setup.bridge, 0)?;
    harness.wait_ready(0).await?;
    for index in 1..setup.replicas {
        harness.launch(setup.bridge, index)?;
    }
    for index in 1..setup.replicas {
        harness.wait_ready(index).await?;
    }
    Ok(harness)
}

/// The profile every replica reads; each one's port comes from its environment.
fn profile(sim: &str, client_limit: Option<u32>, dir: &Path, store: Store<'_>) -> String {
    let store = match store {
        Store::Sqlite => format!(
            "[queue]\ndata_dir = {:?}\n",
            dir.join("data").display().to_string()
        ),
        Store::Postgres { url } => {
            format!("[store]\nbackend = \"postgres\"\nurl = {url:?}\n")
        }
    };
    format!(
        r#"
[log]
level = "warn"
[genesys]
api_base_url = "{sim}"
login_base_url = "{sim}"
client_id = "sim-client"
client_secret = "sim-secret"
[genesys.rate_limit]
requests_per_window = {limit}
{store}
[admin]
token = "{ADMIN_TOKEN}"
[ivr]
token = "{IVR_TOKEN}"
default_country_code = "1"
[sources.bench-phone]
verifier = {{ type = "standard_webhooks" }}
secret = "{SECRET}"
conversation = {{ by = "ani", pointer = "/phone" }}
[sources.bench-phone.mapping.keys]
seq = "benchSeq"
tier = "customerTier"
[sources.bench]
verifier = {{ type = "standard_webhooks" }}
secret = "{SECRET}"
[sources.bench.mapping.keys]
seq = "benchSeq"
tier = "customerTier"
"#,
        limit = client_limit.unwrap_or(0),
    )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl Harness {
    fn launch(&mut self, bridge: &Path, index: usize) -> anyhow::Result<()> {
        let port = free_port()?;
        let log = std::fs::File::create(self.log(index))?;
        let child = Command::new(bridge)
            .args(["--config-dir"])
            .arg(&self.dir)
            .args(["--env", "bench", "serve"])
            .env("BRIDGE__SERVER__PORT", port.to_string())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bridge.display()))?;
        self.replicas.push(Replica {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            child,
        });
        Ok(())
    }

    fn log(&self, index: usize) -> PathBuf {
        self.dir.join(format!("bridge-{}.log", index + 1))
    }

    async fn wait_ready(&mut self, index: usize) -> anyhow::Result<()> {
        let url = format!("http://{}/health/ready", self.replicas[index].addr);
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.replicas[index].child.try_wait() {
                self.keep = true;
                anyhow::bail!(
                    "replica {} exited ({status}); see {}",
                    index + 1,
                    self.log(index).display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.keep = true;
        anyhow::bail!(
            "replica {} did not become ready; see {}",
            index + 1,
            self.log(index).display()
        )
    }

    /// Every replica's address, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.replicas.iter().map(|r| r.addr).collect()
    }

    /// The first replica: any replica sees the whole shared store.
    pub fn first(&self) -> SocketAddr {
        self.replicas[0].addr
    }

    /// Each replica's peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Vec<Option<f64>> {
        self.replicas
            .iter()
            .map(|r| peak_rss_mib(r.child.id()))
            .collect()
    }

    /// The store's rows by status, read from the store itself (one statement, one snapshot).
    pub async fn count_jobs(&self) -> anyhow::Result<JobCounts> {
        const COUNT: &str = "SELECT status, count(*) FROM deliveries GROUP BY status";
        let rows: Vec<(String, i64)> = if self.store_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.store_url).await?;
            sqlx::query_as(COUNT).fetch_all(&mut conn).await?
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.store_url).await?;
            sqlx::query_as(COUNT).fetch_all(&mut conn).await?
        };
        let mut counts = JobCounts::default();
        for (status, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match status.as_str() {
                "delivered" => counts.delivered += n,
                "dead" => counts.dead += n,
                _ => counts.open += n,
            }
        }
        Ok(counts)
    }

    /// The directory of the logs (and the SQLite store), when it outlives the run.
    pub fn kept_dir(&self) -> Option<&Path> {
        self.keep.then_some(self.dir.as_path())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The store's rows: every accepted webhook is one.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobCounts {
    pub delivered: u64,
    pub dead: u64,
    /// Pending or in flight.
    pub open: u64,
}

impl JobCounts {
    pub fn total(&self) -> u64 {
        self.delivered + self.dead + self.open
    }
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
