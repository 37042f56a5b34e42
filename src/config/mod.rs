//! Configuration: layered raw input (embedded `config/default.toml` → `config/<profile>.toml` →
//! `BRIDGE__SECTION__KEY` environment variables) parsed once into validated [`Settings`].
//!
//! Validation collects every problem instead of stopping at the first, so `check-config` can list
//! them all before a deploy.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::delivery::DeliverySettings;
use crate::genesys::{ClientSettings, Endpoints, PhoneNumber};
use crate::ivr::IvrSettings;
use crate::queue::QueueSettings;
use crate::webhook::mapping::Limits;
use crate::webhook::source::Source;

mod genesys;
mod ivr;
mod queue;
mod sources;
mod store;

pub use ivr::DEMO_IVR_TOKEN;
pub use queue::{AdminSettings, DEMO_ADMIN_TOKEN};
pub use sources::{DEMO_SECRET, describe as describe_source};

const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Where to read configuration from.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub config_dir: PathBuf,
    /// `local` (the demo) or `production`, or any `<name>.toml` in the config directory.
    pub profile: String,
    /// The environment to read `BRIDGE__…` overrides from; `None` reads the process's own (tests
    /// pass a map, since changing the process environment is not thread-safe).
    pub env: Option<std::collections::HashMap<String, String>>,
}

/// One thing wrong with the configuration, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(String),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

// ---- raw input, exactly as written --------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    log: RawLog,
    genesys: genesys::RawGenesys,
    limits: Limits,
    queue: queue::RawQueue,
    store: store::RawStore,
    admin: queue::RawAdmin,
    ivr: ivr::RawIvr,
    simulator: RawSimulator,
    #[serde(default)]
    sources: BTreeMap<String, config::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    host: String,
    port: u16,
    shutdown_grace: String,
    max_body_bytes: usize,
    request_timeout: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: String,
    level: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimulator {
    enabled: bool,
    port: u16,
    client_id: String,
    client_secret: String,
    token_ttl: String,
    rate_limit: u32,
    demo_conversation: String,
    demo_caller: String,
}

// ---- validated settings --------------------------------------------------------------------

#[derive(Debug)]
pub struct Settings {
    pub profile: String,
    pub server: ServerSettings,
    pub log: LogSettings,
    pub genesys: GenesysSettings,
    pub simulator: Option<SimulatorSettings>,
    /// The configured integrations, validated and ready to verify requests.
    pub sources: Vec<Source>,
    /// `[queue]` and `[store]`: where jobs are kept, and for how long.
    pub queue: QueueSettings,
    /// `[queue]`: how jobs are delivered (workers, leases, retries).
    pub delivery: DeliverySettings,
    pub admin: AdminSettings,
    /// `[ivr]`: the flow's registrations and pulls.
    pub ivr: IvrSettings,
}

#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub shutdown_grace: Duration,
    /// Larger request bodies get 413 before anything else is looked at.
    pub max_body_bytes: usize,
    /// The most time one request may take, reading the body included.
    pub request_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// The Genesys client's settings, except the endpoints when they come from the in-process
/// simulator (known only once it is listening).
#[derive(Clone, Debug)]
pub struct GenesysSettings {
    /// `None` when the in-process simulator provides them.
    pub endpoints: Option<Endpoints>,
    pub client: ClientSettings,
}

#[derive(Clone, Debug)]
pub struct SimulatorSettings {
    pub port: u16,
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl: Duration,
    pub rate_limit: Option<u32>,
    pub demo_conversation: Option<String>,
    /// The demo call's caller, E.164: the demo call is registered with it at startup.
    pub demo_caller: Option<PhoneNumber>,
}

/// Reads all layers and validates them.
pub fn load(options: &LoadOptions) -> Result<Settings, ConfigError> {
    let profile_file = options.config_dir.join(format!("{}.toml", options.profile));
    if !profile_file.is_file() {
        return Err(ConfigError::Load(format!(
            "profile {:?} needs {}; set --config-dir / BRIDGE_CONFIG_DIR or BRIDGE_ENV",
            options.profile,
            profile_file.display()
        )));
    }
    let raw: RawConfig = config::Config::builder()
        .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
        .add_source(config::File::from(profile_file.as_path()))
        .add_source(
            config::Environment::with_prefix("BRIDGE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("genesys.participant_purposes")
                .source(options.env.clone()),
        )
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ConfigError::Load(e.to_string()))?;
    validate(raw, &options.profile)
}

