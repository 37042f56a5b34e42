#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Black-box tests: one binary, one file per behaviour.

mod genesys_client;
mod helpers;
