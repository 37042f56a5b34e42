//! The `replicas` profile of `docker-compose.yml`: PostgreSQL (the official image, a named
//! volume, the password from a Docker secret) and bridges sharing it, each on its own host port.
//! Read and tried on the real binary like the rest of the folder; no Docker engine needed.

use std::os::unix::fs::PermissionsExt;

use reqwest::Url;

use super::*;

const PROFILE: &str = "replicas";
const DATABASE: &str = "postgres";

/// The services of this project's image that keep their jobs in PostgreSQL.
fn replicas(compose: &Value) -> Vec<(&String, &Value)> {
    let found: Vec<_> = our_services(compose)
        .into_iter()
        .filter(|(_, s)| {
            service_env(s)
                .get("BRIDGE__STORE__BACKEND")
                .map(String::as_str)
                == Some("postgres")
        })
        .collect();
    assert!(
        found.len() >= 2,
        "the {PROFILE} profile runs two bridges or more"
    );
    found
}

fn profiles(service: &Value) -> Vec<String> {
    match &service["profiles"] {
        Value::Null => Vec::new(),
        value => string_list(value, "profiles"),
    }
}

/// The repository file behind `/run/secrets/NAME` in `service`: NAME must be one of the service's
/// secrets and a top-level secret read from a file.
fn secret_file(compose: &Value, service_name: &str, path: &str) -> PathBuf {
    let name = path
        .strip_prefix("/run/secrets/")
        .unwrap_or_else(|| panic!("{service_name}: {path} is not where Compose mounts a secret"));
    let listed = string_list(
        &service(compose, service_name)["secrets"],
        &format!("{service_name} secrets"),
    );
    assert!(
        listed.iter().any(|s| s == name),
        "{service_name} reads {path} but does not mount the secret {name}: {listed:?}"
    );
    let file = compose["secrets"][name]["file"]
        .as_str()
        .unwrap_or_else(|| panic!("the secret {name} is not read from a file"));
    repo().join(file)
}

/// `--flag value` pairs of a command line.
fn flags(args: &[String]) -> BTreeMap<&str, &str> {
    args.chunks(2)
        .map(|pair| match pair {
            [flag, value] if flag.starts_with("--") => (flag.as_str(), value.as_str()),
            other => panic!("expected `--flag value` pairs, got {other:?} in {args:?}"),
        })
        .collect()
}

fn database_env(compose: &Value) -> BTreeMap<String, String> {
    service_env(service(compose, DATABASE))
}

#[test]
fn a_plain_up_starts_the_demo_alone_and_the_profile_adds_the_rest() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");

    let default: BTreeSet<&str> = services
        .iter()
        .filter(|(_, s)| profiles(s).is_empty())
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(default, BTreeSet::from(["bridge", "genesys-sim"]));
    for (name, service) in services {
        if !default.contains(name.as_str()) {
            assert_eq!(profiles(service), [PROFILE], "{name}");
        }
    }
    let ours: BTreeSet<&String> = our_services(&compose).into_iter().map(|(n, _)| n).collect();
    let others: Vec<&String> = services.keys().filter(|n| !ours.contains(n)).collect();
    assert_eq!(others, [DATABASE], "services of other images than ours");
}

#[test]
fn the_replicas_differ_only_in_their_host_port() {
    let compose = compose();
    let replicas = replicas(&compose);
    let (first_name, first) = replicas[0];

    for (name, replica) in &replicas {
        for key in [
            "build",
            "environment",
            "depends_on",
            "secrets",
            "healthcheck",
            "stop_grace_period",
            "restart",
            "entrypoint",
            "command",
            "volumes",
        ] {
            assert_eq!(
                replica[key], first[key],
                "{name} and {first_name} differ in {key}"
            );
        }
        for dependency in [DATABASE, "genesys-sim"] {
            assert_eq!(
                replica["depends_on"][dependency]["condition"], "service_healthy",
                "{name} must wait for {dependency} to be healthy"
            );
        }
    }
}

#[test]
fn the_replicas_reach_the_database_as_its_user_with_its_secret() {
    let compose = compose();
    let db = database_env(&compose);

    for (name, replica) in replicas(&compose) {
        let env = service_env(replica);
        let url = Url::parse(&env["BRIDGE__STORE__URL"]).unwrap();
        assert_eq!(url.scheme(), "postgres", "{name}");
        assert_eq!(
            url.host_str(),
            Some(DATABASE),
            "{name}: the database service"
        );
        assert_eq!(url.port(), Some(5432), "{name}");
        assert_eq!(url.username(), db["POSTGRES_USER"], "{name}");
        assert_eq!(url.path(), format!("/{}", db["POSTGRES_DB"]), "{name}");
        assert_eq!(
            url.password(),
            None,
            "{name}: the password belongs in the secret"
        );
        // The file the bridge reads is the one the database was initialised from.
        assert_eq!(
            env["BRIDGE__STORE__PASSWORD_FILE"], db["POSTGRES_PASSWORD_FILE"],
            "{name}"
        );
        assert_eq!(
            secret_file(&compose, name, &env["BRIDGE__STORE__PASSWORD_FILE"]),
            secret_file(&compose, DATABASE, &db["POSTGRES_PASSWORD_FILE"])
        );
    }
    let file = secret_file(&compose, DATABASE, &db["POSTGRES_PASSWORD_FILE"]);
    let password = std::fs::read_to_string(&file).unwrap();
    assert_eq!(password.trim_end().lines().count(), 1, "{}", file.display());
    // Compose bind-mounts the file as it is: the database's user and the bridge's (65532) read it.
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o004,
        0o004,
        "{} is not readable by all",
        file.display()
    );
}

