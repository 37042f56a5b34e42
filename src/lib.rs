//! genesys-bridge: signed CRM webhooks in, Genesys Cloud participant data out.
//!
//! The crate, in the order a webhook meets it:
//!
//! - [`http`]: the router — one file per resource, problem+json for every error — over the
//!   [`state::AppState`] every handler reads;
//! - [`intake`]: the use case "accept a webhook": verify, parse, map, dry run, replay guard,
//!   enqueue, `Prefer: wait`, returning a typed outcome;
//! - [`ivr`]: the IVR's half of the handshake: the flow registers the call (so a CRM that
//!   knows only the caller's number reaches it) and pulls what the CRM sent;
//! - [`webhook`]: what is pure about webhooks: signature schemes, sources, where the ids are,
//!   the key-translation table;
//! - [`queue`]: the durable job store — one contract, an embedded SQLite backend and a
//!   PostgreSQL one for replicas — with the reads and replays operators use;
//! - [`delivery`]: the workers that lease due jobs through the store's narrow handle and write
//!   them to Genesys, with the retry decision and the shared 429 hold;
//! - [`genesys`]: the one outbound client: token cache, rate budget, retry policy, API models;
//! - [`simulator`]: a stateful fake of Genesys Cloud for tests, the demo and the benchmark.
//!
//! Around them: [`config`] turns layered input into validated [`config::Settings`];
//! [`startup`] is the composition root that builds the state, serves the router and runs
//! delivery; [`cli`] holds the subcommands `main` dispatches to; [`telemetry`] sets up logs and
//! metrics. The benchmark is a binary of its own (`src/bin/bench/`), not part of the library.

pub mod cli;
pub mod config;
pub mod delivery;
pub mod genesys;
pub mod http;
pub mod intake;
pub mod ivr;
pub mod queue;
pub mod simulator;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod webhook;
