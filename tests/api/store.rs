//! The store a test's bridge keeps its jobs in. The crate root says which backend
//! (`crate::BACKEND`): the `api` suite runs on the embedded SQLite file, the `api_postgres` suite
//! runs the same tests on PostgreSQL, each app in a schema of its own inside the database that
//! `BRIDGE_TEST_DATABASE_URL` names.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use genesys_bridge::queue::{DeliveryId, Job, PostgresSettings, Store, StoreSettings};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

/// The database the PostgreSQL suite creates its schemas in.
pub const DATABASE_URL_VAR: &str = "BRIDGE_TEST_DATABASE_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where one app keeps its jobs; every process started with the same `TestStore` (a restart,
/// a second replica) shares them.
#[derive(Clone, Debug)]
pub struct TestStore {
    env: Vec<(String, String)>,
    settings: StoreSettings,
}

impl TestStore {
    /// A new, empty store for the app whose files live in `dir`: the SQLite file in `dir/data`,
    /// or a fresh PostgreSQL schema (the data directory is still `dir/data`, so nothing lands
    /// in the working directory whatever the backend writes there).
    pub async fn create(dir: &Path) -> Self {
        let data_dir = dir.join("data");
        let mut env = vec![(
            "BRIDGE__QUEUE__DATA_DIR".to_owned(),
            data_dir.to_string_lossy().into_owned(),
        )];
        let mut settings = StoreSettings::Sqlite { data_dir };
        if crate::BACKEND == Backend::Postgres {
            let url = with_schema(&database_url(), &create_schema(&database_url()).await);
            env.push(("BRIDGE__STORE__BACKEND".to_owned(), "postgres".to_owned()));
            env.push(("BRIDGE__STORE__URL".to_owned(), url.clone()));
            settings = StoreSettings::Postgres(PostgresSettings {
                url: url.into(),
                password: None,
                max_connections: 2,
                connect_timeout: Duration::from_secs(5),
            });
        }
        Self { env, settings }
    }

    /// The `BRIDGE__…` variables that point the bridge at this store.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Delivery `id` as the store holds it, read without a bridge (one that stopped, say).
    pub async fn job(&self, id: &str) -> Option<Job> {
        let store = Store::open(&self.settings, "test")
            .await
            .expect("the store opens");
        let id = DeliveryId::parse(id).expect("a delivery id");
        store.get(id).await.expect("the store answers")
    }
}

/// How long a bridge process may take to report ready (its store connected and migrated).
pub const READY_WITHIN: Duration = Duration::from_secs(10);

/// `BRIDGE_TEST_DATABASE_URL`. Without it the PostgreSQL suite cannot run: the first test to
/// need it says so on the terminal (libtest hides what tests print, not what they write to the
/// process's stdout) and ends the test binary with success, so `cargo test` goes on to the next
/// one. Every other test waits for the exit.
pub fn database_url() -> String {
    if let Some(url) = std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return url;
    }
    static SKIP: std::sync::Once = std::sync::Once::new();
    SKIP.call_once(|| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "\nSKIPPED: the PostgreSQL tests (the store's own, intake, delivery, health and two \
             replicas on one database) did not run: {DATABASE_URL_VAR} is not set.\n\
             To run them in a database they may fill with schemas: \
             createdb -h 127.0.0.1 -U postgres bridge_test && \
             {DATABASE_URL_VAR}=postgres://postgres@127.0.0.1:5432/bridge_test \
             cargo test --locked (bash .ci/run makes a database per run).\n"
        );
        let _ = out.flush();
        std::process::exit(0);
    });
    unreachable!("the process exits once the notice is written")
}

/// A new schema `bridge_test_<uuid>` in the database at `url`.
pub async fn create_schema(url: &str) -> String {
    let schema = format!("bridge_test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {DATABASE_URL_VAR}: {e}"));
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
    let _ = connection.close().await;
    schema
}

/// `url` with its connections' `search_path` set to `schema`.
pub fn with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options[search_path]={schema}")
}
