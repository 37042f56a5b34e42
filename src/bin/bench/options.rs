//! What a run is asked for (scenario, store, replicas, Genesys' limit), and one run on a fresh
//! store.

use std::path::PathBuf;
use std::time::Duration;

use crate::report::Report;
use crate::{database, harness, scenarios};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// As many webhooks as the bridge will take, from many connections.
    Max,
    /// 1,000 webhooks per second, the simulator's rate limit lifted.
    Steady,
    /// 50 calls, 1 to 4 webhooks each within a few seconds, Genesys' 300 requests per minute.
    Realistic,
    /// The IVR handshake: registrations at 500/s, pulls waiting for webhooks by number, and the
    /// realistic load by number.
    Ivr,
}

/// Genesys' rate limit in the `max` scenario (`steady` always lifts it, `realistic` always holds
/// it, as the scenarios are specified).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenesysLimit {
    /// 300 requests a minute per token, in the simulator and in the bridge's budget: what
    /// Genesys and the bridge's defaults are. Deliveries go out at that pace, coalesced, and the
    /// rest of the burst waits in the store.
    Held,
    /// No limit on either side: the bridge delivers as fast as it can while it takes the
    /// burst, and its deliveries share the two cores with the intake.
    Lifted,
}

/// Where the replicas keep their jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory; one replica.
    Sqlite,
    /// A fresh database created through `admin_url` for each run and dropped after it.
    Postgres { admin_url: String },
}

#[derive(Clone, Debug)]
pub struct Options {
    /// The `genesys-bridge` binary the replicas run.
    pub bridge: PathBuf,
    pub backend: Backend,
    /// Bridge processes sharing the store (more than one needs PostgreSQL).
    pub replicas: usize,
    /// Seconds of load for `max` and `steady` (`steady` takes at most 9).
    pub seconds: Duration,
    /// Concurrent clients of `max`, each with a connection to every replica.
    pub connections: usize,
    /// Genesys' rate limit in `max`.
    pub genesys_limit: GenesysLimit,
}

impl Options {
    /// "postgres, 2 replicas".
    fn describe(&self) -> String {
        let backend = match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        };
        match self.replicas {
            1 => format!("{backend}, 1 replica"),
            n => format!("{backend}, {n} replicas"),
        }
    }
}

/// Runs one scenario on a fresh store; `BENCH_KEEP` (any value) keeps the logs, the SQLite store
/// or the PostgreSQL database, and the report says where.
pub async fn run(scenario: Scenario, options: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.replicas >= 1, "--replicas must be at least 1");
    let keep = std::env::var_os("BENCH_KEEP").is_some();
    let database = match &options.backend {
        Backend::Sqlite => {
            anyhow::ensure!(
                options.replicas == 1,
                "several replicas need --backend postgres: a SQLite store belongs to one process"
            );
            None
        }
        Backend::Postgres { admin_url } => Some(database::Database::create(admin_url).await?),
    };
    let setup = harness::Setup {
        bridge: &options.bridge,
        store: match &database {
            Some(db) => harness::Store::Postgres { url: db.url() },
            None => harness::Store::Sqlite,
        },
        replicas: options.replicas,
        keep,
    };
    // The replicas are stopped when this returns, before the database is dropped.
    let measured = scenarios::run(scenario, setup, options).await;
    let name = database.as_ref().map(|db| db.name().to_owned());
    let finished = match database {
        Some(db) => db.finish(keep).await,
        None => Ok(()),
    };
    let mut report = measured?;
    finished?;
    report.scenario = format!("{} · {}", report.scenario, options.describe());
    if let (Some(name), true) = (name, keep) {
        report.add("kept PostgreSQL database", name);
    }
    Ok(report)
}
