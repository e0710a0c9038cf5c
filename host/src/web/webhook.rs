//! Webhooks, one gate for skills and workflows. `POST /skill/<skill>/<path>`
//! runs the skill's webhook matcher for `<path>` (exact, after trimming
//! leading `/`; no wildcards), giving it the method, headers and body; what
//! the skill `respond`s becomes the HTTP response. `POST /workflow/<name>`
//! starts workflow `<name>` if its file declares `webhook:` (its webhook
//! matcher in the same index), with the JSON object in the body as its
//! inputs, each checked against the input's type; the answer comes once
//! the run is stored, not when it ends (a workflow may wait an hour for an
//! approval): `202 {"run": 3, "id": "wf-3"}`.
//!
//! The order of refusals: the bot stopping (503), an unknown target or path
//! (404), a body over `skills.<name>.webhook.max-body` (or
//! `workflows.<name>.webhook.max-body`) (413), a missing or wrong secret
//! (401, logged; nothing runs); for a workflow, a body that is not a JSON
//! object or inputs that do not fit (400, naming the field). Then the
//! skill's outcome: 200 with its answers joined by newlines, 503 when it is
//! busy, 504 when it ran out of time, 500 with a short reason when it
//! failed.
//!
//! The body is read only when it must be: a declared `Content-Length` over
//! the cap is refused first, and a secret shown as a token (`X-Sandbot-Token`
//! or `Authorization: Bearer`), or not shown at all, is checked before a
//! byte of the body is read. A signature (`X-Hub-Signature-256`) needs the
//! body: it is read within the server's budget (`body`), which answers 503
//! when too many body bytes are held at once and 408 when the body does not
//! arrive within `web.body-timeout`.

use super::body::{Bodies, Read, Unread};
use crate::bot::Bot;
use crate::catalog::Catalog;
use crate::config::{Config, WebhookSettings};
use crate::event::{Event, EventId, Execution, HTTP_CALLER, Outcome, WebhookRequest, now_ms};
use crate::matching::Target;
use crate::text::for_log;
use crate::workflow::Start;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The HMAC signature header, as GitHub sends it: `sha256=<hex>`.
const SIGNATURE: &str = "x-hub-signature-256";
/// The shared-token header (besides `Authorization: Bearer`).
const TOKEN: &str = "x-sandbot-token";

