//! The real `genesys-bridge` binary: `check-config`, `sign`, and `sign` → `serve` end to end,
//! one file each; this file holds the demo's secret and the config directories they run with.
//!
//! Every child runs with a cleared environment (no `BRIDGE_*`, no `RUST_LOG` from the developer's
//! shell), an explicit `--config-dir` and `--env`, and a deadline (see `crate::binaries`); a
//! server child is killed on every path out of its test.

mod check_config;
mod serve;
mod sign;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::binaries::{Finished, bridge, run};

/// The public development secret of the local demo (`config/local.toml`).
const DEMO_SECRET: &str = "whsec_Z2VuZXN5cy1icmlkZ2UtbG9jYWwtZGVtby1zZWNyZXQ=";
const QUICK: Duration = Duration::from_secs(20);

fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// A throw-away config directory, removed when dropped.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn with(files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("genesys-bridge-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