#[test]
fn the_replicas_environment_passes_check_config() {
    let instructions = dockerfile();
    let compose = compose();

    for (name, replica) in replicas(&compose) {
        let mut env = with_repo_config(&instructions, compose_env(&instructions, &compose, name));
        let secret = &service_env(replica)["BRIDGE__STORE__PASSWORD_FILE"];
        let file = secret_file(&compose, name, secret);
        env.insert(
            "BRIDGE__STORE__PASSWORD_FILE".to_owned(),
            file.to_string_lossy().into_owned(),
        );

        let checked = run(BRIDGE, &strings(&["check-config"]), &env);

        assert!(
            checked.status.success(),
            "{name}: {env:#?}\n{}",
            checked.all()
        );
        let out = &checked.stdout;
        assert!(out.starts_with("configuration OK (profile local)"), "{out}");
        assert!(
            out.contains(&format!("server      0.0.0.0:{BRIDGE_PORT} ")),
            "{out}"
        );
        let url = &env["BRIDGE__STORE__URL"];
        assert!(out.contains(&format!("store postgres {url} ")), "{out}");
        let sim = format!("http://genesys-sim:{}", sim_port(&compose));
        assert!(
            out.contains(&format!("genesys     api {sim} · login {sim}\n")),
            "{out}"
        );
    }
}

#[test]
fn every_published_port_is_on_loopback_and_its_own() {
    let compose = compose();
    let mut host_ports = BTreeMap::new();
    for (name, service) in compose["services"].as_object().expect("services") {
        if service["ports"].is_null() {
            continue;
        }
        for port in string_list(&service["ports"], "ports") {
            let parts: Vec<&str> = port.split(':').collect();
            let [host, published, _container] = parts[..] else {
                panic!("{name}: write ports as 127.0.0.1:HOST:CONTAINER, not {port}");
            };
            assert_eq!(host, "127.0.0.1", "{name}: the demo's secrets are public");
            if let Some(other) = host_ports.insert(published.to_owned(), name.clone()) {
                panic!("{name} and {other} both publish host port {published}");
            }
        }
    }
    for (name, replica) in replicas(&compose) {
        let ports = string_list(&replica["ports"], "ports");
        assert_eq!(ports.len(), 1, "{name}: {ports:?}");
        assert!(
            ports[0].ends_with(&format!(":{BRIDGE_PORT}")),
            "{name}: {ports:?}"
        );
    }
    assert!(
        service(&compose, DATABASE)["ports"].is_null(),
        "the database is for the replicas on the compose network only"
    );
}

#[test]
fn the_database_keeps_its_data_on_a_named_volume_where_the_image_expects_it() {
    let compose = compose();
    let database = service(&compose, DATABASE);
    let image = database["image"].as_str().expect("an image");
    let tag = image
        .strip_prefix("postgres:")
        .unwrap_or_else(|| panic!("the official postgres image, not {image}"));
    let major: u32 = tag
        .split(['.', '-'])
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("pin the major version: {image}"));
    // From 18 on the image keeps PGDATA in /var/lib/postgresql/MAJOR/docker and declares its
    // VOLUME one level up; a mount at the old path would leave the data in an anonymous volume.
    let expected = if major >= 18 {
        "/var/lib/postgresql"
    } else {
        "/var/lib/postgresql/data"
    };

    let mounts = string_list(&database["volumes"], "postgres volumes");
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    let (volume, target) = mounts[0].split_once(':').unwrap();
    assert_eq!(target, expected, "{image}");
    assert!(
        compose["volumes"]
            .as_object()
            .is_some_and(|v| v.contains_key(volume)),
        "{volume} is not a named volume"
    );
    let env = database_env(&compose);
    assert!(
        !env.contains_key("POSTGRES_PASSWORD"),
        "the password belongs in the secret"
    );
    let known = ["POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD_FILE"];
    for key in env.keys() {
        assert!(
            known.contains(&key.as_str()),
            "{key}: not a variable this test knows"
        );
    }
}

#[test]
fn the_database_probe_asks_the_real_server_for_the_bridges_database() {
    let compose = compose();
    let env = database_env(&compose);

    let probe = service_probe(service(&compose, DATABASE), DATABASE);

    assert_eq!(probe[0], "pg_isready");
    let flags = flags(&probe[1..]);
    // Over TCP: during initialisation the image's temporary server listens on the socket only.
    assert_eq!(flags.get("--host"), Some(&"127.0.0.1"));
    assert_eq!(
        flags.get("--username"),
        Some(&env["POSTGRES_USER"].as_str())
    );
    assert_eq!(flags.get("--dbname"), Some(&env["POSTGRES_DB"].as_str()));
}

#[tokio::test]
async fn the_replicas_health_probes_get_2xx_from_a_bridge() {
    let compose = compose();
    let app = spawn_app("").await;

    for (name, replica) in replicas(&compose) {
        let probe = service_probe(replica, name);
        let (port, path) = port_and_path(&probe_url(&probe));
        assert_eq!(
            port, BRIDGE_PORT,
            "{name}: the probe asks another port than the server's"
        );

        let args = strings(&["healthcheck", "--url", &format!("{}{path}", app.address)]);
        let answered = run_beside(BRIDGE, args).await;

        assert!(answered.status.success(), "{name}: {}", answered.all());
    }
}
