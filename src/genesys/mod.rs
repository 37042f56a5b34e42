//! The Genesys Cloud Platform API client (`genesys-api.md` is the contract).
//!
//! Three concerns kept apart: the HTTP client and its operations ([`client`]), the OAuth token
//! cache ([`token`]), and when to try again ([`retry`]) — plus the rate budget that keeps the
//! process under Genesys' per-token limit ([`rate_limit`]). Ids and the addresses a CRM may name a
//! call by (the caller's number, a CRM key) are plain types beside them ([`ids`], [`address`]).

pub mod address;
pub mod client;
pub mod error;
pub mod ids;
pub mod models;
pub mod participant;
pub mod rate_limit;
pub mod region;
mod response;
pub mod retry;
mod token;

pub use address::{CallAddress, CountryCode, InvalidPhone, PhoneNumber, Several};
pub use client::{BuildError, ClientSettings, GenesysClient};
pub use error::{ApiFailure, GenesysError, Operation};
pub use ids::{ConversationId, InvalidId, ParticipantId};
pub use participant::Target;
pub use rate_limit::{BudgetPermit, RateBudgetSettings};
pub use region::{Endpoints, Region, UnknownRegion};
pub use retry::RetryPolicy;
pub use token::TokenStatus;
