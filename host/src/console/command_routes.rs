//! The console's routes that act through the bot as chat does: a command
//! said as `console:NAME`, and a configuration change checked as
//! `config validate` checks it.

use super::accounts::Role;
use super::api::{Act, Console, error};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Command {
    text: String,
}

/// Says a command to the bot as `console:<name>` (see `commands`), and
/// answers what the bot said: `{"answers": [...], "finished": bool}`.
pub(super) async fn command(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<Command>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let operator = match console.require(&headers, Role::Operator, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Ok(Json(command)) = body else {
        return error(StatusCode::BAD_REQUEST, "send {\"text\": …} as JSON");
    };
    let text = command.text.trim();
    if text.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the command is empty");
    }
    console.audit(&Act::new(operator.who(), "command", text, from), Ok(()));
    match console
        .conversations
        .ask(console.events.as_ref(), &operator.account.name, text)
        .await
    {
        Ok(answered) => Json(json!({
            "answers": answered.texts,
            "finished": answered.finished,
        }))
        .into_response(),
        Err(closed) => error(StatusCode::SERVICE_UNAVAILABLE, closed.to_string()),
    }
}

/// Checks a configuration text as `sandbot config validate` would, beside
/// the one in use (so its relative paths mean the same), changing nothing:
/// `{"valid", "errors", "notes", "summary"}`, each error at its line.
pub(super) async fn validate_config(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    text: String,
) -> Response {
    if let Err(refused) = console.require(&headers, Role::Admin, true) {
        return *refused;
    }
    let config = console.catalog.config();
    let Some(real) = config.source.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "the bot was started without a configuration file",
        );
    };
    let checked = tokio::task::spawn_blocking(move || {
        let dir = real.parent().unwrap_or(std::path::Path::new("."));
        let aside = tempfile::Builder::new()
            .prefix(".configuration-check-")
            .suffix(".yaml")
            .tempfile_in(dir)?;
        std::fs::write(aside.path(), &text)?;
        let verdict = crate::validate::validate(aside.path())?;
        // Messages name the file the operator knows.
        let shown = aside.path().display().to_string();
        let real = real.display().to_string();
        let named = |m: String| m.replace(&shown, &real);
        anyhow::Ok(json!({
            "valid": verdict.errors.is_empty(),
            "errors": verdict.errors.into_iter().map(named).collect::<Vec<_>>(),
            "notes": verdict.notes.into_iter().map(named).collect::<Vec<_>>(),
            "summary": verdict.summary,
        }))
    })
    .await;
    match checked {
        Ok(Ok(verdict)) => Json(verdict).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
