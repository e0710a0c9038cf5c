//! Workflows' webhooks: `POST /workflow/<name>` starts workflow `<name>` if
//! its file declares `webhook:`, with the JSON object in the body as its
//! inputs, each checked against the input's type. The same gate as skills'
//! webhooks (`webhook`): the body cap and the secret of
//! `workflows.<name>.webhook` in the configuration. The answer comes once
//! the run is stored, not when it ends (a workflow may wait an hour for an
//! approval): `202 {"run": 3, "id": "wf-3"}`. Refusals, in order: the bot
//! stopping (503), an unknown workflow or one without `webhook:` (404), a
//! body over the cap (413), a missing or wrong secret (401), a body that is
//! not a JSON object or inputs that do not fit (400, naming the field); and
//! the server's budget for bodies (503, 408; see `webhook`).

use super::body::Bodies;
use super::webhook::{admit, answer};
use crate::bot::Bot;
use crate::config::{Config, WebhookSettings};
use crate::event::{Event, EventId, WebhookRequest, now_ms};
use crate::text::for_log;
use crate::workflow::Start;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use std::sync::Arc;

struct Hooks {
    bot: Arc<Bot>,
    config: Arc<Config>,
}

/// The route, to mount on the bot's HTTP server.
pub fn routes(bot: Arc<Bot>, config: Arc<Config>) -> Router {
    Router::new()
        .route("/workflow/{name}", post(handle))
        .with_state(Arc::new(Hooks { bot, config }))
}

async fn handle(
    State(hooks): State<Arc<Hooks>>,
    Extension(bodies): Extension<Arc<Bodies>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if hooks.bot.work().is_closed() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bot is shutting down".into(),
        );
    }
    let Some(workflows) = hooks.bot.workflows() else {
        return answer(StatusCode::NOT_FOUND, "no workflows are loaded".into());
    };
    let def = workflows.definitions().by_name.get(&name).cloned();
    let Some((def, room)) = def.and_then(|d| {
        let room = d.webhook.as_ref()?.room.clone();
        Some((d, room))
    }) else {
        return answer(
            StatusCode::NOT_FOUND,
            format!("no workflow `{}` with a webhook", for_log(&name)),
        );
    };
    let defaults = WebhookSettings::default();
    let settings = hooks
        .config
        .workflows
        .get(&name)
        .map_or(&defaults, |e| &e.webhook);
    let key = format!("workflows.{name}.webhook");
    let body = match admit(&bodies, body, &headers, settings, &key).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    // An empty body starts it with its defaults.
    let given = if body.bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body.bytes) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    "the body must be a JSON object of the workflow's inputs".into(),
                );
            }
            Err(e) => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not JSON: {e}"),
                );
            }
        }
    };
    let inputs = match def.inputs_from_json(&given) {
        Ok(inputs) => inputs,
        Err(e) => {
            tracing::info!(workflow = %name, "webhook request refused (400): {e}");
            return answer(StatusCode::BAD_REQUEST, format!("{name}: {e}"));
        }
    };
    // The run keeps its event: the request without its body (the inputs
    // hold what it said) or the headers that prove the secret.
    let request = WebhookRequest {
        path: String::new(),
        method: method.to_string(),
        headers: headers
            .iter()
            .filter(|(k, _)| {
                *k != header::AUTHORIZATION
                    && k.as_str() != "x-sandbot-token"
                    && k.as_str() != "x-hub-signature-256"
            })
            .map(|(k, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_owned(), value)
            })
            .collect(),
        body: Vec::new(),
        received_at: now_ms(),
    };
    let start = Start {
        inputs,
        event: Event::Webhook(request),
        event_id: EventId::next(),
        alias: None,
        room,
    };
    match workflows.start_run(def, start).await {
        Ok((run, _running)) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"run": run, "id": format!("wf-{run}")})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(workflow = %name, "cannot start from its webhook: {e:#}");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{name}: cannot start: {e}"),
            )
        }
    }
}
