//! The container packaging, checked without a Docker engine: the `Dockerfile` and
//! `docker-compose.yml` are read as text, and every command, flag, environment variable and
//! health probe they use is tried on the real binaries. (`.ci/checks/packaging.sh` lints both
//! files; whether the image builds is not checked anywhere on a machine without Docker.)
//!
//! `docker-compose.yml` is parsed with `serde_yaml_ng` and looked at as JSON values whose scalars
//! are all strings, as Compose passes environment values.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::app::spawn_app;
use crate::binaries::{BRIDGE, Finished, SIM, isolated};
use crate::helpers::{sim_config, spawn_sim};

/// The `replicas` profile: PostgreSQL and the bridges sharing it.
mod replicas;

const DEADLINE: Duration = Duration::from_secs(20);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
}

// ---- running the binaries -----------------------------------------------------------------------

/// `program args…` with exactly `env` (nothing inherited), run from a temporary directory, killed
/// if it outlasts the deadline.
fn run(program: &str, args: &[String], env: &BTreeMap<String, String>) -> Finished {
    let mut command = isolated(program);
    command.args(args).envs(env);
    crate::binaries::run(command, DEADLINE)
}

/// As [`run`], off the async runtime so a server in the same test keeps answering.
async fn run_beside(program: &str, args: Vec<String>) -> Finished {
    let program = program.to_owned();
    tokio::task::spawn_blocking(move || run(&program, &args, &BTreeMap::new()))
        .await
        .unwrap()
}

fn binary(program: &str) -> &'static str {
    match program {
        "genesys-bridge" => BRIDGE,
        "genesys-sim" => SIM,
        other => panic!("the image holds genesys-bridge and genesys-sim, not {other:?}"),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

// ---- the Dockerfile ----------------------------------------------------------------------------

/// One instruction, continuation lines joined; `stage` counts `FROM`s from 1.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
    stage: usize,
}

fn dockerfile() -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    let mut stage = 0;
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let text = std::mem::take(&mut pending);
        let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "FROM" {
            stage += 1;
        }
        instructions.push(Instruction {
            keyword,
            args: args.trim().to_owned(),
            stage,
        });
    }
    instructions
}

fn runtime_stage(instructions: &[Instruction]) -> impl Iterator<Item = &Instruction> {
    let last = instructions.iter().map(|i| i.stage).max().unwrap_or(0);
    instructions.iter().filter(move |i| i.stage == last)
}

fn only<'i>(instructions: &'i [Instruction], keyword: &str) -> &'i Instruction {
    let found: Vec<&Instruction> = runtime_stage(instructions)
        .filter(|i| i.keyword == keyword)
        .collect();
    assert_eq!(found.len(), 1, "the image needs one {keyword}: {found:?}");
    found[0]
}

/// An exec-form (JSON array) argument list: the image has no shell to run the shell form.
fn exec_form(args: &str, what: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| {
        panic!("{what} must be exec form, a JSON array (no shell in the image): {args}: {e}")
    })
}

/// The image's environment: every `ENV KEY=VALUE` of the runtime stage.
fn image_env(instructions: &[Instruction]) -> BTreeMap<String, String> {
    runtime_stage(instructions)
        .filter(|i| i.keyword == "ENV")
        .flat_map(|i| i.args.split_whitespace())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV {pair:?}: write KEY=VALUE"));
            assert!(
                !value.contains(['"', '\'']),
                "ENV {pair}: this test reads unquoted values"
            );
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// (flags, sources, destination) of a `COPY`.
fn copy_parts(instruction: &Instruction) -> (Vec<&str>, Vec<&str>, &str) {
    let words: Vec<&str> = instruction.args.split_whitespace().collect();
    let (flags, rest): (Vec<&str>, Vec<&str>) = words.iter().partition(|w| w.starts_with("--"));
    let (destination, sources) = rest.split_last().expect("COPY has a destination");
    (flags, sources.to_vec(), destination)
}

/// The default command of the image and its health probe.
fn image_commands(instructions: &[Instruction]) -> (Vec<String>, Vec<String>) {
    let mut command = exec_form(&only(instructions, "ENTRYPOINT").args, "ENTRYPOINT");
    command.extend(exec_form(&only(instructions, "CMD").args, "CMD"));
    let healthcheck = &only(instructions, "HEALTHCHECK").args;
    let (_options, probe) = healthcheck
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK needs CMD: {healthcheck}"));
    (command, exec_form(probe, "HEALTHCHECK CMD"))
}

// ---- docker-compose.yml ------------------------------------------------------------------------

/// The compose file as JSON values; scalars stay strings, as Compose passes environment values.
fn compose() -> Value {
    yaml(&read("docker-compose.yml"))
}

/// YAML as JSON values, every scalar a string (`retries: 5` is `"5"`, `enabled: false` is
/// `"false"`), an empty value null; merge keys (`<<`) applied, as Compose does.
fn yaml(text: &str) -> Value {
    let mut value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("the YAML does not parse: {e}"));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("a merge key that does not merge: {e}"));
    json_of(value)
}

