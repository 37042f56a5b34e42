//! The container packaging, checked without a Docker engine: the `Dockerfile` and
//! `docker-compose.yml` are read, and every command, flag, environment variable and health probe
//! they use is tried on the real binaries. (`.ci/checks/packaging.sh` lints both files; whether
//! the image builds is not checked anywhere on a machine without Docker.)
//!
//! `dockerfile.rs` and `compose.rs` read the two files; the other files check one behaviour each.
//! This file holds what they share: running the binaries the files name, and the environment a
//! service of the compose file runs with.

/// The build context: what the image build copies in.
mod build_context;
/// The files' commands, flags and variables against the binaries.
mod commands;
/// `docker-compose.yml`, parsed with `serde_yaml_ng`.
mod compose;
/// The image alone and the local demo's services.
mod demo;
/// The `Dockerfile`, read as its instructions.
mod dockerfile;
/// The `healthcheck` command the probes run.
mod healthcheck;
/// The `replicas` profile: PostgreSQL and the bridges sharing it.
mod replicas;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::app::spawn_app;
use crate::binaries::{BRIDGE, Finished, SIM, isolated};
use crate::helpers::{sim_config, spawn_sim};
use compose::*;
use dockerfile::*;

const DEADLINE: Duration = Duration::from_secs(20);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
}

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
