//! What is pure about incoming webhooks: the signature schemes ([`signature`]), a configured
//! integration ([`source`]), where a payload's ids are ([`event`]) and the key-translation table
//! ([`mapping`]). Synchronous, and free of HTTP plumbing and of the store, so the intake, the CLI
//! and the tests share it.

pub mod event;
pub mod mapping;
pub(crate) mod pointer;
pub mod signature;
pub mod source;
