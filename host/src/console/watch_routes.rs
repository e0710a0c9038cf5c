//! The console's routes for watching the bot: the executions (the
//! history, with filters), the connectors and hosts, and the bot's own log,
//! kept and followed.

use super::accounts::Role;
use super::api::{Console, error};
use crate::web::api::{Params, one_with_children, search};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The executions, newest first, with `/api/executions`' filters (skill,
/// user, connector, outcome, since, until, text, parent, limit).
pub(super) async fn executions(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let Some(history) = &console.history else {
        return error(
            StatusCode::NOT_FOUND,
            "the history is off (history.enabled)",
        );
    };
    match params {
        Ok(Query(params)) => search(history.clone(), params).await,
        Err(e) => error(StatusCode::BAD_REQUEST, e.body_text()),
    }
}

/// One execution, with a workflow run's tasks under `children`.
pub(super) async fn execution(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let Some(history) = &console.history else {
        return error(
            StatusCode::NOT_FOUND,
            "the history is off (history.enabled)",
        );
    };
    one_with_children(history.clone(), id).await
}

/// Each connector and its state (`connected`, or why not), and on several
/// hosts each host: its roles, leases and load.
pub(super) async fn connectors(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let connectors: Vec<_> = console
        .connectors
        .iter()
        .map(|(name, kind, state)| json!({ "name": name, "type": kind, "state": state.get() }))
        .collect();
    let cluster = match &console.cluster {
        Some(hosts) => hosts.status_json().await,
        None => serde_json::Value::Null,
    };
    Json(json!({ "connectors": connectors, "cluster": cluster })).into_response()
}

crate::with_schema! {
    /// Which log lines a reader wants: by skill, by execution id, or all.
    #[derive(Deserialize, Default, Clone)]
    #[serde(deny_unknown_fields)]
    pub(super) struct LogFilter {
        skill: Option<String>,
        execution: Option<String>,
        limit: Option<usize>,
    }
}

impl LogFilter {
    /// Lines are JSON with their spans' fields: a skill is found by its
    /// `"skill":"NAME"` field, an execution by its id anywhere in the line.
    fn keeps(&self, line: &str) -> bool {
        self.skill.as_deref().is_none_or(|skill| {
            line.contains(&format!("\"skill\":{}", serde_json::Value::from(skill)))
        }) && self.execution.as_deref().is_none_or(|id| line.contains(id))
    }
}

/// The bot's recent log lines that `filter` keeps, oldest first, each as
/// the JSON object it was written as.
pub(super) async fn log(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    filter: Result<Query<LogFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let Ok(Query(filter)) = filter else {
        return error(StatusCode::BAD_REQUEST, "filters: skill, execution, limit");
    };
    let limit = filter.limit.unwrap_or(crate::live_log::RECENT);
    let lines: Vec<serde_json::Value> = crate::live_log::recent()
        .iter()
        .filter(|l| filter.keeps(l))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let skip = lines.len().saturating_sub(limit);
    Json(&lines[skip..]).into_response()
}

/// The log as it is written, as server-sent events (one `data:` line a
/// log line), with the same filters; a reader too slow for the bot is told
/// how many lines it missed (`event: missed`).
pub(super) async fn log_stream(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    filter: Result<Query<LogFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    use axum::response::sse::{Event as Sent, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let Ok(Query(filter)) = filter else {
        return error(StatusCode::BAD_REQUEST, "filters: skill, execution");
    };
    let lines = crate::live_log::subscribe();
    let stream = futures::stream::unfold((lines, filter), |(mut lines, filter)| async move {
        loop {
            let sent = match lines.recv().await {
                Ok(line) if filter.keeps(&line) => Sent::default().data(&*line),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => Sent::default().event("missed").data(n.to_string()),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok::<_, std::convert::Infallible>(sent), (lines, filter)));
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
