//! The files against the binaries: every command and flag they use is accepted, and every
//! variable they set is a setting `config/default.toml` documents or one a binary reads.

use super::*;

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
