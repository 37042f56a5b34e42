//! genesys-bridge: signed CRM webhooks in, Genesys Cloud participant data out.
//!
//! How the pieces fit:
//! - [`config`] turns layered input into validated [`config::Settings`];
//! - [`startup`] is the composition root: it builds the [`genesys::GenesysClient`] (the one
//!   outbound client: token cache, rate budget, retry policy), starts the in-process
//!   [`simulator`] when the profile asks for it, and serves the [`http`] router;
//! - [`webhook`] holds what is pure about incoming webhooks (signature schemes);
//! - [`simulator`] is a stateful fake of Genesys Cloud for tests, the demo and benchmarks.

pub mod bench;
pub mod cli;
pub mod config;
pub mod genesys;
pub mod http;
pub mod queue;
pub mod simulator;
pub mod startup;
pub mod telemetry;
pub mod webhook;
