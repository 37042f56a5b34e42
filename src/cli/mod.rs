//! What the CLI commands do, as library functions returning text; `main.rs` only dispatches.

pub mod check_config;
pub mod data_actions;
pub mod healthcheck;
pub mod migrate;
pub mod sign;
