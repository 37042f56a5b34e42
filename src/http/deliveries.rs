//! The ops API: inspect deliveries, list them, replay dead letters. Behind the admin token.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde_json::json;

use super::credentials::Admin;
use super::problem::Problem;
use super::views::DeliveryView;
use crate::queue::job::to_ms;
use crate::queue::{DeliveryId, Filter, Job, Replay, Status};
use crate::state::AppState;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

pub(super) async fn get_one(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryView>, Problem> {
    let job = existing(&state, &id).await?;
    Ok(Json(DeliveryView::of(&job, state.admin.show_values)))
}

pub(super) async fn list(
    _: Admin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let params = Params::parse(query.as_deref())?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    let jobs = state
        .queue
        .list(&params.filter, limit, params.cursor)
        .await?;
    let next_cursor = (jobs.len() == limit as usize)
        .then(|| jobs.last().map(|j| j.id))
        .flatten();
    let items: Vec<DeliveryView> = jobs
        .iter()
        .map(|j| DeliveryView::of(j, state.admin.show_values))
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor })))
}

pub(super) async fn replay_one(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let job = existing(&state, &id).await?;
    let id = job.id;
    if job.status != Status::Dead {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "not-replayable",
            "Not a dead letter",
            format!(
                "delivery {id} is {}; only dead letters are replayed",
                job.status.as_str()
            ),
        ));
    }
    let replayed = state.queue.replay(Replay::One(id)).await?;
    tracing::info!(delivery_id = %id, "dead letter replayed");
    Ok(Json(json!({ "replayed": replayed, "delivery_id": id })))
}

/// `POST /deliveries/replay?source=NAME&limit=N`: every dead letter (of that source), or the
/// oldest N.
pub(super) async fn replay_many(
    _: Admin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let params = Params::parse(query.as_deref())?;
    if params.filter.status.is_some_and(|s| s != Status::Dead) {
        return Err(bad_param(
            "status",
            "only dead letters are replayed: leave status out or say status=dead",
        ));
    }
    if params.cursor.is_some() {
        return Err(bad_param(
            "cursor",
            "a replay is not paged: limit=N replays the oldest N dead letters, and the next call the next N",
        ));
    }
    let source = params.filter.source;
    let replayed = state
        .queue
        .replay(Replay::Dead {
            source: source.clone(),
            limit: params.limit,
        })
        .await?;
    tracing::info!(
        replayed,
        source = source.as_deref(),
        limit = params.limit,
        at = to_ms(SystemTime::now()),
        "dead letters replayed in bulk"
    );
    Ok(Json(json!({ "replayed": replayed })))
}

#[derive(Debug, Default)]
struct Params {
    filter: Filter,
    limit: Option<u32>,
    cursor: Option<DeliveryId>,
}

impl Params {
    /// Reads `query` as a form (`%20` and `+` are spaces).
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let mut params = Params::default();
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.as_ref();
            match name.as_ref() {
                "status" => {
                    params.filter.status = Some(Status::parse(value).ok_or_else(|| {
                        bad_param(
                            "status",
                            "status is one of pending, in_flight, delivered, dead",
                        )
                    })?);
                }
                "source" => params.filter.source = Some(value.to_owned()),
                "limit" => {
                    let limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n));
                    params.limit = Some(limit.ok_or_else(|| {
                        bad_param("limit", &format!("limit is a number from 1 to {MAX_LIMIT}"))
                    })?);
                }
                "cursor" => {
                    params.cursor = Some(DeliveryId::parse(value).ok_or_else(|| {
                        bad_param("cursor", "cursor is a delivery id from next_cursor")
                    })?);
                }
                other => {
                    return Err(bad_param(
                        other,
                        "known parameters: status, source, limit, cursor",
                    ));
                }
            }
        }
        Ok(params)
    }
}

fn bad_param(name: &str, detail: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-parameter",
        "Invalid query parameter",
        detail.to_owned(),
    )
    .with("parameter", name)
}

/// The stored delivery `text` names, or the problem that says why there is none.
async fn existing(state: &AppState, text: &str) -> Result<Job, Problem> {
    let id = parse_id(text)?;
    state.queue.get(id).await?.ok_or_else(|| not_found(id))
}

fn parse_id(text: &str) -> Result<DeliveryId, Problem> {
    DeliveryId::parse(text).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "delivery-not-found",
            "No such delivery",
            format!("{text:?} is not a delivery id"),
        )
    })
}

fn not_found(id: DeliveryId) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "delivery-not-found",
        "No such delivery",
        format!(
            "no delivery {id} (finished deliveries are forgotten after queue.idempotency_window)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_parameter(query: &str) -> String {
        let problem = Params::parse(Some(query)).expect_err(query);
        let body = serde_json::to_value(&problem).expect("problem as json");
        body["parameter"].as_str().unwrap_or_default().to_owned()
    }

    #[test]
    fn query_values_are_read_as_a_form() {
        let params =
            Params::parse(Some("status=in%5Fflight&source=my+crm%2Fus&limit=%32")).unwrap();
        assert_eq!(params.filter.status, Some(Status::InFlight));
        assert_eq!(params.filter.source.as_deref(), Some("my crm/us"));
        assert_eq!(params.limit, Some(2));
        let none = Params::parse(None).unwrap();
        assert!(none.filter.status.is_none() && none.limit.is_none() && none.cursor.is_none());
    }

    #[test]
    fn a_bad_parameter_is_named() {
        assert_eq!(problem_parameter("status=done"), "status");
        assert_eq!(problem_parameter("limit=0"), "limit");
        assert_eq!(problem_parameter("limit=501"), "limit");
        assert_eq!(problem_parameter("cursor=nope"), "cursor");
        assert_eq!(problem_parameter("sauce=crm"), "sauce");
        assert_eq!(problem_parameter("st%61tus=done"), "status");
    }
}
