//! The `[genesys]` section: region or base URLs, credentials, timeouts, retry and rate budget.

use secrecy::SecretString;
use serde::Deserialize;

use super::{GenesysSettings, Problems, non_empty, secret};
use crate::genesys::{ClientSettings, Endpoints, RateBudgetSettings, Region, RetryPolicy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGenesys {
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
pub(super) struct RawRetry {
    max_attempts: u32,
    max_elapsed: String,
    initial_backoff: String,
    max_backoff: String,
    default_retry_after: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    requests_per_window: u32,
    window: String,
    burst: u32,
}

pub(super) fn settings(
    raw: RawGenesys,
    simulated: bool,
    problems: &mut Problems,
) -> GenesysSettings {
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
        burst: raw.rate_limit.burst.max(1),
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
