//! `bench`: the load benchmark. Starts the Genesys simulator (in this process) and the bridge (a
//! child process, so its memory is its own) on loopback, drives signed webhooks, and prints what
//! was measured. Not a test: figures, not pass/fail.
//!
//!     cargo build --release && target/release/bench [--scenario all|max|steady|realistic]

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use genesys_bridge::bench::{self, Scenario};

#[derive(Debug, Parser)]
#[command(about = "Load benchmark of genesys-bridge against its simulator, on loopback")]
struct Args {
    /// Which scenario to run.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// Seconds of load for the `max` and `steady` scenarios.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent connections for the `max` scenario.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// The bridge binary to start (default: `genesys-bridge` beside this one).
    #[arg(long)]
    bridge: Option<std::path::PathBuf>,
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
    let scenarios: Vec<Scenario> = match args.scenario.as_str() {
        "all" => vec![Scenario::Max, Scenario::Steady, Scenario::Realistic],
        "max" => vec![Scenario::Max],
        "steady" => vec![Scenario::Steady],
        "realistic" => vec![Scenario::Realistic],
        other => anyhow::bail!("unknown scenario {other:?}: all, max, steady or realistic"),
    };
    let runtime = tokio::runtime::Runtime::new().context("runtime")?;
    runtime.block_on(async {
        for scenario in scenarios {
            let report = bench::run(
                scenario,
                &bridge,
                Duration::from_secs(args.seconds),
                args.connections,
            )
            .await?;
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, report.to_string().as_bytes())?;
        }
        Ok(())
    })
}
