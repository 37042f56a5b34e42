//! The black-box tests of the intake, delivery and health on PostgreSQL: the same files as the
//! `api` binary (which runs them on SQLite), each app in a schema of its own in the database
//! `BRIDGE_TEST_DATABASE_URL` names; and two replicas sharing one schema. Without that
//! variable the binary says the tests were skipped, and how to run them, and succeeds.

// Clippy's `allow-unwrap-in-tests` and `allow-expect-in-tests` (clippy.toml) cover `#[test]` fns
// and items under `#[cfg(test)]`, not the helpers of an integration test
// (rust-lang/rust-clippy#11119); this marks the whole crate as test code for clippy. Cargo builds
// a test target with the test harness, so with cfg(test) set: it changes nothing else.
#![cfg(test)]

#[path = "../api/app.rs"]
mod app;
#[path = "../api/binaries.rs"]
mod binaries;
#[path = "../api/delivery/mod.rs"]
mod delivery;
#[path = "../api/health.rs"]
mod health;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/ivr/mod.rs"]
mod ivr;
mod ivr_replicas;
mod outage;
mod replicas;
#[path = "../api/smoke.rs"]
mod smoke;
#[path = "../api/store.rs"]
mod store;
#[path = "../api/webhook_errors.rs"]
mod webhook_errors;
#[path = "../api/webhook_mapping/mod.rs"]
mod webhook_mapping;
#[path = "../api/webhook_schemes/mod.rs"]
mod webhook_schemes;

/// The store every app of this binary runs on.
const BACKEND: store::Backend = store::Backend::Postgres;
