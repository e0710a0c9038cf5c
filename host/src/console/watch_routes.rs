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
use serde::{Deserialize, Serialize};
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

crate::with_schema! {
    /// A connector and its state: `connected`, or why not.
    #[derive(Serialize)]
    pub(super) struct ConnectorView {
        name: String,
        r#type: String,
        state: String,
    }
}

crate::with_schema! {
    /// This host among several (on a NATS bus): its name, the stream's lag
    /// (read now, or why it is unknown), and every host heard of lately,
    /// each with its roles, leases and load (events in flight).
    #[derive(Serialize)]
    pub(super) struct ClusterView {
        host: String,
        stream: serde_json::Value,
        hosts: Vec<crate::nats::hosts::HostStatus>,
        /// Why the other hosts could not be read, when they could not.
        error: Option<String>,
    }
}

crate::with_schema! {
    /// Each connector, and on several hosts each host.
    #[derive(Serialize)]
    pub(super) struct Connectors {
        connectors: Vec<ConnectorView>,
        cluster: Option<ClusterView>,
    }
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
    let connectors = console
        .connectors
        .iter()
        .map(|(name, kind, state)| ConnectorView {
            name: name.clone(),
            r#type: kind.clone(),
            state: state.get(),
        })
        .collect();
    let cluster = match &console.cluster {
        Some(hosts) => {
            let mut this = hosts.status_json().await;
            let (hosts, error) = match hosts.all().await {
                Ok(all) => (all, None),
                Err(e) => (Vec::new(), Some(format!("{e:#}"))),
            };
            Some(ClusterView {
                host: this["host"].as_str().unwrap_or_default().to_owned(),
                stream: this["stream"].take(),
                hosts,
                error,
            })
        }
        None => None,
    };
    Json(Connectors {
        connectors,
        cluster,
    })
    .into_response()
}

crate::with_schema! {
    /// A log line as it was written: when, how grave, its event's fields
    /// (`message` among them), where in the code, and the span it happened
    /// in with the list of spans around it (their fields: an execution's
    /// id, a skill's name).
    #[derive(Serialize, Deserialize)]
    pub(super) struct LogLine {
        timestamp: String,
        level: String,
        fields: serde_json::Value,
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        span: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spans: Option<Vec<serde_json::Value>>,
    }
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
    let lines: Vec<LogLine> = crate::live_log::recent()
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
