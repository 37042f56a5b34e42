//! `genesys-bridge data-actions`: the two custom Data Actions for the Architect flow, in the
//! Admin UI's *Import* format — printed, or written one file each for the *Import* button.

use std::path::Path;

use crate::config::Settings;
use crate::ivr::actions::{self, DataAction, Kit, KitError, KitOptions};

/// What to print or write.
#[derive(Debug)]
pub struct Request<'a> {
    pub base_url: &'a str,
    pub source: Option<&'a str>,
    /// Only this action (`register-call` or `get-crm-data`): one importable object.
    pub action: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum DataActionsError {
    #[error(transparent)]
    Kit(#[from] KitError),
    #[error("no action is named {0:?}: register-call or get-crm-data")]
    UnknownAction(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

pub fn kit(settings: &Settings, request: &Request<'_>) -> Result<Kit, DataActionsError> {
    let mut kit = actions::build(
        &settings.sources,
        settings.ivr.credential.as_ref(),
        settings.ivr.max_wait,
        &KitOptions {
            base_url: request.base_url,
            source: request.source,
        },
    )?;
    if let Some(name) = request.action {
        kit.actions
            .retain(|a| a.file_name.strip_suffix(".json") == Some(name));
        if kit.actions.is_empty() {
            return Err(DataActionsError::UnknownAction(name.to_owned()));
        }
    }
    Ok(kit)
}

/// One action: the object itself; both: a JSON array (each element imports on its own).
pub fn render(actions: &[DataAction]) -> String {
    let value = match actions {
        [one] => one.definition.clone(),
        all => all.iter().map(|a| a.definition.clone()).collect(),
    };
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `register-call.json` and `get-crm-data.json` into `dir`; returns the paths written.
pub fn write(actions: &[DataAction], dir: &Path) -> Result<Vec<String>, DataActionsError> {
    let fail = |path: &Path, source| DataActionsError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let mut written = Vec::new();
    for action in actions {
        let path = dir.join(action.file_name);
        std::fs::write(&path, render(std::slice::from_ref(action))).map_err(|e| fail(&path, e))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}
