//! `migrate`: bring the configured store's schema up to date and exit — for deployments that
//! migrate before rolling out replicas (the bridge also migrates at startup).

use crate::queue::{Store, StoreError, StoreSettings};

/// Applies pending migrations; returns the report to print.
pub async fn run(store: &StoreSettings, throttle_scope: &str) -> Result<String, StoreError> {
    let opened = Store::open(store, throttle_scope).await?;
    let applied = opened.migrate().await?;
    let versions: Vec<String> = applied.iter().map(i64::to_string).collect();
    Ok(if applied.is_empty() {
        format!(
            "{}: schema up to date, nothing to apply\n",
            store.describe()
        )
    } else {
        format!(
            "{}: applied migration(s) {}\n",
            store.describe(),
            versions.join(", ")
        )
    })
}
