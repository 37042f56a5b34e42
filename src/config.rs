//! Configuration: layered raw input (embedded `config/default.toml` → `config/<profile>.toml` →
//! `BRIDGE__SECTION__KEY` environment variables) parsed once into validated [`Settings`].
//!
//! Validation collects every problem instead of stopping at the first, so `check-config` can list
//! them all before a deploy.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::genesys::{ClientSettings, Endpoints, RateBudgetSettings, Region, RetryPolicy};

const DEFAULTS: &str = include_str!("../config/default.toml");

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
    genesys: RawGenesys,
    simulator: RawSimulator,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    host: String,
    port: u16,
    shutdown_grace: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: String,
    level: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGenesys {
    region: String,
    api_base_url: String,
    login_base_url: String,
    client_id: String,
    client_secret: SecretString,
    client_secret_file: String,
    participant_purposes: Vec<String>,
    connect_timeout: String,
    request_timeout: String,
    token_refresh_margin: String,
    retry: RawRetry,
    rate_limit: RawRateLimit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: u32,
    max_elapsed: String,
    initial_backoff: String,
    max_backoff: String,
    default_retry_after: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    requests_per_window: u32,
    window: String,
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
}

// ---- validated settings --------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Settings {
    pub profile: String,
    pub server: ServerSettings,
    pub log: LogSettings,
    pub genesys: GenesysSettings,
    pub simulator: Option<SimulatorSettings>,
}

#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub shutdown_grace: Duration,
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
    let genesys = genesys_settings(raw.genesys, simulator.is_some(), &mut problems);
    if profile == "production" && simulator.is_some() {
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
    })
}

fn genesys_settings(raw: RawGenesys, simulated: bool, problems: &mut Problems) -> GenesysSettings {
    let endpoints = endpoints(&raw, simulated, problems);
    let client_secret = secret(
        problems,
        "genesys.client_secret",
        raw.client_secret,
        &raw.client_secret_file,
    );
    if raw.client_id.trim().is_empty() {
        problems.add(
            "genesys.client_id",
            "is required (the OAuth client-credentials client id)",
        );
    }
    if raw.participant_purposes.iter().all(|p| p.trim().is_empty()) {
        problems.add(
            "genesys.participant_purposes",
            "needs at least one purpose, e.g. [\"customer\"]",
        );
    }
    let retry = RetryPolicy {
        max_attempts: raw.retry.max_attempts.max(1),
        max_elapsed: problems.duration("genesys.retry.max_elapsed", &raw.retry.max_elapsed),
        initial_backoff: problems
            .duration("genesys.retry.initial_backoff", &raw.retry.initial_backoff),
        max_backoff: problems.duration("genesys.retry.max_backoff", &raw.retry.max_backoff),
        default_retry_after: problems.duration(
            "genesys.retry.default_retry_after",
            &raw.retry.default_retry_after,
        ),
    };
    let mut client = ClientSettings::new(
        endpoints.clone().unwrap_or_else(|| Endpoints::new("", "")),
        raw.client_id.trim(),
        client_secret,
    );
    client.participant_purposes = raw
        .participant_purposes
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    client.connect_timeout = problems.duration("genesys.connect_timeout", &raw.connect_timeout);
    client.request_timeout = problems.duration("genesys.request_timeout", &raw.request_timeout);
    client.token_refresh_margin =
        problems.duration("genesys.token_refresh_margin", &raw.token_refresh_margin);
    client.retry = retry;
    client.rate_budget = RateBudgetSettings {
        limit: (raw.rate_limit.requests_per_window > 0)
            .then_some(raw.rate_limit.requests_per_window),
        window: problems.duration("genesys.rate_limit.window", &raw.rate_limit.window),
    };
    GenesysSettings { endpoints, client }
}

/// A region, base-URL overrides, or both; with the in-process simulator, neither.
fn endpoints(raw: &RawGenesys, simulated: bool, problems: &mut Problems) -> Option<Endpoints> {
    let region = match raw.region.trim() {
        "" => None,
        name => match Region::parse(name) {
            Ok(region) => Some(region),
            Err(e) => {
                problems.add("genesys.region", e.to_string());
                None
            }
        },
    };
    for (key, url) in [
        ("genesys.api_base_url", &raw.api_base_url),
        ("genesys.login_base_url", &raw.login_base_url),
    ] {
        if !url.is_empty()
            && reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
        {
            problems.add(key, format!("{url:?} is not an http(s) URL"));
        }
    }
    let api = non_empty(&raw.api_base_url).or_else(|| region.map(|r| r.api_base_url()));
    let login = non_empty(&raw.login_base_url).or_else(|| region.map(|r| r.login_base_url()));
    match (api, login) {
        (Some(api), Some(login)) => Some(Endpoints::new(api, login)),
        _ if simulated => None,
        _ => {
            problems.add(
                "genesys.region",
                "is required unless both genesys.api_base_url and genesys.login_base_url are set",
            );
            None
        }
    }
}

