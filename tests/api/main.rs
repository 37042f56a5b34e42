//! Black-box tests: one binary, one file per behaviour, on the embedded SQLite store. The
//! `api_postgres` binary runs the intake, delivery and health files again on PostgreSQL.

// Clippy's `allow-unwrap-in-tests` and `allow-expect-in-tests` (clippy.toml) cover `#[test]` fns
// and items under `#[cfg(test)]`, not the helpers of an integration test
// (rust-lang/rust-clippy#11119); this marks the whole crate as test code for clippy. Cargo builds
// a test target with the test harness, so with cfg(test) set: it changes nothing else.
#![cfg(test)]

mod app;
mod binaries;
mod cli;
mod delivery;
mod genesys_client;
mod health;
mod helpers;
mod ivr;
mod metrics;
mod openapi;
mod packaging;
mod readme;
mod smoke;
mod store;
mod webhook_errors;
mod webhook_mapping;
mod webhook_schemes;

/// The store every app of this binary runs on.
const BACKEND: store::Backend = store::Backend::Sqlite;
