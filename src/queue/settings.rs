//! Where the jobs are kept, and for how long: the store's settings, validated by `config`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

#[derive(Clone, Debug)]
pub struct QueueSettings {
    /// Where jobs are kept: the embedded SQLite file or a shared PostgreSQL database.
    pub store: StoreSettings,
    /// A duplicate event inside this window is answered with the original delivery.
    pub idempotency_window: Duration,
    /// How long dead letters are kept.
    pub dead_retention: Duration,
}

/// Which store holds the jobs.
#[derive(Clone, Debug)]
pub enum StoreSettings {
    /// One file under `data_dir`: one process at a time.
    Sqlite { data_dir: PathBuf },
    /// A database any number of replicas share.
    Postgres(PostgresSettings),
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings::Sqlite {
            data_dir: PathBuf::from("data"),
        }
    }
}

impl StoreSettings {
    /// Where the jobs are, for logs and `check-config`; never the password.
    pub fn describe(&self) -> String {
        match self {
            StoreSettings::Sqlite { data_dir } => {
                format!("sqlite {}", data_dir.join("bridge.db").display())
            }
            StoreSettings::Postgres(pg) => format!("postgres {}", pg.redacted_url()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PostgresSettings {
    /// May hold the password: kept secret, shown only through [`PostgresSettings::redacted_url`].
    pub url: SecretString,
    /// Overrides the URL's password (`store.password` or `store.password_file`).
    pub password: Option<SecretString>,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl PostgresSettings {
    /// The URL without its password.
    pub fn redacted_url(&self) -> String {
        let url = self.url.expose_secret();
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &url[scheme + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
            }
            _ => url.to_owned(),
        }
    }
}
