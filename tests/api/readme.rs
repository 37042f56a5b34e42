//! The README's source examples are configuration that loads, not prose that drifts.

use genesys_bridge::config::{self, LoadOptions};

use crate::app::write_profile;

const README: &str = include_str!("../../README.md");

/// Every ```toml block between two headings of the README.
fn toml_blocks(from: &str, to: &str) -> Vec<&'static str> {
    let start = README.find(from).expect("section start");
    let end = start + README[start..].find(to).expect("section end");
    README[start..end]
        .split("```toml\n")
        .skip(1)
        .map(|block| block.split("```").next().expect("closed block"))
        .collect()
}

#[test]
fn every_source_example_in_the_readme_loads_and_validates() {
    let blocks = toml_blocks("### Sources: one per integration", "## The CLI");
    assert!(blocks.len() >= 8, "found {} blocks", blocks.len());
    let profile = format!(
        "[simulator]\nenabled = true\n[genesys]\nclient_id = \"x\"\nclient_secret = \"y\"\n{}",
        blocks.join("\n")
    );
    let dir = write_profile(&profile);
    let settings = config::load(&LoadOptions {
        config_dir: dir.clone(),
        profile: "test".to_owned(),
        env: Some(Default::default()),
    })
    .unwrap_or_else(|e| panic!("README examples do not load: {e}"));
    let _ = std::fs::remove_dir_all(dir);
    let mut names: Vec<&str> = settings.sources.iter().map(|s| s.name()).collect();
    names.sort_unstable();
    for expected in [
        "salesforce",
        "hubspot",
        "zendesk",
        "dynamics",
        "orders",
        "billing",
        "repo",
        "shop",
        "chat",
        "inhouse",
        "pipedrive",
        "portal",
        "legacy",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

/// `section.key` → default, as written in config/default.toml (the reference users read).
fn default_toml_keys() -> Vec<(String, String)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in include_str!("../../config/default.toml").lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        if let Some((key, rest)) = line.split_once('=') {
            let default = rest.split(" #").next().unwrap_or("").trim().to_owned();
            keys.push((format!("{section}.{}", key.trim()), default));
        }
    }
    keys
}

#[test]
fn the_readme_configuration_reference_matches_default_toml() {
    let start = README.find("### Reference").expect("the reference section");
    let table: Vec<(String, String)> = README[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| key"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .filter_map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let key = cells
                .first()?
                .trim_start_matches("| ")
                .trim_matches('`')
                .to_owned();
            let default = cells.get(1)?.trim_matches('`').replace("\\|", "|");
            Some((
                key,
                if default == "(empty)" {
                    "\"\"".to_owned()
                } else {
                    default
                },
            ))
        })
        .collect();
    let defaults = default_toml_keys();
    assert!(defaults.len() > 40, "parsed {} keys", defaults.len());
    assert_eq!(
        table, defaults,
        "README's reference and config/default.toml disagree"
    );
}
