//! The real `genesys-bridge` binary: `check-config`, `sign`, and `sign` → `serve` end to end.
//!
//! Every child runs with a cleared environment (no `BRIDGE_*`, no `RUST_LOG` from the developer's
//! shell), an explicit `--config-dir` and `--env`, and a deadline; a server child is killed on
//! every path out of its test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::binaries::{Finished, LoggedChild, bridge, run, tool, wait_for_exit};

/// The public development secret of the local demo (`config/local.toml`).
const DEMO_SECRET: &str = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ=";
const QUICK: Duration = Duration::from_secs(20);

fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// A throw-away config directory, removed when dropped.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn with(files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("genesys-bridge-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check_config(config_dir: &Path, profile: &str) -> Finished {
    run(bridge(config_dir, profile, &["check-config"]), QUICK)
}

/// The Standard Webhooks `v1` signature of `body` under a `whsec_` secret.
fn standard_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The value of `name: value` in `sign`'s header lines.
fn header<'o>(output: &'o str, name: &str) -> &'o str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in:\n{output}"))
}

// ---- check-config ------------------------------------------------------------------------

#[test]
fn check_config_accepts_the_local_demo_and_names_its_source() {
    let out = check_config(&repo_config(), "local");

    assert!(out.status.success(), "{}", out.all());
    assert!(out.stdout.starts_with("configuration OK"), "{}", out.stdout);
    assert!(
        out.stdout.contains("name: \"demo\"") || out.stdout.contains("  - demo ("),
        "the demo source is listed:\n{}",
        out.stdout
    );
    assert!(
        !out.all().contains(DEMO_SECRET),
        "the demo secret is printed:\n{}",
        out.all()
    );
}

#[test]
fn check_config_redacts_the_simulator_secret() {
    let dir = ConfigDir::with(&[(
        "local.toml",
        "[simulator]\nenabled = true\nclient_secret = \"sim-secret-5b1e\"\n\
         [genesys]\nclient_id = \"sim-client\"\nclient_secret = \"sim-secret-5b1e\"\n",
    )]);
    let repo = check_config(&repo_config(), "local");
    let own = check_config(dir.path(), "local");

    for out in [repo, own] {
        assert!(out.status.success(), "{}", out.all());
        assert!(
            !out.all().contains("sim-secret"),
            "a client secret is printed:\n{}",
            out.all()
        );
    }
}

#[test]
fn check_config_redacts_a_production_profiles_secrets() {
    let dir = ConfigDir::with(&[(
        "production.toml",
        r#"
[genesys]
region = "eu_west_1"
client_id = "3b0c5c1e-client"
client_secret = "prod-client-secret-8d1f"

[sources.crm]
verifier = { type = "standard_webhooks" }
secret = "whsec_cHJvZC1zaWduaW5nLWtleS0wMTIzNDU2Nzg5"

[sources.crm.mapping.keys]
AccountId = "crmAccountId"
"#,
    )]);

    let out = check_config(dir.path(), "production");

    assert!(out.status.success(), "{}", out.all());
    assert!(out.stdout.starts_with("configuration OK"), "{}", out.stdout);
    assert!(out.stdout.contains("crm"), "{}", out.stdout);
    for secret in [
        "prod-client-secret-8d1f",
        "whsec_cHJvZC1zaWduaW5nLWtleS0wMTIzNDU2Nzg5",
        "cHJvZC1zaWduaW5nLWtleS0wMTIzNDU2Nzg5",
    ] {
        assert!(
            !out.all().contains(secret),
            "{secret} printed:\n{}",
            out.all()
        );
    }
}

/// Problems validation can see together: each must be listed, in one run.
const BROKEN_PRODUCTION: &str = r#"
[server]
shutdown_grace = "soon"

[genesys]
region = "mars_north_1"
client_id = "3b0c5c1e-client"
client_secret = "prod-client-secret-8d1f"