struct Hooks {
    bot: Arc<Bot>,
    catalog: Arc<Catalog>,
    config: Arc<Config>,
    /// Deliveries already taken, by hook (`delivery-header`).
    deliveries: super::deliveries::Deliveries,
    /// When each hook's last refusal was recorded ([`REFUSALS_RECORDED`]).
    refusals: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// At most one refused request (401) a second is recorded per hook, so a
/// flood of bad requests cannot push real records out of the history; every
/// one is logged and counted (`sandbot_webhooks_refused_total`).
const REFUSALS_RECORDED: std::time::Duration = std::time::Duration::from_secs(1);

/// The webhook routes, to mount on the bot's HTTP server.
pub fn routes(bot: Arc<Bot>, catalog: Arc<Catalog>, config: Arc<Config>) -> Router {
    Router::new()
        .route("/skill/{skill}/{*path}", post(skill_hook))
        .route("/workflow/{name}", post(workflow_hook))
        .with_state(Arc::new(Hooks {
            bot,
            catalog,
            config,
            deliveries: Default::default(),
            refusals: Default::default(),
        }))
}

/// What a request asks for: a skill's webhook at a path, or a workflow's.
struct Asked {
    name: String,
    path: String,
    workflow: bool,
}

async fn skill_hook(
    State(hooks): State<Arc<Hooks>>,
    Extension(bodies): Extension<Arc<Bodies>>,
    Path((name, path)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let asked = Asked {
        name,
        path,
        workflow: false,
    };
    handle(&hooks, &bodies, asked, method, headers, body).await
}

async fn workflow_hook(
    State(hooks): State<Arc<Hooks>>,
    Extension(bodies): Extension<Arc<Bodies>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // A workflow's webhook matcher takes its name as its path.
    let asked = Asked {
        path: name.clone(),
        name,
        workflow: true,
    };
    handle(&hooks, &bodies, asked, method, headers, body).await
}

/// The one gate: finds the webhook matcher in the index, admits the
/// request (`admit`), then runs the skill or starts the workflow.
async fn handle(
    hooks: &Hooks,
    bodies: &Bodies,
    asked: Asked,
    method: Method,
    mut headers: HeaderMap,
    body: Body,
) -> Response {
    if hooks.bot.work().is_closed() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bot is shutting down".into(),
        );
    }
    let Asked {
        name,
        path,
        workflow,
    } = asked;
    let set = hooks.catalog.current();
    let target = match workflow {
        true => set.workflow(&name),
        false => set
            .skills
            .iter()
            .position(|s| s.name == name)
            .map(Target::Skill),
    };
    let Some(hit) = target.and_then(|t| set.index.webhook(t, &path)) else {
        let text = match workflow {
            true => format!("no workflow `{}` with a webhook", for_log(&name)),
            false => format!(
                "no webhook `{}` for skill `{}`",
                for_log(&path),
                for_log(&name)
            ),
        };
        return answer(StatusCode::NOT_FOUND, text);
    };
    let defaults = WebhookSettings::default();
    let (settings, key) = match workflow {
        true => (
            hooks.config.workflows.get(&name).map(|e| &e.webhook),
            "workflows",
        ),
        false => (hooks.config.skills.get(&name).map(|e| &e.webhook), "skills"),
    };
    let settings = settings.unwrap_or(&defaults);
    let key = format!("{key}.{name}.webhook");
    // The budget is held until the skill is done with the body.
    let Read {
        bytes: body,
        held: _budget,
    } = match admit(bodies, body, &headers, settings, &key).await {
        Ok(read) => read,
        Err((refused, why)) => {
            if let Some(why) = why {
                let trigger = match workflow {
                    true => format!("/workflow/{name}"),
                    false => format!("/skill/{name}/{path}"),
                };
                hooks.refused(&key, &name, &path, trigger, &method, why);
            }
            return refused;
        }
    };
    // A delivery taken before runs once (`delivery-header`).
    let delivery = settings
        .delivery_header
        .as_deref()
        .and_then(|h| headers.get(h))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|id| !id.trim().is_empty());
    if let Some(id) = &delivery
        && !hooks.deliveries.take(&key, id, settings.delivery_window.0)
    {
        tracing::info!(hook = %key, delivery = %for_log(id), "a delivery already taken: not run again");
        return answer(
            StatusCode::OK,
            format!("duplicate: delivery {} was already taken", for_log(id)),
        );
    }
    if settings.secret.is_some() || workflow {
        // The proof was for the bot; the skill need not see the secret,
        // nor a workflow's run keep it.
        headers.remove(TOKEN);
        headers.remove(header::AUTHORIZATION);
    }
    // A form (GitHub's and Slack's other way to post) arrives as JSON.
    let body = match super::form::to_json(&mut headers, body) {
        Ok(body) => body,
        Err(why) => return answer(StatusCode::BAD_REQUEST, why),
    };
    let response = if workflow {
        headers.remove(SIGNATURE);
        start_workflow(hooks, &name, &method, &headers, &body).await
    } else {
        let request = WebhookRequest {
            path: crate::matching::webhook_path(&path).to_owned(),
            method: method.to_string(),
            headers: header_pairs(&headers),
            body: Vec::from(body),
            received_at: now_ms(),
        };
        let execution = hooks.bot.trigger(&set, &hit, Event::Webhook(request)).await;
        skill_answer(&name, execution)
    };
    // Not run after all (busy, stopping, refused inputs): the sender's
    // retry of this delivery should run.
    if let Some(id) = &delivery
        && !response.status().is_success()
    {
        hooks.deliveries.forget(&key, id);
    }
    response
}

