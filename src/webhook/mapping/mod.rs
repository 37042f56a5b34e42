//! The per-source key-translation table: CRM fields (JSON) → Genesys participant attributes.
//!
//! Participant attributes are a string → string map (`genesys-api.md` §3), while CRM payloads
//! carry numbers, booleans, nulls and nested objects. The table says which field becomes which
//! attribute key and how its value becomes a string, and holds each webhook to size budgets
//! before anything is queued.
//!
//! ```toml
//! [sources.salesforce.mapping]
//! fields = "/fields"      # where the CRM fields are in the body; "" = the whole body
//! unmapped = "drop"       # fields no rule names: "drop" | "pass" | "reject"
//!
//! [sources.salesforce.mapping.keys]
//! AccountId = "crmAccountId"                 # a top-level field
//! "/Owner/Name" = "crmOwner"                 # a JSON pointer into the fields object
//! Notes = { key = "crmNotes", json = true }  # objects and arrays sent as JSON text
//! ```
//!
//! A top-level field whose name starts with `/` is written as a pointer: `"/~1Weird"` reads the
//! field `/Weird`.
//!
//! Pure and synchronous: [`MappingTable::new`] runs once at startup and reports every mistake in
//! the table; [`MappingTable::apply`] runs per webhook and either yields the whole map or every
//! field that prevents it.

mod apply;
mod config;
mod key;
mod output;
mod table;

#[cfg(test)]
mod tests;

pub use config::{KeyRule, Limits, MappingConfig, Unmapped};
pub use output::{FieldError, Mapped, MappingErrors};
pub use table::MappingTable;
