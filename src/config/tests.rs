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
