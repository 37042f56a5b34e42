#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Black-box tests: one binary, one file per behaviour.

mod app;
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
mod webhook_errors;
mod webhook_mapping;
mod webhook_schemes;
