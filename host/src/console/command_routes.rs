//! The console's route that acts through the bot as chat does: a command
//! said as `console:NAME`.

use super::accounts::Role;
use super::api::{Act, Console, error};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

crate::with_schema! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Command {
        text: String,
    }
}

crate::with_schema! {
    /// What the bot said to a command.
    #[derive(Serialize)]
    pub(super) struct Answers {
        answers: Vec<String>,
        /// Every answer came within 30 s.
        finished: bool,
    }
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
        Ok(answered) => Json(Answers {
            answers: answered.texts,
            finished: answered.finished,
        })
        .into_response(),
        Err(closed) => error(StatusCode::SERVICE_UNAVAILABLE, closed.to_string()),
    }
}