[sources.crm]
verifier = { type = "standard_webhooks" }
secret = ""

[sources.crm.mapping.keys]
AccountId = "crmAccount"
AccountNumber = "crmAccount"
"#;

#[test]
fn check_config_lists_every_problem_and_exits_1() {
    let dir = ConfigDir::with(&[("production.toml", BROKEN_PRODUCTION)]);

    let out = check_config(dir.path(), "production");

    assert_eq!(out.status.code(), Some(1), "{}", out.all());
    let text = out.all();
    for key in [
        "server.shutdown_grace",
        "genesys.region",
        "sources.crm.mapping.keys.AccountNumber",
    ] {
        assert!(text.contains(key), "{key} is not listed:\n{text}");
    }
    assert!(
        text.contains("mars_north_1") && text.contains("\"soon\""),
        "the bad values are quoted:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("sources.crm.") && l.contains("secret")),
        "the missing secret is listed:\n{text}"
    );
    assert!(!text.contains("prod-client-secret-8d1f"), "{text}");
}

#[test]
fn check_config_lists_an_unknown_verifier_type_with_every_other_problem() {
    let toml = format!(
        "{BROKEN_PRODUCTION}\n[sources.other]\nverifier = {{ type = \"carrier_pigeon\" }}\n\
         secret = \"pigeon-secret\"\n[sources.other.mapping.keys]\nId = \"crmId\"\n"
    );
    let dir = ConfigDir::with(&[("production.toml", &toml)]);

    let out = check_config(dir.path(), "production");

    assert_eq!(out.status.code(), Some(1), "{}", out.all());
    let text = out.all();
    for key in [
        "server.shutdown_grace",
        "genesys.region",
        "sources.crm.mapping.keys.AccountNumber",
        "sources.other.verifier",
    ] {
        assert!(text.contains(key), "{key} is not listed:\n{text}");
    }
}

#[test]
fn check_config_names_an_unknown_verifier_type_and_the_known_ones() {
    let dir = ConfigDir::with(&[(
        "local.toml",
        "[sources.other]\nverifier = { type = \"carrier_pigeon\" }\nsecret = \"pigeon-secret\"\n\
         [sources.other.mapping.keys]\nId = \"crmId\"\n",
    )]);

    let out = check_config(dir.path(), "local");

    assert_eq!(out.status.code(), Some(1), "{}", out.all());
    let text = out.all();
    assert!(
        text.contains("sources.other.verifier") && text.contains("carrier_pigeon"),
        "{text}"
    );
    assert!(text.contains("standard_webhooks"), "{text}");
    assert!(!text.contains("pigeon-secret"), "{text}");
}

#[test]
fn check_config_refuses_unknown_keys() {
    let typo_in_section = ConfigDir::with(&[("local.toml", "[server]\nprot = 9000\n")]);
    let typo_in_source = ConfigDir::with(&[(
        "local.toml",
        "[sources.crm]\nverifier = { type = \"standard_webhooks\" }\n\
         secrte = \"whsec_cHJvZC1zaWduaW5nLWtleS0wMTIzNDU2Nzg5\"\n\
         [sources.crm.mapping.keys]\nId = \"crmId\"\n",
    )]);

    for (dir, typo) in [(&typo_in_section, "prot"), (&typo_in_source, "secrte")] {
        let out = check_config(dir.path(), "local");
        assert_eq!(out.status.code(), Some(1), "{}", out.all());
        assert!(
            out.all().contains(&format!("`{typo}`")),
            "{typo} not named:\n{}",
            out.all()
        );
    }
}

