#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The black-box tests of the intake, delivery and health on PostgreSQL: the same files as the
//! `api` binary (which runs them on SQLite), each app in a schema of its own in the database
//! `BRIDGE_TEST_DATABASE_URL` names; and two replicas sharing one schema. Without that
//! variable the binary says the tests were skipped, and how to run them, and succeeds.

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