fn json_of(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Yaml;
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(boolean) => Value::String(boolean.to_string()),
        Yaml::Number(number) => Value::String(number.to_string()),
        Yaml::String(text) => Value::String(text),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(json_of).collect()),
        Yaml::Mapping(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| match json_of(key) {
                    Value::String(key) => (key, json_of(value)),
                    other => panic!("a mapping key that is not a scalar: {other}"),
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => panic!("Compose files have no YAML tags: {tagged:?}"),
    }
}

fn service<'c>(compose: &'c Value, name: &str) -> &'c Value {
    let service = &compose["services"][name];
    assert!(
        service.is_object(),
        "docker-compose.yml has no service {name}"
    );
    service
}

/// The services that run this project's image (the `bridge` service's); the others, the database,
/// run images of their own.
fn our_services(compose: &Value) -> Vec<(&String, &Value)> {
    let image = &service(compose, "bridge")["image"];
    compose["services"]
        .as_object()
        .expect("services")
        .iter()
        .filter(|(_, service)| &service["image"] == image)
        .collect()
}

fn string_list(value: &Value, what: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} must be a list: {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what}: {v} is not a string"))
                .to_owned()
        })
        .collect()
}

fn service_env(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Null => BTreeMap::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        other => panic!("write environment as a mapping: {other}"),
    }
}

/// What the service's container runs: its entrypoint and command, or the image's. (Compose drops
/// the image's CMD when a service sets its own entrypoint.)
fn service_command(service: &Value, image_command: &[String]) -> Vec<String> {
    let entrypoint = &service["entrypoint"];
    let command = &service["command"];
    if entrypoint.is_null() && command.is_null() {
        return image_command.to_vec();
    }
    let mut argv = if entrypoint.is_null() {
        image_command[..1].to_vec()
    } else {
        string_list(entrypoint, "entrypoint")
    };
    if !command.is_null() {
        argv.extend(string_list(command, "command"));
    }
    argv
}

/// The service's health probe: `test` without its leading `CMD`.
fn service_probe(service: &Value, name: &str) -> Vec<String> {
    let test = string_list(
        &service["healthcheck"]["test"],
        &format!("{name} healthcheck.test"),
    );
    assert_eq!(
        test.first().map(String::as_str),
        Some("CMD"),
        "{name}: the healthcheck must be [\"CMD\", …]: the image has no shell for CMD-SHELL"
    );
    test[1..].to_vec()
}

/// The URL a `genesys-bridge healthcheck …` probe asks for.
fn probe_url(probe: &[String]) -> String {
    assert_eq!(
        probe[..2],
        strings(&["genesys-bridge", "healthcheck"]),
        "{probe:?}"
    );
    match probe.iter().position(|a| a == "--url") {
        Some(at) => probe[at + 1].clone(),
        None => genesys_bridge::cli::healthcheck::DEFAULT_URL.to_owned(),
    }
}

/// `http://host:port/path` → (port, path).
fn port_and_path(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port = authority
        .rsplit_once(':')
        .map_or(80, |(_, port)| port.parse().expect("a numeric port"));
    (port, path.to_owned())
}

