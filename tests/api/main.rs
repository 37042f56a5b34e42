#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Black-box tests: one binary, one file per behaviour, on the embedded SQLite store. The
//! `api_postgres` binary runs the intake, delivery and health files again on PostgreSQL.

mod app;
mod binaries;
mod cli;
mod delivery;
mod genesys_client;
mod health;
mod helpers;
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
