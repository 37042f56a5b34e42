//! Starts what a benchmark measures: the simulator in this process, the bridge as a child.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::simulator::{NewConversation, NewParticipant, RunningSimulator, SimConfig, Simulator};
use crate::webhook::signature::{DEFAULT_TOLERANCE, Scheme, Secret, StandardHeaderNames, Verifier};

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
pub const SECRET: &str = "whsec_Z2VuZXN5cy1icmlkZ2UtYmVuY2htYXJrLXNlY3JldA==";

pub struct Harness {
    pub sim: RunningSimulator,
    pub bridge_addr: SocketAddr,
    pub verifier: Verifier,
    child: Child,
    dir: PathBuf,
}

/// `sim_limit` and `client_limit`: requests per minute (None = lifted).
pub async fn start(
    bridge: &Path,
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
    let port = free_port()?;
    let profile = format!(
        r#"
[server]
port = {port}
[log]
level = "warn"
[genesys]
api_base_url = "{sim}"
login_base_url = "{sim}"
client_id = "sim-client"
client_secret = "sim-secret"
[genesys.rate_limit]
requests_per_window = {limit}
[queue]
data_dir = "{data}"
[admin]
token = "{ADMIN_TOKEN}"
[sources.bench]
verifier = {{ type = "standard_webhooks" }}
secret = "{SECRET}"
[sources.bench.mapping.keys]
seq = "benchSeq"
tier = "customerTier"
"#,
        sim = sim.base_url,
        limit = client_limit.unwrap_or(0),
        data = dir.join("data").display(),
    );
    std::fs::write(dir.join("bench.toml"), profile)?;
    let log = std::fs::File::create(dir.join("bridge.log"))?;
    let child = Command::new(bridge)
        .args(["--config-dir"])
        .arg(&dir)
        .args(["--env", "bench", "serve"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", bridge.display()))?;
    let scheme = Scheme::StandardWebhooks {
        header_names: StandardHeaderNames::default(),
    };
    let secret = Secret::parse(&scheme, SECRET, None)?;
    let verifier = Verifier::new(scheme, vec![secret], DEFAULT_TOLERANCE)?;
    let harness = Harness {
        sim,
        bridge_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        verifier,
        child,
        dir,
    };
    harness.wait_ready().await?;
    Ok(harness)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl Harness {
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let url = format!("http://{}/health/ready", self.bridge_addr);
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!(
            "the bridge did not become ready; see {}",
            self.dir.join("bridge.log").display()
        )
    }

    /// The bridge's peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("BENCH_KEEP").is_some() {
            tracing::warn!(dir = %self.dir.display(), "benchmark directory kept (BENCH_KEEP)");
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
