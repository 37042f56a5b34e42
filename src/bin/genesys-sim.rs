//! `genesys-sim`: the Genesys Cloud simulator on its own, for local demos and manual testing.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use genesys_bridge::simulator::{NewConversation, SimConfig, Simulator};
use tracing_subscriber::EnvFilter;

/// A stateful fake of Genesys Cloud (OAuth token, conversations, participant attributes),
/// controlled through `/sim`.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[arg(long, env = "GENESYS_SIM_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    #[arg(long, env = "GENESYS_SIM_PORT", default_value_t = 8089)]
    port: u16,
    #[arg(long, env = "GENESYS_SIM_CLIENT_ID", default_value = "sim-client")]
    client_id: String,
    #[arg(
        long,
        env = "GENESYS_SIM_CLIENT_SECRET",
        default_value = "sim-secret",
        hide_env_values = true
    )]
    client_secret: String,
    /// The `expires_in` of issued tokens.
    #[arg(long, env = "GENESYS_SIM_TOKEN_TTL_SECS", default_value_t = 86_400)]
    token_ttl_secs: u64,
    /// Requests per minute per token.
    #[arg(
        long,
        env = "GENESYS_SIM_RATE_LIMIT",
        default_value_t = 300,
        conflicts_with = "no_rate_limit"
    )]
    rate_limit: u32,
    /// Lift the rate limit.
    #[arg(long, env = "GENESYS_SIM_NO_RATE_LIMIT")]
    no_rate_limit: bool,
    /// Create a conversation with this id at start: participants demo-ivr (ivr) and demo-customer (customer).
    #[arg(long, env = "GENESYS_SIM_DEMO_CONVERSATION")]
    demo_conversation: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();

    let simulator = Simulator::new(SimConfig {
        client_id: args.client_id,
        client_secret: args.client_secret,
        token_ttl: Duration::from_secs(args.token_ttl_secs),
        rate_limit: (!args.no_rate_limit).then_some(args.rate_limit),
        ..SimConfig::default()
    });
    if let Some(id) = args.demo_conversation {
        let conversation = simulator.create_conversation(NewConversation::demo(id, None));
        for participant in &conversation.participants {
            tracing::info!(
                conversation_id = %conversation.id,
                participant_id = %participant.id,
                purpose = %participant.purpose,
                "demo conversation participant"
            );
        }
    }

    let addr = SocketAddr::new(args.host, args.port);
    let running = simulator
        .spawn(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(url = %running.base_url, "genesys simulator listening");

    shutdown_signal().await?;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one (containers stop with SIGTERM).
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
