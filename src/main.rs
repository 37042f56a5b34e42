//! `genesys-bridge`: one binary, one clap enum; each command calls into the library.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use genesys_bridge::cli;
use genesys_bridge::config::{self, ConfigError, LoadOptions};
use genesys_bridge::startup::Application;
use genesys_bridge::telemetry;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: under load the bridge spent a quarter of its CPU in
/// glibc's allocator (arena locks, chunk consolidation) across the runtime's threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Apply the store's pending schema migrations (the configured store.backend) and exit.
    Migrate,
    /// Sign a payload with a source's scheme and current secret, to replay it with curl.
    Sign(SignArgs),
    /// Print the Genesys Data Actions "Register call" and "Get CRM data" in the Admin UI's
    /// Import format, their contracts derived from this configuration.
    DataActions(DataActionsArgs),
    /// GET a health URL once (3 s timeout); exit 0 on a 2xx answer, 1 otherwise (for HEALTHCHECK).
    Healthcheck {
        /// The URL to probe: by default the bridge's readiness on the default port, from inside its host.
        #[arg(long, env = "BRIDGE_HEALTHCHECK_URL", default_value = cli::healthcheck::DEFAULT_URL)]
        url: String,
    },
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The configured source to sign for.
    #[arg(long)]
    source: String,
    /// The payload; `-` reads standard input. Without it, a sample payload for the demo.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Print a complete curl command instead of the headers.
    #[arg(long)]
    curl: bool,
    /// The bridge's base URL (default: from server.host and server.port).
    #[arg(long)]
    url: Option<String>,
    /// The event id to send, for schemes with an id header.
    #[arg(long)]
    event_id: Option<String>,
    /// Sign for `?dry_run=true`: the bridge shows the Genesys calls it would make, and makes none.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct DataActionsArgs {
    /// The bridge's public base URL, as Genesys reaches it (https://...).
    #[arg(long)]
    url: String,
    /// Only this source's keys, and its name in the actions' names.
    #[arg(long)]
    source: Option<String>,
    /// Only one action: register-call or get-crm-data (printed as one importable object).
    #[arg(long)]
    action: Option<String>,
    /// Write one file per action into this directory instead of printing them.
    #[arg(long)]
    out: Option<PathBuf>,
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
        Command::Migrate => migrate(&options),
        Command::Sign(args) => sign(&options, &args),
        Command::DataActions(args) => data_actions(&options, &args),
        Command::Healthcheck { url } => {
            cli::healthcheck::run(&url, &mut std::io::stdout()).map_err(Into::into)
        }
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
            write!(out, "{}", cli::check_config::summary(&settings))?;
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

fn migrate(options: &LoadOptions) -> anyhow::Result<ExitCode> {
    let settings = config::load(options)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(cli::migrate::run(
        &settings.queue.store,
        &settings.genesys.client.client_id,
    ))?;
    write!(std::io::stdout().lock(), "{report}")?;
    Ok(ExitCode::SUCCESS)
}

fn sign(options: &LoadOptions, args: &SignArgs) -> anyhow::Result<ExitCode> {
    let settings = config::load(options)?;
    let Some(source) = settings.sources.iter().find(|s| s.name() == args.source) else {
        let names: Vec<&str> = settings.sources.iter().map(|s| s.name()).collect();
        anyhow::bail!(
            "no source named {:?}; configured: {}",
            args.source,
            names.join(", ")
        );
    };
    let body = match &args.file {
        None => {
            let caller = settings
                .simulator
                .as_ref()
                .and_then(|s| s.demo_caller.as_ref());
            cli::sign::sample_payload(source, caller.map(|n| n.as_str())).into_bytes()
        }
        Some(path) if path.as_os_str() == "-" => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            body
        }
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
    };
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "::" => "127.0.0.1",
        host => host,
    };
    let base_url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{host}:{}", settings.server.port));
    // Standard input cannot be re-read by curl: inline it like the sample.
    let body_file = args
        .file
        .as_deref()
        .filter(|p| p.as_os_str() != "-")
        .map(|p| p.display().to_string());
    let signed = cli::sign::sign(
        source,
        &body,
        &cli::sign::SignOptions {
            base_url: &base_url,
            event_id: args.event_id.as_deref(),
            dry_run: args.dry_run,
        },
        time::OffsetDateTime::now_utc(),
    )?;
    let mut out = std::io::stdout().lock();
    if args.curl {
        write!(out, "{}", signed.curl(&body, body_file.as_deref()))?;
    } else {
        writeln!(out, "POST {}", signed.url)?;
        write!(out, "{}", signed.header_lines())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn data_actions(options: &LoadOptions, args: &DataActionsArgs) -> anyhow::Result<ExitCode> {
    let settings = config::load(options)?;
    let kit = cli::data_actions::kit(
        &settings,
        &cli::data_actions::Request {
            base_url: &args.url,
            source: args.source.as_deref(),
            action: args.action.as_deref(),
        },
    )?;
    let mut err = std::io::stderr().lock();
    for key in &kit.skipped_keys {
        writeln!(
            err,
            "warning: the key {key:?} is not a Data Action property name (^[a-zA-Z][a-zA-Z0-9_-]*$): left out of the success schema; the pull still answers it"
        )?;
    }
    if settings.ivr.credential.is_none() {
        writeln!(
            err,
            "warning: [ivr] has no credential: the bridge answers these actions 401 until ivr.token or ivr.basic_user is set"
        )?;
    }
    match &args.out {
        Some(dir) => {
            for path in cli::data_actions::write(&kit.actions, dir)? {
                writeln!(err, "wrote {path}")?;
            }
        }
        None => write!(
            std::io::stdout().lock(),
            "{}",
            cli::data_actions::render(&kit.actions)
        )?,
    }
    Ok(ExitCode::SUCCESS)
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