impl Hooks {
    /// A request refused for its secret (401): logged and counted always,
    /// and recorded in the history (outcome `denied`, at most one a second
    /// per hook) so the refusals show beside the runs.
    fn refused(
        &self,
        key: &str,
        name: &str,
        path: &str,
        trigger: String,
        method: &Method,
        why: &str,
    ) {
        tracing::warn!(hook = %key, "webhook request refused (401): {why}");
        self.bot.metrics().webhook_refused(key);
        let now = std::time::Instant::now();
        {
            let mut last = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            match last.get(key) {
                Some(at) if now.duration_since(*at) < REFUSALS_RECORDED => return,
                _ => last.insert(key.to_owned(), now),
            };
        }
        let request = WebhookRequest {
            path: trigger.clone(),
            method: method.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            received_at: now_ms(),
        };
        let id = EventId::next();
        let mut record =
            Execution::for_event(format!("{id}-0"), id, &Event::Webhook(request), now_ms());
        record.skill = name.to_owned();
        record.matcher = crate::matching::webhook_path(path).to_owned();
        record.outcome = Outcome::Denied;
        record.error = Some(format!("webhook request refused (401): {why}"));
        record.trigger = Some(format!("webhook {trigger}"));
        self.bot.record(&record);
    }
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_owned(), value)
        })
        .collect()
}

/// The HTTP answer to a skill's run.
fn skill_answer(name: &str, execution: Execution) -> Response {
    match execution.outcome {
        Outcome::Ok => {
            let text = crate::executor::answers(&execution.responses, Some(HTTP_CALLER));
            let plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
            (StatusCode::OK, plain, text).into_response()
        }
        Outcome::Busy => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} is busy; try again"),
        ),
        Outcome::Interrupted => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} was stopped: the bot is shutting down"),
        ),
        Outcome::Timeout => answer(
            StatusCode::GATEWAY_TIMEOUT,
            format!("{name} ran out of time"),
        ),
        _ => {
            let reason = execution.error.as_deref().unwrap_or("it failed");
            let reason: String = reason
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{name} failed: {reason}"),
            )
        }
    }
}

/// Starts workflow `name` with the inputs in `body` (a JSON object; empty:
/// its defaults). The run keeps its event: the request without its body
/// (the inputs hold what it said) or the headers that prove the secret.
async fn start_workflow(
    hooks: &Hooks,
    name: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let workflows = hooks.bot.workflows();
    let def = workflows.definitions().by_name.get(name).cloned();
    let Some((def, room)) = def.and_then(|d| {
        let room = d.webhook.as_ref()?.room.clone();
        Some((d, room))
    }) else {
        let text = format!("no workflow `{}` with a webhook", for_log(name));
        return answer(StatusCode::NOT_FOUND, text);
    };
    let given = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => {
                let text = "the body must be a JSON object of the workflow's inputs";
                return answer(StatusCode::BAD_REQUEST, text.into());
            }
            Err(e) => {
                let text = format!("the body is not JSON: {e}");
                return answer(StatusCode::BAD_REQUEST, text);
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
    let request = WebhookRequest {
        // Its record's trigger: `webhook /workflow/NAME`.
        path: format!("/workflow/{name}"),
        method: method.to_string(),
        headers: header_pairs(headers),
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

/// A short plain-text answer.
fn answer(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

/// The gate of every webhook, a skill's or a workflow's: the body within
/// `settings.max_body` and the server's budget, and the secret, if one is
/// set, checked before the body is read unless it is a signature of the
/// body. A refusal is the answer to send, naming `key`
/// (`skills.<name>.webhook`) where the limit is set; it is logged with
/// `key`.
async fn admit(
    bodies: &Bodies,
    body: Body,
    headers: &HeaderMap,
    settings: &WebhookSettings,
    key: &str,
) -> Result<Read, (Response, Option<&'static str>)> {
    let max = settings.max_body;
    if super::body::declared_length(headers).is_some_and(|n| n > max.0) {
        return Err((unread(Unread::TooLarge, bodies, settings, key), None));
    }
    let secret = settings.secret.as_ref().map(|s| s.expose());
    let signed = headers.contains_key(SIGNATURE);
    if let Some(secret) = secret
        && !signed
        && let Err(why) = check_secret(secret, headers, b"")
    {
        return Err((unauthorized(), Some(why)));
    }
    let body = bodies
        .read(body, headers, max.0)
        .await
        .map_err(|why| (unread(why, bodies, settings, key), None))?;
    if let Some(secret) = secret
        && signed
        && let Err(why) = check_secret(secret, headers, &body.bytes)
    {
        return Err((unauthorized(), Some(why)));
    }
    Ok(body)
}

/// A secret not proved, as the answer to send (the caller logs why).
fn unauthorized() -> Response {
    answer(StatusCode::UNAUTHORIZED, "unauthorized".into())
}

/// A body not read, as the answer to send.
fn unread(why: Unread, bodies: &Bodies, settings: &WebhookSettings, key: &str) -> Response {
    let (status, text) = match why {
        Unread::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is over this webhook's limit of {} ({key}.max-body)",
                settings.max_body
            ),
        ),
        Unread::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server holds as many request bodies as it may (web.max-bodies-in-flight); try again".into(),
        ),
        Unread::TimedOut => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} (web.body-timeout)",
                crate::limits::HumanDuration(bodies.timeout())
            ),
        ),
        Unread::Broken => (StatusCode::BAD_REQUEST, "the body could not be read".into()),
    };
    tracing::warn!(hook = %key, "webhook request refused: {status}");
    let mut response = answer(status, text);
    if why == Unread::Busy {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    response
}

