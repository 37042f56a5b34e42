//! The HTTP surface: one router, one file per resource.

pub mod health;

use axum::Router;
use axum::routing::get;

use crate::startup::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .with_state(state)
}
