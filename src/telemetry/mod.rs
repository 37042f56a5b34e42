//! Logging: readable lines locally, JSON in production; the filter comes from `RUST_LOG` when set,
//! else from `log.level`.

pub mod metrics;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log.level {level:?} is not a valid filter: {message}")]
    BadFilter { level: String, message: String },
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

pub fn init(settings: &LogSettings) -> Result<(), TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.trim().is_empty() => EnvFilter::try_new(from_env),
        _ => EnvFilter::try_new(&settings.level),
    }
    .map_err(|e| TelemetryError::BadFilter {
        level: settings.level.clone(),
        message: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)
}
