//! The console's routes for workflows: the definitions, the runs with
//! their task graphs, and answering a run as chat does. Approve, deny and
//! cancel go through the very calls chat's `approve N`, `deny N` and
//! `workflow cancel N` make ([`crate::workflow::Workflows::decide_as`],
//! `cancel_as`), as the identity `console:NAME`: the configuration's
//! lists (a task's `approvers`, `admins`) decide, one list for chat and
//! console.

use super::accounts::Role;
use super::api::{Act, Console, error};
use super::commands::CONNECTOR;
use crate::event::Outcome;
use crate::workflow::{DefinitionView, RunSummary};
use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// The loaded workflows: file, how each starts, its tasks and edges.
pub(super) async fn workflows(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let workflows = console.bot.workflows().definition_views();
    Json(Definitions { workflows }).into_response()
}

crate::with_schema! {
    /// The loaded workflows.
    #[derive(Serialize)]
    pub(super) struct Definitions {
        workflows: Vec<DefinitionView>,
    }
}

crate::with_schema! {
    /// The last runs.
    #[derive(Serialize)]
    pub(super) struct Runs {
        runs: Vec<RunSummary>,
    }
}

crate::with_schema! {
    /// What answering a run said.
    #[derive(Serialize)]
    pub(super) struct Answered {
        run: u64,
        answer: String,
    }
}

crate::with_schema! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RunsQuery {
        limit: Option<usize>,
    }
}

/// The last runs (`limit`, 50 unless said, at most 500), newest first.
pub(super) async fn runs(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    query: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "filters: limit");
    };
    let limit = query.limit.unwrap_or(50).min(500);
    match console.bot.workflows().run_summaries(limit).await {
        Ok(runs) => Json(Runs { runs }).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

/// One run: its state and each task's, with the edges of its graph.
pub(super) async fn run(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let Some(n) = run_number(&id) else {
        return error(StatusCode::BAD_REQUEST, "a run number, as `3`");
    };
    match console.bot.workflows().run_view(n).await {
        Ok(Some(run)) => Json(run).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no workflow run #{n}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

fn run_number(id: &str) -> Option<u64> {
    id.trim_start_matches("wf-").parse().ok()
}

crate::with_schema! {
    /// Which approval, when a run waits for several.
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Decision {
        task: Option<String>,
    }
}

#[derive(Clone, Copy)]
enum Answer {
    Approve,
    Deny,
    Cancel,
}

pub(super) async fn approve(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer(console, from, id, headers, body, Answer::Approve).await
}

pub(super) async fn deny(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer(console, from, id, headers, body, Answer::Deny).await
}

pub(super) async fn cancel(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer(console, from, id, headers, body, Answer::Cancel).await
}

/// Approves, denies or cancels run `id` as `console:NAME`, as chat does.
async fn answer(
    console: Arc<Console>,
    from: SocketAddr,
    id: String,
    headers: HeaderMap,
    body: axum::body::Bytes,
    answer: Answer,
) -> Response {
    let operator = match console.require(&headers, Role::Operator, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Some(n) = run_number(&id) else {
        return error(StatusCode::BAD_REQUEST, "a run number, as `3`");
    };
    let decision: Decision = if body.iter().all(u8::is_ascii_whitespace) {
        Decision::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(d) => d,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "send {\"task\": …} as JSON, or nothing",
                );
            }
        }
    };
    let name = operator.account.name.clone();
    let workflows = console.bot.workflows();
    let task = decision.task.as_deref();
    let (verb, said) = match answer {
        Answer::Approve => (
            "approve",
            workflows.decide_as(CONNECTOR, &name, n, task, true).await,
        ),
        Answer::Deny => (
            "deny",
            workflows.decide_as(CONNECTOR, &name, n, task, false).await,
        ),
        Answer::Cancel => (
            "workflow cancel",
            workflows.cancel_as(CONNECTOR, &name, &name, n).await,
        ),
    };
    let words = match task {
        Some(t) => format!("{verb} {n} {}", crate::names::shown(t)),
        None => format!("{verb} {n}"),
    };
    let act = Act::new(
        operator.who(),
        format!("workflow {}", verb.trim_start_matches("workflow ")),
        words,
        from,
    );
    match said {
        Ok(text) => {
            console.audit(&act, Ok(()));
            Json(Answered {
                run: n,
                answer: text,
            })
            .into_response()
        }
        Err(why) => {
            console.audit(&act, Err((Outcome::Denied, why.clone())));
            // Refused by the lists (⛔), or nothing of that kind waits.
            let status = if why.starts_with('⛔') {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::CONFLICT
            };
            error(status, why)
        }
    }
}
