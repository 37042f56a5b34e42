//! `[store]`: where accepted jobs are kept — the embedded SQLite file, or a PostgreSQL database
//! that several replicas share.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Problems;
use crate::queue::{PostgresSettings, StoreSettings};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    backend: String,
    url: SecretString,
    password: SecretString,
    password_file: String,
    max_connections: u32,
    connect_timeout: String,
}

/// `embedded` is the SQLite store `[queue]` describes, kept unless PostgreSQL is chosen.
pub(super) fn store(
    raw: RawStore,
    embedded: StoreSettings,
    problems: &mut Problems,
) -> StoreSettings {
    match raw.backend.trim() {
        "sqlite" => embedded,
        "postgres" => StoreSettings::Postgres(postgres(raw, problems)),
        other => {
            problems.add(
                "store.backend",
                format!("{other:?} is not \"sqlite\" or \"postgres\""),
            );
            embedded
        }
    }
}

fn postgres(raw: RawStore, problems: &mut Problems) -> PostgresSettings {
    let url = raw.url.expose_secret().trim();
    if url.is_empty() {
        problems.add(
            "store.url",
            "is required with backend = \"postgres\" (postgres://user@host:5432/database)",
        );
    } else if let Err(err) = url.parse::<sqlx::postgres::PgConnectOptions>() {
        // sqlx's message can quote the URL; never echo a password back.
        let _ = err;
        problems.add(
            "store.url",
            "is not a PostgreSQL connection URL (postgres://user[:password]@host[:port]/database[?param=value])",
        );
    }
    let password_set = !raw.password.expose_secret().is_empty();
    let password = if password_set || !raw.password_file.trim().is_empty() {
        Some(super::secret(
            problems,
            "store.password",
            raw.password,
            &raw.password_file,
        ))
    } else {
        None
    };
    if raw.max_connections < 2 {
        problems.add(
            "store.max_connections",
            "must be at least 2: the writer holds one while reads use another",
        );
    }
    let connect_timeout = problems.duration("store.connect_timeout", &raw.connect_timeout);
    PostgresSettings {
        url: SecretString::from(url.to_owned()),
        password,
        max_connections: raw.max_connections.max(2),
        connect_timeout: if connect_timeout.is_zero() {
            Duration::from_secs(5)
        } else {
            connect_timeout
        },
    }
}
