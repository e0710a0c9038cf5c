//! The execution history over HTTP, for dashboards and scripts:
//! `GET /api/executions?skill=&user=&outcome=&since=&until=&text=&limit=`
//! (newest first, JSON; `parent=` for a workflow run's tasks) and
//! `GET /api/executions/<id>` (with a workflow run's task records under
//! `children`). Every request must carry `Authorization: Bearer
//! <history.token>`; without a configured token the routes are not mounted
//! at all. The console serves the same searches under `/api/v1` to its
//! operators ([`search`], [`one_with_children`]).

use super::bearer::Bearer;
use crate::event::Outcome;
use crate::history::{Filter, History};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::Arc;

/// The most records one request returns.
const MAX_LIMIT: usize = 1000;

struct Api {
    history: Arc<History>,
    bearer: Bearer,
}

pub fn routes(history: Arc<History>, token: String) -> Router {
    Router::new()
        .route("/api/executions", get(list))
        .route("/api/executions/{id}", get(one))
        .with_state(Arc::new(Api {
            history,
            bearer: Bearer::new(token, "history.token"),
        }))
}

crate::with_schema! {
    /// A search of the history, as a query string gives it.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Params {
        skill: Option<String>,
        user: Option<String>,
        connector: Option<String>,
        outcome: Option<String>,
        /// Milliseconds since the Unix epoch.
        since: Option<u64>,
        /// Started before this (milliseconds since the Unix epoch).
        until: Option<u64>,
        /// Words the message's text holds (case-insensitive).
        text: Option<String>,
        /// Only the tasks of this workflow run.
        parent: Option<String>,
        limit: Option<usize>,
    }
}

async fn list(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    if !api.bearer.admits(&headers) {
        return api.bearer.refuse();
    }
    search(api.history.clone(), params).await
}

/// The records `params` asks for, newest first, as JSON. `until` and
/// `text` are applied to the newest [`MAX_LIMIT`] records the other
/// fields select.
pub async fn search(history: Arc<History>, params: Params) -> Response {
    let outcome = match params.outcome.as_deref().map(parse_outcome) {
        Some(None) => {
            let all: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
            let why = format!("outcome: one of {}\n", all.join(", "));
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
        Some(Some(o)) => Some(o),
        None => None,
    };
    let limit = params.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let narrowed = params.until.is_some() || params.text.is_some();
    let filter = Filter {
        skill: params.skill,
        user: params.user,
        connector: params.connector,
        outcome,
        since: params.since,
        parent: params.parent,
        limit: if narrowed { MAX_LIMIT } else { limit },
    };
    let words = params.text.map(|t| t.to_lowercase());
    let until = params.until;
    let found = tokio::task::spawn_blocking(move || history.find(&filter)).await;
    match found {
        Ok(Ok(mut records)) => {
            records.retain(|r| {
                until.is_none_or(|u| r.started_at < u)
                    && words.as_deref().is_none_or(|w| {
                        r.text
                            .as_deref()
                            .is_some_and(|t| t.to_lowercase().contains(w))
                    })
            });
            records.truncate(limit);
            axum::Json(records).into_response()
        }
        Ok(Err(e)) => server_error(e),
        Err(e) => server_error(anyhow::anyhow!("{e}")),
    }
}

async fn one(State(api): State<Arc<Api>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !api.bearer.admits(&headers) {
        return api.bearer.refuse();
    }
    one_with_children(api.history.clone(), id).await
}

/// One record as JSON, with a workflow run's tasks under `children`.
pub async fn one_with_children(history: Arc<History>, id: String) -> Response {
    match tokio::task::spawn_blocking(move || with_children(&history, &id)).await {
        Ok(Ok(Some(record))) => axum::Json(record).into_response(),
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such execution\n").into_response(),
        Ok(Err(e)) => server_error(e),
        Err(e) => server_error(anyhow::anyhow!("{e}")),
    }
}

/// One record and, for a workflow run, its tasks' records (oldest first)
/// under `children`: the tree the run made.
fn with_children(history: &History, id: &str) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(record) = history.get(id)? else {
        return Ok(None);
    };
    let mut value = serde_json::to_value(&record)?;
    let mut children = history.find(&Filter {
        parent: Some(id.to_owned()),
        limit: MAX_LIMIT,
        ..Filter::default()
    })?;
    if !children.is_empty() {
        children.reverse();
        value["children"] = serde_json::to_value(children)?;
    }
    Ok(Some(value))
}

fn server_error(e: anyhow::Error) -> Response {
    tracing::error!("reading the history: {e:#}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "could not read the history\n",
    )
        .into_response()
}

pub fn parse_outcome(text: &str) -> Option<Outcome> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}
