//! A fresh PostgreSQL database for each run: created through the admin URL, handed to the
//! replicas, dropped afterwards (kept under `BENCH_KEEP`).

use anyhow::Context;
use reqwest::Url;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

#[derive(Debug)]
pub struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    /// `admin_url` names a database the user may connect to (`postgres`) and holds the rights to
    /// create databases; the new one gets a unique name and the same host, user and parameters.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]t[hour][minute][second]"
            ))
            .context("timestamp")?;
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("genesys_bridge_bench_{stamp}_{}", &suffix[..8]);
        let mut url = Url::parse(admin_url)
            .with_context(|| format!("--database-url {} is not a URL", redacted(admin_url)))?;
        url.set_path(&format!("/{name}"));
        let database = Self {
            admin_url: admin_url.to_owned(),
            name,
            url: url.into(),
        };
        database
            .admin(&format!("CREATE DATABASE \"{}\"", database.name))
            .await?;
        Ok(database)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL the replicas use (it may hold the admin URL's password: never print it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, or keeps it when `keep`. Run after the replicas are stopped; `FORCE`
    /// ends any session one left behind.
    pub async fn finish(self, keep: bool) -> anyhow::Result<()> {
        if keep {
            return Ok(());
        }
        self.admin(&format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name))
            .await
    }

    async fn admin(&self, statement: &str) -> anyhow::Result<()> {
        let place = redacted(&self.admin_url);
        let mut conn = PgConnection::connect(&self.admin_url)
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {place}"))?;
        sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
            .execute(&mut conn)
            .await
            .with_context(|| format!("{statement} (at {place})"))?;
        conn.close().await?;
        Ok(())
    }
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("redacted"));
            }
            parsed.into()
        }
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_hides_the_password_only() {
        assert_eq!(
            redacted("postgres://bench:s3cret@db:5432/postgres?sslmode=disable"),
            "postgres://bench:redacted@db:5432/postgres?sslmode=disable"
        );
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
}
