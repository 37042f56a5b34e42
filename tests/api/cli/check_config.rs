//! `check-config`: a valid profile is OK with its sources listed and its secrets redacted; an
//! invalid one lists every problem and exits 1.

use super::*;

fn check_config(config_dir: &Path, profile: &str) -> Finished {
    run(bridge(config_dir, profile, &["check-config"]), QUICK)
}

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