fn simulator_settings(raw: RawSimulator, problems: &mut Problems) -> SimulatorSettings {
    SimulatorSettings {
        port: raw.port,
        client_id: raw.client_id,
        client_secret: raw.client_secret,
        token_ttl: problems.duration("simulator.token_ttl", &raw.token_ttl),
        rate_limit: (raw.rate_limit > 0).then_some(raw.rate_limit),
        demo_conversation: non_empty(&raw.demo_conversation),
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A secret given inline or as `<key>_file`; a file's trailing newline is not part of it.
fn secret(problems: &mut Problems, key: &str, inline: SecretString, file: &str) -> SecretString {
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

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_owned(),
            message: message.into(),
        });
    }

    fn duration(&mut self, key: &str, raw: &str) -> Duration {
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
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn load_with(profile: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        load(&LoadOptions {
            config_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            profile: profile.to_owned(),
            env: Some(
                env.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<HashMap<_, _>>(),
            ),
        })
    }

    fn problems(err: ConfigError) -> Vec<String> {
        match err {
            ConfigError::Invalid(problems) => problems.iter().map(|p| p.key.clone()).collect(),
            ConfigError::Load(message) => panic!("expected validation problems, got {message}"),
        }
    }

    #[test]
    fn the_local_profile_runs_the_simulator_with_nothing_else_set() {
        let settings = load_with("local", &[]).unwrap();
        assert!(settings.simulator.is_some());
        assert!(settings.genesys.endpoints.is_none());
        assert_eq!(settings.genesys.client.client_id, "sim-client");
        assert_eq!(settings.genesys.client.rate_budget.limit, Some(300));
        assert_eq!(
            settings.genesys.client.retry.max_elapsed,
            Duration::from_secs(10)
        );
    }

    #[test]
    fn environment_overrides_files_and_regions_resolve() {
        let settings = load_with(
            "production",
            &[
                ("BRIDGE__GENESYS__REGION", "mypurecloud.ie"),
                ("BRIDGE__GENESYS__CLIENT_ID", "abc"),
                ("BRIDGE__GENESYS__CLIENT_SECRET", "s3cret\n"),
                ("BRIDGE__GENESYS__PARTICIPANT_PURPOSES", "customer,external"),
                ("BRIDGE__GENESYS__RATE_LIMIT__REQUESTS_PER_WINDOW", "0"),
            ],
        )
        .unwrap();
        let endpoints = settings.genesys.endpoints.unwrap();
        assert_eq!(endpoints.api_base_url(), "https://api.mypurecloud.ie");
        assert_eq!(
            endpoints.token_url(),
            "https://login.mypurecloud.ie/oauth/token"
        );
        assert_eq!(
            settings.genesys.client.participant_purposes,
            ["customer", "external"]
        );
        assert_eq!(settings.genesys.client.rate_budget.limit, None);
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn a_secret_file_is_read_without_its_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("bridge-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let settings = load_with(
            "production",
            &[
                ("BRIDGE__GENESYS__REGION", "eu_west_1"),
                ("BRIDGE__GENESYS__CLIENT_ID", "abc"),
                (
                    "BRIDGE__GENESYS__CLIENT_SECRET_FILE",
                    file.to_str().unwrap(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            settings.genesys.client.client_secret.expose_secret(),
            "from-a-file"
        );
    }

    #[test]
    fn lists_every_problem_at_once() {
        let err = load_with(
            "production",
            &[
                ("BRIDGE__GENESYS__REGION", "mars_north_1"),
                ("BRIDGE__GENESYS__REQUEST_TIMEOUT", "soon"),
                ("BRIDGE__LOG__FORMAT", "xml"),
                ("BRIDGE__SIMULATOR__ENABLED", "true"),
            ],
        )
        .unwrap_err();
        let keys = problems(err);
        for key in [
            "genesys.region",
            "genesys.request_timeout",
            "genesys.client_id",
            "genesys.client_secret",
            "log.format",
            "simulator.enabled",
        ] {
            assert!(
                keys.contains(&key.to_owned()),
                "{key} missing from {keys:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = load_with("local", &[("BRIDGE__GENESYS__CLIENTID", "typo")]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Load(m) if m.contains("clientid")),
            "{err}"
        );
    }

    #[test]
    fn a_missing_profile_file_says_where_it_looked() {
        let err = load_with("staging", &[]).unwrap_err();
        assert!(err.to_string().contains("staging.toml"), "{err}");
    }
}
