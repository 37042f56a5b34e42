//! Incoming webhooks: what is pure about them (signature schemes), shared by the server, the CLI
//! and the tests.
pub mod signature;