/// Does the request prove it knows `secret`? An HMAC-SHA256 of the body in
/// `X-Hub-Signature-256`, or the secret itself in `X-Sandbot-Token` or
/// `Authorization: Bearer`; both compared in constant time.
pub fn check_secret(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    if secret.is_empty() {
        // `${VAR}` of an unset variable: refuse rather than accept anyone.
        return Err("the configured secret is empty");
    }
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(signature) = text(SIGNATURE) {
        let digest = signature
            .trim()
            .strip_prefix("sha256=")
            .and_then(decode_hex)
            .ok_or("a malformed X-Hub-Signature-256 (sha256=<hex>)")?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(body);
        return mac
            .verify_slice(&digest)
            .map_err(|_| "a wrong X-Hub-Signature-256");
    }
    let bearer = text(header::AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer "));
    match text(TOKEN).or(bearer) {
        Some(token) if bool::from(token.trim().as_bytes().ct_eq(secret.as_bytes())) => Ok(()),
        Some(_) => Err("a wrong token"),
        None => Err("no X-Hub-Signature-256, X-Sandbot-Token or bearer token"),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn signatures_and_tokens_are_checked() {
        // GitHub's documented example: secret "It's a Secret to Everybody".
        let secret = "It's a Secret to Everybody";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            check_secret(secret, &headers(&[(SIGNATURE, good)]), b"Hello, World!"),
            Ok(())
        );
        assert!(check_secret(secret, &headers(&[(SIGNATURE, good)]), b"Hello, World?").is_err());
        assert!(check_secret(secret, &headers(&[(SIGNATURE, "sha256=zz")]), b"").is_err());
        assert!(check_secret(secret, &headers(&[(SIGNATURE, "757107")]), b"").is_err());
        assert_eq!(
            check_secret("t0k", &headers(&[(TOKEN, "t0k")]), b""),
            Ok(())
        );
        assert_eq!(
            check_secret("t0k", &headers(&[("authorization", "Bearer t0k")]), b""),
            Ok(())
        );
        assert!(check_secret("t0k", &headers(&[(TOKEN, "t0")]), b"").is_err());
        assert!(check_secret("t0k", &headers(&[]), b"").is_err());
        assert!(check_secret("", &headers(&[(TOKEN, "")]), b"").is_err());
    }
}