#[test]
fn check_config_refuses_the_demo_secret_and_the_simulator_in_production() {
    let toml = format!(
        r#"
[simulator]
enabled = true

[genesys]
client_id = "sim-client"
client_secret = "sim-secret"

[sources.demo]
verifier = {{ type = "standard_webhooks" }}
secret = "{DEMO_SECRET}"

[sources.demo.mapping.keys]
accountId = "crmAccountId"
"#
    );
    let dir = ConfigDir::with(&[("production.toml", &toml)]);

    let out = check_config(dir.path(), "production");

    assert_eq!(out.status.code(), Some(1), "{}", out.all());
    let text = out.all();
    for key in ["simulator.enabled", "sources.demo.secret"] {
        assert!(text.contains(key), "{key} is not listed:\n{text}");
    }
    assert!(!text.contains(DEMO_SECRET), "{text}");
}

// ---- sign --------------------------------------------------------------------------------

#[test]
fn sign_prints_the_url_and_standard_webhooks_headers_for_the_demo() {
    let out = run(
        bridge(&repo_config(), "local", &["sign", "--source", "demo"]),
        QUICK,
    );

    assert!(out.status.success(), "{}", out.all());
    assert_eq!(
        out.stdout.lines().next(),
        Some("POST http://127.0.0.1:8080/webhooks/demo")
    );
    let id = header(&out.stdout, "webhook-id");
    let timestamp = header(&out.stdout, "webhook-timestamp");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed_at: i64 = timestamp.parse().unwrap();
    assert!((now - signed_at).abs() < 60, "signed now: {timestamp}");
    assert_eq!(
        header(&out.stdout, "webhook-signature"),
        standard_signature(
            DEMO_SECRET,
            id,
            timestamp,
            genesys_bridge::cli::sign::SAMPLE_PAYLOAD.as_bytes()
        ),
        "the sample payload is signed with the demo secret"
    );
    assert!(!out.all().contains(DEMO_SECRET));
}

#[test]
fn sign_curl_prints_a_complete_curl_command() {
    let out = run(
        bridge(
            &repo_config(),
            "local",
            &["sign", "--source", "demo", "--curl"],
        ),
        QUICK,
    );

    assert!(out.status.success(), "{}", out.all());
    let text = &out.stdout;
    assert!(
        text.starts_with("curl ") && text.contains("-X POST 'http://127.0.0.1:8080/webhooks/demo'"),
        "{text}"
    );
    for header in [
        "-H 'content-type: application/json'",
        "-H 'webhook-id: ",
        "-H 'webhook-timestamp: ",
        "-H 'webhook-signature: v1,",
    ] {
        assert!(text.contains(header), "{header} missing:\n{text}");
    }
    assert!(
        text.contains("--data-binary '{\"conversationId\":\"demo-conversation\""),
        "{text}"
    );
}

#[test]
fn sign_for_an_unknown_source_names_the_configured_ones() {
    let out = run(
        bridge(&repo_config(), "local", &["sign", "--source", "nope"]),
        QUICK,
    );

    assert!(!out.status.success(), "{}", out.all());
    assert!(out.stdout.is_empty(), "nothing to paste: {}", out.stdout);
    assert!(
        out.stderr.contains("\"nope\"") && out.stderr.contains("configured: demo"),
        "{}",
        out.stderr
    );
}

#[test]
fn sign_file_signs_exactly_that_files_bytes() {
    let payload: &[u8] =
        b"{ \"conversationId\": \"call-9\",\n  \"fields\": {\"name\": \"Zo\xc3\xab\"} }\n";
    let dir = ConfigDir::with(&[]);
    let file = dir.path().join("payload.json");
    std::fs::write(&file, payload).unwrap();
    let file_arg = file.to_str().unwrap();

    let out = run(
        bridge(
            &repo_config(),
            "local",
            &["sign", "--source", "demo", "--file", file_arg],
        ),
        QUICK,
    );

    assert!(out.status.success(), "{}", out.all());
    let id = header(&out.stdout, "webhook-id");
    let timestamp = header(&out.stdout, "webhook-timestamp");
    assert_eq!(
        header(&out.stdout, "webhook-signature"),
        standard_signature(DEMO_SECRET, id, timestamp, payload)
    );

    let curl = run(
        bridge(
            &repo_config(),
            "local",
            &["sign", "--source", "demo", "--file", file_arg, "--curl"],
        ),
        QUICK,
    );
    assert!(curl.status.success(), "{}", curl.all());
    assert!(
        curl.stdout
            .contains(&format!("--data-binary @'{file_arg}'")),
        "curl sends the file itself:\n{}",
        curl.stdout
    );
}

