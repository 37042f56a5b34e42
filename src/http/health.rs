//! `GET /health/live` (the process answers) and `GET /health/ready` (it can do its job: each check
//! named, with its status).

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::state::AppState;

/// A token request made by a readiness probe gives up after this long: probes have deadlines.
const TOKEN_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
pub(super) struct Readiness {
    pub status: &'static str,
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
pub(super) struct Check {
    pub name: &'static str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<Option<String>>) -> Self {
        Self {
            name,
            status: "ok",
            detail: detail.into(),
        }
    }

    fn failing(name: &'static str, detail: String) -> Self {
        Self {
            name,
            status: "failing",
            detail: Some(detail),
        }
    }
}

pub(super) async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "live" }))
}

pub(super) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let mut checks = vec![Check::ok("config", format!("profile {}", state.profile))];
    checks.push(if state.shutdown.is_cancelled() {
        Check::failing("accepting", "shutting down".to_owned())
    } else {
        Check::ok("accepting", None)
    });
    checks.push(
        match tokio::time::timeout(TOKEN_PROBE_TIMEOUT, state.queue.check_writable()).await {
            Ok(Ok(())) => Check::ok("store", format!("{} writable", state.queue.backend())),
            Ok(Err(err)) => Check::failing("store", err.to_string()),
            Err(_) => Check::failing("store", "no answer from the store within 2s".to_owned()),
        },
    );
    checks.push(genesys_token(&state).await);
    let ready = checks.iter().all(|c| c.status == "ok");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status_word = if ready { "ready" } else { "not_ready" };
    (
        status,
        Json(Readiness {
            status: status_word,
            checks,
        }),
    )
}

/// A token that is still valid counts; otherwise ask for one (bounded), so a probe never reports
/// ready with credentials Genesys refuses.
async fn genesys_token(state: &AppState) -> Check {
    let status = state.genesys.token_status();
    if let Some(expires_at) = status.expires_at
        && expires_at > SystemTime::now()
    {
        return Check::ok("genesys_token", "token held".to_owned());
    }
    match tokio::time::timeout(TOKEN_PROBE_TIMEOUT, state.genesys.ensure_token()).await {
        Ok(Ok(())) => Check::ok("genesys_token", "token obtained".to_owned()),
        Ok(Err(err)) => Check::failing("genesys_token", err.to_string()),
        Err(_) => Check::failing(
            "genesys_token",
            format!(
                "no answer from the token endpoint within {}s",
                TOKEN_PROBE_TIMEOUT.as_secs()
            ),
        ),
    }
}
