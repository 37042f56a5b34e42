//! `bench`: the load benchmark. Starts the Genesys simulator (in this process) and the bridge (one
//! or more child processes, so each one's memory is its own) on loopback, drives signed webhooks,
//! and prints what was measured. Not a test: figures, not pass/fail.
//!
//!     cargo build --release --bin bench --bin genesys-bridge --bin genesys-sim
//!     target/release/bench [--scenario all|max|steady|realistic|ivr]
//!     target/release/bench --backend postgres --replicas 2 --scenario max
//!     target/release/bench --scenario max --genesys-limit lifted
//!
//! Its parts:
//! - `options`: what a run is asked for, and one run on a fresh store;
//! - `harness`: the simulator in this process, the bridge replicas as child processes;
//! - `database`: the fresh PostgreSQL database a run gets, dropped afterwards;
//! - `scenarios`: the load each scenario drives and what it measures;
//! - `ivr`: the IVR handshake's scenario (registrations, pulls, webhooks by number);
//! - `load`: the keep-alive HTTP client, round robin over replicas, the signed webhooks;
//! - `report`: what is printed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
mod database;
mod harness;
mod ivr;
mod load;
mod options;
mod report;
mod scenarios;

use options::{Backend, GenesysLimit, Options, Scenario};

/// The bridge's allocator here too: the load generator shares the two cores with the bridge,
/// and every cycle it spends in glibc's allocator is one the bridge does not get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "Load benchmark of genesys-bridge against its simulator, on loopback")]
struct Args {
    /// Which scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    scenario: ScenarioArg,
    /// Seconds of load for the `max` and `steady` scenarios.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients of the `max` scenario, each with a keep-alive connection to every
    /// replica.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Genesys' rate limit in the `max` scenario: `held` (300 requests a minute, as Genesys and
    /// the bridge's defaults have it; the burst waits in the store) or `lifted` (deliveries as
    /// fast as the bridge makes them, beside the intake). `steady` always lifts it and
    /// `realistic` always holds it.
    #[arg(long, value_enum, default_value = "held")]
    genesys_limit: LimitArg,
    /// Where the bridge keeps its jobs: a SQLite file in a temporary directory, or a fresh
    /// PostgreSQL database per run, dropped afterwards (kept with BENCH_KEEP=1).
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendArg,
    /// With --backend postgres: a URL to create and drop the run's database through (the run's
    /// database gets the same host, user and parameters).
    #[arg(
        long,
        env = "BRIDGE_BENCH_DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Bridge processes sharing the database and the simulator; the load goes to them in turn
    /// (more than one needs --backend postgres).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    replicas: u16,
    /// The bridge binary to start (default: `genesys-bridge` beside this one).
    #[arg(long)]
    bridge: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScenarioArg {
    All,
    Max,
    Steady,
    Realistic,
    Ivr,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LimitArg {
    Held,
    Lifted,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bridge = match args.bridge {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("genesys-bridge"),
    };
    anyhow::ensure!(
        bridge.is_file(),
        "no bridge binary at {} (build it first)",
        bridge.display()
    );
    let backend = match args.backend {
        BackendArg::Sqlite => Backend::Sqlite,
        BackendArg::Postgres => Backend::Postgres {
            admin_url: args.database_url,
        },
    };
    anyhow::ensure!(
        args.replicas == 1 || backend != Backend::Sqlite,
        "--replicas {} needs --backend postgres: a SQLite store belongs to one process",
        args.replicas
    );
    let scenarios = match args.scenario {
        ScenarioArg::All => vec![
            Scenario::Max,
            Scenario::Steady,
            Scenario::Realistic,
            Scenario::Ivr,
        ],
        ScenarioArg::Max => vec![Scenario::Max],
        ScenarioArg::Steady => vec![Scenario::Steady],
        ScenarioArg::Realistic => vec![Scenario::Realistic],
        ScenarioArg::Ivr => vec![Scenario::Ivr],
    };
    let options = Options {
        bridge,
        backend,
        replicas: usize::from(args.replicas),
        seconds: Duration::from_secs(args.seconds),
        connections: args.connections,
        genesys_limit: match args.genesys_limit {
            LimitArg::Held => GenesysLimit::Held,
            LimitArg::Lifted => GenesysLimit::Lifted,
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("runtime")?;
    runtime.block_on(async {
        for scenario in scenarios {
            let report = options::run(scenario, &options).await?;
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, report.to_string().as_bytes())?;
        }
        Ok(())
    })
}