// ---- sign → serve ------------------------------------------------------------------------

/// Two distinct ports that were free a moment ago.
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// `curl -sS`, bounded; the status and body, or `None` when nothing answered.
fn curl_get(url: &str) -> Option<(u16, String)> {
    let mut command = tool("curl");
    command.args(["-sS", "--max-time", "2", "-w", "\n%{http_code}", url]);
    let out = run(command, Duration::from_secs(5));
    let (body, status) = out.stdout.rsplit_once('\n')?;
    let status: u16 = status.trim().parse().ok()?;
    (status != 0).then(|| (status, body.to_owned()))
}

#[test]
fn a_signed_curl_command_is_accepted_by_a_running_bridge_which_stops_cleanly_on_sigterm() {
    let (port, sim_port) = free_ports();
    let dir = ConfigDir::with(&[(
        "test.toml",
        &format!(
            r#"
[server]
port = {port}
shutdown_grace = "3s"

[simulator]
enabled = true
port = {sim_port}

[genesys]
client_id = "sim-client"
client_secret = "sim-secret"

[sources.demo]
verifier = {{ type = "standard_webhooks" }}
secret = "{DEMO_SECRET}"

[sources.demo.mapping]
fields = "/fields"

[sources.demo.mapping.keys]
accountId = "crmAccountId"
tier = "customerTier"
openCase = "crmOpenCase"
"/owner/name" = "crmOwner"
"#
        ),
    )]);
    let mut serve = bridge(dir.path(), "test", &["serve"]);
    serve.current_dir(dir.path());
    let server = LoggedChild::spawn(serve, dir.path().join("serve.log"));
    let base = format!("http://127.0.0.1:{port}");

    let deadline = Instant::now() + Duration::from_secs(15);
    while curl_get(&format!("{base}/health/live")).map(|(s, _)| s) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the bridge did not come up within 15 s:\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(100));
    }

    let signed = run(
        bridge(
            dir.path(),
            "test",
            &["sign", "--source", "demo", "--curl", "--url", &base],
        ),
        QUICK,
    );
    assert!(signed.status.success(), "{}", signed.all());
    let mut sh = tool("sh");
    sh.args(["-c", &signed.stdout]);
    let sent = run(sh, QUICK);
    assert!(
        sent.stdout.starts_with("HTTP/1.1 202"),
        "the bridge accepts what sign printed:\n{}\n{}\n{}",
        sent.all(),
        signed.stdout,
        server.log()
    );

    let attributes_url = format!(
        "http://127.0.0.1:{sim_port}/sim/conversations/demo-conversation/participants/demo-customer/attributes"
    );
    let expected = serde_json::json!({
        "crmAccountId": "ACC-123",
        "customerTier": "gold",
        "crmOpenCase": "42",
        "crmOwner": "Ann Lee",
    });
    let deadline = Instant::now() + Duration::from_secs(3);
    let landed = loop {
        let attributes = curl_get(&attributes_url)
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .map(|body| body["attributes"].clone());
        match attributes {
            Some(a) if a.as_object().is_some_and(|m| !m.is_empty()) => break a,
            _ if Instant::now() >= deadline => panic!(
                "nothing landed on demo-customer within 3 s:\n{}",
                server.log()
            ),
            _ => thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(landed, expected, "{}", server.log());

    let mut server = server;
    let kill = server.signal("TERM");
    assert!(kill.status.success(), "{}", kill.all());
    let status = wait_for_exit(&mut server.child, Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM ends the bridge with exit 0 within 5 s, got {status:?}:\n{}",
        server.log()
    );
}
