//! Incoming webhooks: signature schemes, the configured sources, id extraction, the
//! key-translation table, replay protection, and the intake pipeline that ties them together.
//! Everything here is synchronous and free of HTTP plumbing, so the server, the CLI and the tests
//! share it.

pub mod event;
pub mod intake;
pub mod mapping;
pub mod plan;
pub(crate) mod pointer;
pub mod replay;
pub mod signature;
pub mod source;
