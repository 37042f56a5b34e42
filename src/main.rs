//! `genesys-bridge`: one binary, one clap enum; each command calls into the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use genesys_bridge::config::{self, ConfigError, LoadOptions};
use genesys_bridge::startup::Application;
use genesys_bridge::telemetry;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "genesys-bridge",
    version,
    about = "Signed CRM webhooks in, Genesys Cloud participant data out"
)]
struct Cli {
    /// Directory holding <profile>.toml.
    #[arg(
        long,
        global = true,
        env = "BRIDGE_CONFIG_DIR",
        default_value = "config"
    )]
    config_dir: PathBuf,
    /// Configuration profile: local (the demo) or production.
    #[arg(
        long = "env",
        global = true,
        env = "BRIDGE_ENV",
        default_value = "local"
    )]
    profile: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bridge.
    Serve,
    /// Load and validate the configuration, print it with secrets redacted, exit non-zero on problems.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = LoadOptions {
        config_dir: cli.config_dir,
        profile: cli.profile,
        env: None,
    };
    let outcome = match cli.command {
        Command::Serve => serve(&options),
        Command::CheckConfig => check_config(&options),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: &LoadOptions) -> anyhow::Result<ExitCode> {
    let settings = config::load(options)?;
    telemetry::init(&settings.log)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let app = Application::build(settings, shutdown.clone()).await?;
        if let Some(addr) = app.local_addr() {
            tracing::info!(%addr, "genesys-bridge listening");
        }
        tokio::spawn(cancel_on_signal(shutdown));
        app.run().await?;
        tracing::info!("genesys-bridge stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn check_config(options: &LoadOptions) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match config::load(options) {
        Ok(settings) => {
            writeln!(
                out,
                "configuration OK (profile {})\n{settings:#?}",
                settings.profile
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ConfigError::Invalid(problems)) => {
            writeln!(out, "{} problem(s) found:", problems.len())?;
            for problem in problems {
                writeln!(out, "  - {problem}")?;
            }
            Ok(ExitCode::FAILURE)
        }
        Err(err) => Err(err.into()),
    }
}

/// SIGINT or SIGTERM starts a graceful shutdown.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
}