// ---- settings ----------------------------------------------------------------------------------

/// The config key `BRIDGE__A__B_C` sets (`a.b_c`); `None` for other variables.
fn config_key(variable: &str) -> Option<String> {
    variable.strip_prefix("BRIDGE__").map(|path| {
        path.split("__")
            .collect::<Vec<_>>()
            .join(".")
            .to_ascii_lowercase()
    })
}

/// Whether `key` is one `config/default.toml` documents: a key of its tables, or for
/// `sources.<name>.<key>…` a key of its commented `[sources.NAME]` reference (`secret_file` is
/// noted there beside `secret`).
fn documented(key: &str) -> bool {
    let text = read("config/default.toml");
    if let Some(rest) = key.strip_prefix("sources.") {
        let Some(source_key) = rest.split('.').nth(1) else {
            return false;
        };
        let reference: String = text
            .lines()
            .skip_while(|l| !l.starts_with("# [sources.NAME]"))
            .collect::<Vec<_>>()
            .join("\n");
        let assigned = format!("{source_key} =");
        return reference.contains(&format!("[sources.NAME.{source_key}]"))
            || reference.match_indices(&assigned).any(|(at, _)| {
                !reference[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
    }
    config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .build()
        .expect("config/default.toml parses")
        .get::<config::Value>(key)
        .is_ok()
}

/// Every `[env: NAME` the bridge's and the simulator's help pages name.
fn cli_env_names() -> BTreeSet<String> {
    let pages = [
        run(BRIDGE, &strings(&["serve", "--help"]), &BTreeMap::new()),
        run(
            BRIDGE,
            &strings(&["healthcheck", "--help"]),
            &BTreeMap::new(),
        ),
        run(SIM, &strings(&["--help"]), &BTreeMap::new()),
    ];
    pages
        .iter()
        .flat_map(|page| page.stdout.split("[env: ").skip(1))
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_owned)
        .collect()
}

// ---- the healthcheck command -------------------------------------------------------------------

#[tokio::test]
async fn healthcheck_exits_0_against_a_ready_bridge() {
    let app = spawn_app("").await;

    let probe = run_beside(
        BRIDGE,
        strings(&["healthcheck", "--url", &app.url("/health/ready")]),
    )
    .await;

    assert!(probe.status.success(), "{}", probe.all());
    assert_eq!(
        probe.stdout,
        format!("healthy: 200 OK from {}\n", app.url("/health/ready"))
    );
}

#[tokio::test]
async fn healthcheck_exits_1_when_nothing_listens() {
    let url = format!("http://127.0.0.1:{}/health/ready", closed_port());

    let probe = run_beside(BRIDGE, strings(&["healthcheck", "--url", &url])).await;

    assert_eq!(probe.status.code(), Some(1), "{}", probe.all());
    assert!(
        probe
            .stdout
            .starts_with(&format!("unhealthy: cannot reach {url}: ")),
        "{}",
        probe.all()
    );
    assert_eq!(probe.stdout.lines().count(), 1, "{}", probe.stdout);
}

#[tokio::test]
async fn healthcheck_reads_its_url_from_bridge_healthcheck_url() {
    let url = format!("http://127.0.0.1:{}/health/ready", closed_port());
    let env = BTreeMap::from([("BRIDGE_HEALTHCHECK_URL".to_owned(), url.clone())]);

    let probe = tokio::task::spawn_blocking(move || run(BRIDGE, &strings(&["healthcheck"]), &env))
        .await
        .unwrap();

    assert_eq!(probe.status.code(), Some(1), "{}", probe.all());
    assert!(probe.stdout.contains(&url), "{}", probe.all());
}

// ---- the files against the binaries ------------------------------------------------------------

#[test]
fn every_command_and_flag_the_files_use_is_accepted_by_the_binaries() {
    let instructions = dockerfile();
    let compose = compose();
    let (image_command, image_probe) = image_commands(&instructions);
    let mut commands = vec![
        (
            "Dockerfile ENTRYPOINT + CMD".to_owned(),
            image_command.clone(),
        ),
        ("Dockerfile HEALTHCHECK".to_owned(), image_probe),
    ];
    for (name, service) in our_services(&compose) {
        commands.push((
            format!("{name}: command"),
            service_command(service, &image_command),
        ));
        commands.push((format!("{name}: healthcheck"), service_probe(service, name)));
    }
    assert!(commands.len() >= 6, "{commands:?}");

    for (origin, argv) in &commands {
        let (program, args) = argv.split_first().expect("a program");
        // `--help` last: clap checks every argument before it, then prints that command's help.
        let mut with_help = args.to_vec();
        with_help.push("--help".to_owned());
        let help = run(binary(program), &with_help, &BTreeMap::new());
        assert!(
            help.status.success(),
            "{origin}: {argv:?} is refused:\n{}",
            help.all()
        );
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            let name = flag.split('=').next().unwrap_or(flag);
            assert!(
                help.stdout.contains(&format!("{name} "))
                    || help.stdout.contains(&format!("{name}\n")),
                "{origin}: {name} is not in `{program} … --help`:\n{}",
                help.stdout
            );
        }
    }
}

#[test]
fn every_variable_the_files_set_is_a_setting_or_a_cli_variable() {
    let instructions = dockerfile();
    let compose = compose();
    let mut variables: Vec<(String, String)> = image_env(&instructions)
        .into_keys()
        .map(|k| ("Dockerfile".to_owned(), k))
        .collect();
    for (name, service) in our_services(&compose) {
        variables.extend(service_env(service).into_keys().map(|k| (name.clone(), k)));
    }
    assert!(variables.iter().any(|(_, k)| k.starts_with("BRIDGE__")));
    let cli_names = cli_env_names();
    assert!(cli_names.contains("BRIDGE_ENV"), "{cli_names:?}");

    for (origin, variable) in &variables {
        match config_key(variable) {
            Some(key) => assert!(
                documented(&key),
                "{origin}: {variable} sets {key}, which config/default.toml does not have"
            ),
            None => assert!(
                cli_names.contains(variable),
                "{origin}: {variable} is neither BRIDGE__SECTION__KEY nor read by a binary ({cli_names:?})"
            ),
        }
    }
}

#[test]
fn the_settings_mapping_follows_the_file_and_nested_forms() {
    assert_eq!(
        config_key("BRIDGE__GENESYS__CLIENT_SECRET_FILE").as_deref(),
        Some("genesys.client_secret_file")
    );
    assert!(documented("genesys.client_secret_file"));
    assert!(documented("genesys.retry.max_attempts"));
    assert!(documented("admin.token_file"));
    assert!(documented("sources.crm.secret_file"));
    assert!(documented("sources.crm.secret"));
    assert!(documented("sources.crm.mapping.unmapped"));
    assert!(!documented("genesys.client_secrets"));
    assert!(!documented("sources.crm.sekret"));
    assert!(!documented("sources.crm.file"));
    assert_eq!(config_key("BRIDGE_ENV"), None);
}

/// The bridge's environment in compose: the image's `ENV`, then the service's `environment`.
fn compose_bridge_env(instructions: &[Instruction], compose: &Value) -> BTreeMap<String, String> {
    compose_env(instructions, compose, "bridge")
}

/// A service's environment in compose: the image's `ENV`, then the service's `environment`.
fn compose_env(
    instructions: &[Instruction],
    compose: &Value,
    name: &str,
) -> BTreeMap<String, String> {
    let mut env = image_env(instructions);
    env.extend(service_env(service(compose, name)));
    env
}

/// The image's config directory, checked to be where the Dockerfile copies `config/`, replaced by
/// the repository's.
fn with_repo_config(
    instructions: &[Instruction],
    mut env: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let dir = env
        .get("BRIDGE_CONFIG_DIR")
        .expect("the image sets BRIDGE_CONFIG_DIR")
        .clone();
    assert!(
        runtime_stage(instructions)
            .filter(|i| i.keyword == "COPY")
            .map(copy_parts)
            .any(|(flags, sources, destination)| flags.is_empty()
                && sources.iter().any(|s| s.trim_end_matches('/') == "config")
                && destination.trim_end_matches('/') == dir),
        "the Dockerfile does not COPY config/ to BRIDGE_CONFIG_DIR ({dir})"
    );
    env.insert(
        "BRIDGE_CONFIG_DIR".to_owned(),
        repo().join("config").to_string_lossy().into_owned(),
    );
    env
}

/// The simulator's port: the `--port` of its command in compose.
fn sim_port(compose: &Value) -> u16 {
    let command = service_command(service(compose, "genesys-sim"), &[]);
    let at = command.iter().position(|a| a == "--port").expect("--port");
    command[at + 1].parse().expect("a port")
}

/// `server.port`'s default, which neither file changes (checked below through check-config).
const BRIDGE_PORT: u16 = 8080;

#[test]
fn the_compose_bridge_environment_passes_check_config() {
    let instructions = dockerfile();
    let compose = compose();
    let env = with_repo_config(&instructions, compose_bridge_env(&instructions, &compose));

    let checked = run(BRIDGE, &strings(&["check-config"]), &env);

    assert!(checked.status.success(), "{env:#?}\n{}", checked.all());
    let out = &checked.stdout;
    assert!(out.starts_with("configuration OK (profile local)"), "{out}");
    // On every interface of its container (the published port reaches it), talking to the
    // simulator's container on the port that one serves, not to an in-process simulator.
    assert!(
        out.contains(&format!("server      0.0.0.0:{BRIDGE_PORT} ")),
        "{out}"
    );
    let sim = format!("http://genesys-sim:{}", sim_port(&compose));
    assert!(
        out.contains(&format!("genesys     api {sim} · login {sim}\n")),
        "{out}"
    );
    assert!(
        out.contains("queue       store sqlite /var/lib/genesys-bridge/bridge.db "),
        "{out}"
    );
}

#[test]
fn the_published_ports_are_the_ones_served() {
    let instructions = dockerfile();
    let compose = compose();
    assert_eq!(only(&instructions, "EXPOSE").args, BRIDGE_PORT.to_string());
    let published = |name: &str| string_list(&service(&compose, name)["ports"], "ports");
    // On the host's loopback only: the demo's secrets and admin token are public.
    assert_eq!(
        published("bridge"),
        [format!("127.0.0.1:{BRIDGE_PORT}:{BRIDGE_PORT}")]
    );
    let sim = sim_port(&compose);
    assert_eq!(published("genesys-sim"), [format!("127.0.0.1:{sim}:{sim}")]);
}

#[test]
fn the_image_alone_runs_the_production_profile_and_asks_for_credentials() {
    let instructions = dockerfile();
    let env = with_repo_config(&instructions, image_env(&instructions));
    assert_eq!(
        env.get("BRIDGE_ENV").map(String::as_str),
        Some("production")
    );

    let checked = run(BRIDGE, &strings(&["check-config"]), &env);

    assert_eq!(checked.status.code(), Some(1), "{}", checked.all());
    assert!(
        checked.stdout.contains("genesys.client_id: is required"),
        "{}",
        checked.all()
    );
}

#[test]
fn the_store_lives_in_the_declared_volume() {
    let instructions = dockerfile();
    let compose = compose();
    let data_dir = compose_bridge_env(&instructions, &compose)
        .remove("BRIDGE__QUEUE__DATA_DIR")
        .expect("the store's directory is set");
    let volumes = exec_form(&only(&instructions, "VOLUME").args, "VOLUME");
    assert_eq!(
        volumes,
        vec![data_dir.clone()],
        "the image's VOLUME is the store"
    );

    let mounts = string_list(&service(&compose, "bridge")["volumes"], "bridge volumes");
    let mount = mounts
        .iter()
        .find_map(|m| m.strip_suffix(&format!(":{data_dir}")))
        .unwrap_or_else(|| panic!("bridge mounts nothing at {data_dir}: {mounts:?}"));
    assert!(
        compose["volumes"]
            .as_object()
            .is_some_and(|v| v.contains_key(mount)),
        "{mount} is not a named volume of docker-compose.yml"
    );
    // The image's user owns the directory the volume starts from.
    let user = only(&instructions, "USER").args.clone();
    assert!(
        runtime_stage(&instructions)
            .filter(|i| i.keyword == "COPY")
            .map(copy_parts)
            .any(
                |(flags, _, destination)| flags.contains(&format!("--chown={user}").as_str())
                    && data_dir.starts_with(destination.trim_end_matches('/'))
            ),
        "no COPY --chown={user} creates {data_dir}"
    );
}

#[tokio::test]
async fn the_health_probes_get_2xx_from_what_they_probe() {
    let instructions = dockerfile();
    let compose = compose();
    let (_, image_probe) = image_commands(&instructions);
    let bridge_probe = service_probe(service(&compose, "bridge"), "bridge");
    let sim_probe = service_probe(service(&compose, "genesys-sim"), "genesys-sim");
    let app = spawn_app("").await;
    let sim = spawn_sim(sim_config()).await;

    let probes = [
        ("Dockerfile", image_probe, BRIDGE_PORT, &app.address),
        ("bridge", bridge_probe, BRIDGE_PORT, &app.address),
        ("genesys-sim", sim_probe, sim_port(&compose), &sim.base_url),
    ];
    for (origin, probe, port, here) in probes {
        let (probed_port, path) = port_and_path(&probe_url(&probe));
        assert_eq!(
            probed_port, port,
            "{origin}: the probe asks another port than the server's"
        );

        // The same path, on the server this test runs.
        let args = strings(&["healthcheck", "--url", &format!("{here}{path}")]);
        let answered = run_beside(BRIDGE, args).await;

        assert!(
            answered.status.success(),
            "{origin}: {path} is not 2xx: {}",
            answered.all()
        );
    }
    sim.shutdown().await;
}

#[test]
fn the_build_context_holds_every_file_the_crate_compiles_in() {
    let instructions = dockerfile();
    let kept: BTreeSet<String> = read(".dockerignore")
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .map(|p| p.trim_end_matches('/').to_owned())
        .collect();
    let copied: BTreeSet<String> = instructions
        .iter()
        .filter(|i| i.stage == 1 && i.keyword == "COPY")
        .flat_map(|i| copy_parts(i).1)
        .map(|s| s.trim_end_matches('/').to_owned())
        .collect();
    for needed in ["Cargo.toml", "Cargo.lock", "src", "config"] {
        assert!(
            copied.contains(needed),
            "the build stage does not COPY {needed}"
        );
    }
    assert!(!repo().join("build.rs").exists() || copied.contains("build.rs"));
    for source in &copied {
        assert!(
            kept.contains(source),
            "COPY {source}: .dockerignore keeps it out"
        );
    }

    // What include_str!/include_bytes! pull in must be inside what the build copies.
    let mut included = Vec::new();
    for file in rust_files(&repo().join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for macro_call in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(macro_call) {
                let rest = &text[at + macro_call.len()..];
                let relative = &rest[..rest.find('"').unwrap()];
                included.push((
                    file.clone(),
                    normalise(&file.parent().unwrap().join(relative)),
                ));
            }
        }
    }
    assert!(!included.is_empty(), "config/default.toml is compiled in");
    for (file, target) in included {
        let top = target
            .strip_prefix(repo())
            .ok()
            .and_then(|p| p.iter().next());
        assert!(
            top.is_some_and(|t| copied.contains(&*t.to_string_lossy())),
            "{} includes {}, which the image build does not copy",
            file.display(),
            target.display()
        );
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_yaml_reader_reads_the_compose_subset() {
    let text = [
        "a:",
        "  b: \"x # not a comment\"  # a comment",
        "  c: [\"CMD\", \"y\"]",
        "  d:",
        "    - '1:2'",
        "  e: plain",
        "f:",
    ]
    .join("\n");

    let value = yaml(&text);

    assert_eq!(
        value,
        serde_json::json!({"a": {"b": "x # not a comment", "c": ["CMD", "y"], "d": ["1:2"], "e": "plain"}, "f": null})
    );
}