fn validate(raw: RawConfig, profile: &str) -> Result<Settings, ConfigError> {
    let mut problems = Problems::default();
    let server = ServerSettings {
        host: raw.server.host,
        port: raw.server.port,
        shutdown_grace: problems.duration("server.shutdown_grace", &raw.server.shutdown_grace),
        max_body_bytes: raw.server.max_body_bytes,
        request_timeout: problems.duration("server.request_timeout", &raw.server.request_timeout),
    };
    let log = LogSettings {
        format: match raw.log.format.as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                problems.add(
                    "log.format",
                    format!("{other:?} is not \"pretty\" or \"json\""),
                );
                LogFormat::Pretty
            }
        },
        level: raw.log.level,
    };
    let simulator = raw
        .simulator
        .enabled
        .then(|| simulator_settings(raw.simulator, &mut problems));
    let genesys = genesys::settings(raw.genesys, simulator.is_some(), &mut problems);
    let production = profile == "production";
    let (mut queue, mut delivery) = queue::queue(raw.queue, server.shutdown_grace, &mut problems);
    let embedded = std::mem::take(&mut queue.store);
    queue.store = store::store(raw.store, embedded, &mut problems);
    let admin = queue::admin(raw.admin, production, &mut problems);
    let ivr = ivr::ivr(
        raw.ivr,
        production,
        admin.token.as_ref(),
        delivery.write_ended_conversations,
        &mut problems,
    );
    let sources = sources::sources(
        raw.sources,
        raw.limits,
        production,
        ivr.default_country.as_ref(),
        &mut problems,
    );
    delivery.several = sources
        .iter()
        .map(|s| (s.name().to_owned(), s.extraction().several()))
        .collect();
    if production && simulator.is_some() {
        problems.add(
            "simulator.enabled",
            "the production profile refuses to run the Genesys simulator",
        );
    }
    problems.finish(Settings {
        profile: profile.to_owned(),
        server,
        log,
        genesys,
        simulator,
        sources,
        queue,
        delivery,
        admin,
        ivr,
    })
}

fn simulator_settings(raw: RawSimulator, problems: &mut Problems) -> SimulatorSettings {
    SimulatorSettings {
        port: raw.port,
        client_id: raw.client_id,
        client_secret: raw.client_secret,
        token_ttl: problems.duration("simulator.token_ttl", &raw.token_ttl),
        rate_limit: (raw.rate_limit > 0).then_some(raw.rate_limit),
        demo_conversation: non_empty(&raw.demo_conversation),
        demo_caller: non_empty(&raw.demo_caller).and_then(|raw| {
            PhoneNumber::parse(&raw, None)
                .map_err(|e| problems.add("simulator.demo_caller", e.to_string()))
                .ok()
        }),
    }
}

pub(crate) fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A secret given inline or as `<key>_file`; a file's trailing newline is not part of it.
pub(crate) fn secret(
    problems: &mut Problems,
    key: &str,
    inline: SecretString,
    file: &str,
) -> SecretString {
    use secrecy::ExposeSecret;
    let inline_set = !inline.expose_secret().trim().is_empty();
    match (inline_set, file.trim()) {
        (true, "") => SecretString::from(inline.expose_secret().trim_end().to_owned()),
        (false, "") => {
            problems.add(key, format!("is required (or {key}_file)"));
            inline
        }
        (true, _) => {
            problems.add(key, format!("set either {key} or {key}_file, not both"));
            inline
        }
        (false, path) => match std::fs::read_to_string(Path::new(path)) {
            Ok(text) if !text.trim().is_empty() => SecretString::from(text.trim_end().to_owned()),
            Ok(_) => {
                problems.add(&format!("{key}_file"), format!("{path} is empty"));
                inline
            }
            Err(e) => {
                problems.add(&format!("{key}_file"), format!("cannot read {path}: {e}"));
                inline
            }
        },
    }
}

/// A secret given inline or as `<key>_file`, or neither (a feature left off).
pub(crate) fn optional_secret(
    problems: &mut Problems,
    key: &str,
    inline: &SecretString,
    file: &str,
) -> Option<String> {
    use secrecy::ExposeSecret;
    let inline = inline.expose_secret().trim().to_owned();
    match (inline.is_empty(), file.trim()) {
        (true, "") => None,
        (false, "") => Some(inline),
        (false, _) => {
            problems.add(key, format!("set either {key} or {key}_file, not both"));
            None
        }
        (true, path) => match std::fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            Ok(_) => {
                problems.add(&format!("{key}_file"), format!("{path} is empty"));
                None
            }
            Err(e) => {
                problems.add(&format!("{key}_file"), format!("cannot read {path}: {e}"));
                None
            }
        },
    }
}

#[derive(Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_owned(),
            message: message.into(),
        });
    }

    pub(crate) fn duration(&mut self, key: &str, raw: &str) -> Duration {
        humantime::parse_duration(raw.trim()).unwrap_or_else(|e| {
            self.add(
                key,
                format!("{raw:?} is not a duration like \"250ms\", \"10s\" or \"5m\" ({e})"),
            );
            Duration::ZERO
        })
    }

    fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError::Invalid(self.0))
        }
    }
}

#[cfg(test)]
mod tests;
