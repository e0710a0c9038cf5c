//! The console's JSON API, `/api/v1`: logging in and out, who is logged
//! in, the skills as an operator sees them (grants and limits included),
//! turning a skill off or on, and the executions with filters. Every route
//! but `login` needs a session (its cookie) or an API token
//! (`Authorization: Bearer sbt_…`, for scripts); every state change needs
//! the role the route names and, with a session, its CSRF token in
//! `X-CSRF-Token` (a token is no ambient credential: a page on another
//! site cannot make the browser send it). Every state change (a login and
//! a failed one included) is an audit record in the history: who, what,
//! when, from where.

use super::accounts::{Account, Accounts, Role};
use super::lockout::Lockout;
use super::secrets::same_secret;
use super::sessions::{COOKIE, Session, Sessions};
use crate::bot::Bot;
use crate::bus::EventSink;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::event::{Event, EventId, Execution, Message, Outcome, now_ms};
use crate::history::History;
use crate::manifest::MatcherKind;
use crate::web::api::{Params, one_with_children, search};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// Everything the console's routes share.
pub struct Console {
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub lockout: Lockout,
    /// Served over HTTPS: the cookie is `Secure`.
    pub https: bool,
    pub catalog: Arc<Catalog>,
    pub bot: Arc<Bot>,
    /// The history, when `history.enabled`.
    pub history: Option<Arc<History>>,
    /// Where an operator's commands go, as any connector's events do.
    pub events: Arc<dyn EventSink>,
    pub conversations: Arc<super::commands::Conversations>,
    /// Uploaded skills waiting for an admin's approval.
    pub staged: super::staged::Staged,
    /// Each connector's name, kind and state.
    pub connectors: Vec<(String, String, crate::connectors::Status)>,
    /// This host among several (on a NATS bus).
    pub cluster: Option<Arc<crate::nats::hosts::Hosts>>,
}

pub fn routes(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(super::page::html))
        .route("/console/console.js", get(super::page::script))
        .route("/console/console.css", get(super::page::style))
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/skills", get(skills))
        .route("/api/v1/skills/{name}/enable", post(enable))
        .route("/api/v1/skills/{name}/disable", post(disable))
        .route(
            "/api/v1/skills/{name}/upload",
            post(upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::skill_file::MAX_COMPONENT_BYTES as usize,
            )),
        )
        .route("/api/v1/uploads/{id}/approve", post(approve))
        .route("/api/v1/uploads/{id}/reject", post(reject))
        .route("/api/v1/commands", post(command))
        .route("/api/v1/connectors", get(connectors))
        .route("/api/v1/config/validate", post(validate_config))
        .route("/api/v1/log", get(log))
        .route("/api/v1/log/stream", get(log_stream))
        .route("/api/v1/executions", get(executions))
        .route("/api/v1/executions/{id}", get(execution))
        .with_state(console)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Who asks, once the session or token, the account and (for a state
/// change in a session) the CSRF token are checked.
struct Operator {
    account: Account,
    /// The session's cookie token; `None` for an API token.
    session: Option<String>,
    /// The API token's id, when it came with one.
    token_id: Option<String>,
    /// The session's CSRF token (a page that reloads reads it from `me`).
    csrf: Option<String>,
}

impl Operator {
    /// How the audit record names who did it.
    fn who(&self) -> String {
        match &self.token_id {
            Some(id) => format!("{} (token {id})", self.account.name),
            None => self.account.name.clone(),
        }
    }
}

impl Console {
    fn require(
        &self,
        headers: &HeaderMap,
        role: Role,
        changes: bool,
    ) -> Result<Operator, Box<Response>> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let operator = match bearer {
            Some(token) => self.by_token(token)?,
            None => self.by_session(headers, changes)?,
        };
        let account = &operator.account;
        if account.role < role {
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                format!(
                    "this needs the {} role; {} is {}",
                    role.as_str(),
                    account.name,
                    article(account.role)
                ),
            )));
        }
        Ok(operator)
    }

    fn by_token(&self, token: &str) -> Result<Operator, Box<Response>> {
        match self.accounts.check_token(token) {
            Ok(Some((account, id))) => Ok(Operator {
                account,
                session: None,
                token_id: Some(id),
                csrf: None,
            }),
            Ok(None) => Err(Box::new(error(
                StatusCode::UNAUTHORIZED,
                "not a valid API token (revoked, or its account removed?)",
            ))),
            Err(e) => Err(unreadable(e)),
        }
    }

    fn by_session(&self, headers: &HeaderMap, changes: bool) -> Result<Operator, Box<Response>> {
        let Some(token) = cookie(headers, COOKIE) else {
            return Err(Box::new(error(
                StatusCode::UNAUTHORIZED,
                "log in first (POST /api/v1/login)",
            )));
        };
        let Some(session) = self.sessions.get(&token) else {
            return Err(Box::new(error(
                StatusCode::UNAUTHORIZED,
                "the session has ended: log in again",
            )));
        };
        let account = match self.accounts.get(&session.name) {
            Ok(Some(account)) => account,
            Ok(None) => {
                self.sessions.end(&token);
                return Err(Box::new(error(
                    StatusCode::UNAUTHORIZED,
                    "the account no longer exists",
                )));
            }
            Err(e) => return Err(unreadable(e)),
        };
        if changes && !csrf_matches(headers, &session) {
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "missing or wrong X-CSRF-Token (the `csrf` the login answered)",
            )));
        }
        Ok(Operator {
            account,
            session: Some(token),
            token_id: None,
            csrf: Some(session.csrf),
        })
    }

    /// One audit record: `who` did `action` from `from`, with `outcome`.
    fn audit(
        &self,
        who: &str,
        matcher: &str,
        action: &str,
        from: SocketAddr,
        outcome: Outcome,
        error: Option<String>,
    ) {
        let id = EventId::next();
        let event = Event::Message(Message {
            id: id.to_string(),
            text: action.to_owned(),
            user: who.to_owned(),
            user_id: who.to_owned(),
            room: "console".into(),
            connector: "console".into(),
            thread: None,
            received_at: now_ms(),
            addressed: true,
        });
        let mut record = Execution::for_event(format!("{id}-0"), id, &event, now_ms());
        record.skill = "console".into();
        record.matcher = matcher.to_owned();
        record.outcome = outcome;
        record.error = error;
        record.trigger = Some(format!("console from {}", from.ip()));
        self.bot.record(&record);
    }
}

fn unreadable(e: anyhow::Error) -> Box<Response> {
    tracing::error!("console accounts: {e:#}");
    Box::new(error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the accounts cannot be read",
    ))
}

fn article(role: Role) -> &'static str {
    match role {
        Role::Viewer => "a viewer",
        Role::Operator => "an operator",
        Role::Admin => "an admin",
    }
}

fn csrf_matches(headers: &HeaderMap, session: &Session) -> bool {
    headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| same_secret(given, &session.csrf))
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(console: &Console, value: &str, max_age: u64) -> HeaderValue {
    let secure = if console.https { "; Secure" } else { "" };
    let text =
        format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).expect("a cookie of hex digits is a header value")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    name: String,
    password: String,
}

async fn login(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(login)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"name\": …, \"password\": …} as JSON",
        );
    };
    // A name is at most a name's length; the log and the record show it.
    let name: String = login.name.chars().take(64).collect();
    if let Err(wait) = console.lockout.check(&name, from.ip()) {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed logins: try again in {} s",
                wait.as_secs() + 1
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs() + 1));
        return response;
    }
    let checking = console.clone();
    let (who, password) = (name.clone(), login.password);
    let verified =
        tokio::task::spawn_blocking(move || checking.accounts.verify(&who, &password)).await;
    let account = match verified {
        Ok(Ok(account)) => account,
        Ok(Err(e)) => {
            tracing::error!("console login: {e:#}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the accounts cannot be read",
            );
        }
        Err(e) => {
            tracing::error!("console login: {e}");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "the login check failed");
        }
    };
    let Some(account) = account else {
        let locked = console.lockout.failed(&name, from.ip());
        let why = if locked {
            "wrong name or password; locked for a while"
        } else {
            "wrong name or password"
        };
        console.audit(
            &name,
            "login",
            "login",
            from,
            Outcome::Denied,
            Some(why.into()),
        );
        return error(StatusCode::UNAUTHORIZED, "wrong name or password");
    };
    console.lockout.succeeded(&name);
    let (token, session) = console.sessions.start(&account.name);
    console.audit(&account.name, "login", "login", from, Outcome::Ok, None);
    let mut response = Json(json!({
        "name": account.name,
        "role": account.role,
        "csrf": session.csrf,
    }))
    .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&console, &token, console.sessions.ttl().as_secs()),
    );
    response
}

async fn logout(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let operator = match console.require(&headers, Role::Viewer, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Some(session) = &operator.session else {
        return error(
            StatusCode::BAD_REQUEST,
            "an API token has no session to end",
        );
    };
    console.sessions.end(session);
    console.audit(&operator.who(), "logout", "logout", from, Outcome::Ok, None);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&console, "", 0));
    response
}

async fn me(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    match console.require(&headers, Role::Viewer, false) {
        Ok(operator) => {
            let mut me = json!({ "name": operator.account.name, "role": operator.account.role });
            if let Some(csrf) = operator.csrf {
                me["csrf"] = json!(csrf);
            }
            Json(me).into_response()
        }
        Err(refused) => *refused,
    }
}

/// Each skill as an operator sees it: what serves, what is off, what is
/// compiling, what failed to load (and why), and what it answers to.
async fn skills(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let set = console.catalog.current();
    let progress = console.catalog.progress();
    let config = console.catalog.config();
    let mut out: Vec<serde_json::Value> = set
        .skills
        .iter()
        .zip(&set.policies)
        .map(|(skill, policy)| {
            let state = if progress.compiling.contains(&skill.name) {
                "compiling"
            } else if policy.disabled {
                "disabled"
            } else {
                "serving"
            };
            json!({
                "name": skill.name,
                "version": skill.manifest.version,
                "description": skill.manifest.description,
                "sha256": skill.sha256,
                "state": state,
                "new_file_failed": progress.failed.get(&skill.name),
                "grants": grants(&config, &skill.name),
                "matchers": skill.manifest.matchers.iter().map(|m| json!({
                    "id": m.id,
                    "kind": kind(&m.kind),
                    "help": m.help,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    for (name, why) in &progress.failed {
        if set.get(name).is_none() {
            out.push(json!({ "name": name, "state": "failed", "error": why }));
        }
    }
    Json(json!({ "skills": out })).into_response()
}

/// What a skill may do, as a person reads it: what it may reach, where it
/// may speak, which secrets it reads, and its limits.
fn grants(config: &Config, skill: &str) -> Vec<String> {
    let entry = config.skills.get(skill);
    let allow = entry.map(|e| e.allow.clone()).unwrap_or_default();
    let limits = entry
        .and_then(|e| e.limits)
        .unwrap_or(config.runtime.default_limits);
    let list = |items: Vec<String>| items.join(", ");
    let mut out = Vec::new();
    out.push(if allow.http.is_empty() {
        "no network".to_owned()
    } else {
        format!(
            "HTTP to {}",
            list(allow.http.iter().map(|h| h.to_string()).collect())
        )
    });
    out.push(if allow.send.is_empty() {
        "speaks only where it is asked".to_owned()
    } else {
        format!(
            "may send to {}",
            list(allow.send.iter().map(|r| r.to_string()).collect())
        )
    });
    if !allow.secrets.is_empty() {
        out.push(format!("reads the secrets {}", list(allow.secrets.clone())));
    }
    out.push(format!(
        "{} a run, {} of memory, {} messages of at most {}, {} at once",
        limits.time, limits.memory, limits.responses, limits.response_size, limits.concurrency
    ));
    out.push(format!(
        "keeps at most {} keys, {} in memory",
        limits.stored_keys, limits.stored_bytes
    ));
    out
}

/// A matcher as one line of text.
fn kind(kind: &MatcherKind) -> String {
    match kind {
        MatcherKind::Regex { pattern, .. } => format!("regex {pattern}"),
        MatcherKind::ParseFormat(format) => format!("parse {format}"),
        MatcherKind::ActionAlias(alias) => format!("alias {}", alias.format),
        MatcherKind::Crontab {
            expression,
            timezone,
        } => match timezone {
            Some(tz) => format!("crontab {expression} ({tz})"),
            None => format!("crontab {expression}"),
        },
        MatcherKind::EventType(event) => format!("event {event:?}").to_lowercase(),
        MatcherKind::Webhook(path) => format!("webhook {path}"),
        MatcherKind::Always => "always".into(),
        MatcherKind::CatchAll => "catch-all".into(),
    }
}

async fn enable(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    turn(console, from, name, headers, true).await
}

async fn disable(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    turn(console, from, name, headers, false).await
}

/// `skill enable NAME` / `skill disable NAME`, as chat's admins say it.
async fn turn(
    console: Arc<Console>,
    from: SocketAddr,
    name: String,
    headers: HeaderMap,
    enabled: bool,
) -> Response {
    let operator = match console.require(&headers, Role::Operator, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let verb = if enabled { "enable" } else { "disable" };
    let matcher = format!("skill {verb}");
    let action = format!("{matcher} {}", crate::names::shown(&name));
    match console.catalog.set_enabled(&name, enabled).await {
        Ok(already) => {
            console.audit(&operator.who(), &matcher, &action, from, Outcome::Ok, None);
            let state = if enabled { "serving" } else { "disabled" };
            Json(json!({ "name": name, "state": state, "changed": !already })).into_response()
        }
        Err(why) => {
            console.audit(
                &operator.who(),
                &matcher,
                &action,
                from,
                Outcome::Error,
                Some(why.clone()),
            );
            error(StatusCode::NOT_FOUND, why)
        }
    }
}

/// The executions, newest first, with `/api/executions`' filters (skill,
/// user, connector, outcome, since, until, text, parent, limit).
async fn executions(
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
async fn execution(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    text: String,
}

/// Says a command to the bot as `console:<name>` (see `commands`), and
/// answers what the bot said: `{"answers": [...], "finished": bool}`.
async fn command(
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
    console.audit(&operator.who(), "command", text, from, Outcome::Ok, None);
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

/// Checks an uploaded `.wasm` as skill NAME exactly as a file dropped into
/// the skills folder would be, serves nothing, and answers what an admin
/// approves: its manifest, its grants, what it replaces, and the id to
/// approve or reject it by.
async fn upload(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let action = format!("skill upload {}", crate::names::shown(&name));
    let skill = match console.catalog.preview(&name, body.to_vec()).await {
        Ok(skill) => skill,
        Err(why) => {
            console.audit(
                &operator.who(),
                "skill upload",
                &action,
                from,
                Outcome::Error,
                Some(why.clone()),
            );
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("it would not load: {why}"),
            );
        }
    };
    let config = console.catalog.config();
    let replaces = console
        .catalog
        .current()
        .get(&name)
        .map(|s| s.manifest.version.clone());
    let id = console
        .staged
        .keep(&name, &skill.sha256, body.to_vec(), &operator.who());
    console.audit(
        &operator.who(),
        "skill upload",
        &action,
        from,
        Outcome::Ok,
        None,
    );
    Json(json!({
        "id": id,
        "name": name,
        "version": skill.manifest.version,
        "description": skill.manifest.description,
        "sha256": skill.sha256,
        "replaces": replaces,
        "matchers": skill.manifest.matchers.iter().map(|m| json!({
            "id": m.id, "kind": kind(&m.kind), "help": m.help,
        })).collect::<Vec<_>>(),
        "grants": grants(&config, &name),
    }))
    .into_response()
}

/// Puts an approved upload where its skill loads from, and loads it.
async fn approve(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Some(upload) = console.staged.take(&id) else {
        return error(StatusCode::NOT_FOUND, "no upload is waiting under that id");
    };
    let action = format!("skill install {} {}", upload.name, &upload.sha256[..12]);
    match console.catalog.install(&upload.name, &upload.bytes).await {
        Ok(change) => {
            let failed = matches!(change, crate::catalog::Change::Failed { .. });
            let outcome = if failed { Outcome::Error } else { Outcome::Ok };
            let what = change.to_string();
            console.audit(
                &operator.who(),
                "skill install",
                &action,
                from,
                outcome,
                failed.then(|| what.clone()),
            );
            let status = if failed {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            (status, Json(json!({ "name": upload.name, "sha256": upload.sha256, "change": what, "uploaded_by": upload.by }))).into_response()
        }
        Err(why) => {
            console.audit(
                &operator.who(),
                "skill install",
                &action,
                from,
                Outcome::Error,
                Some(why.clone()),
            );
            error(StatusCode::INTERNAL_SERVER_ERROR, why)
        }
    }
}

async fn reject(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Some(upload) = console.staged.take(&id) else {
        return error(StatusCode::NOT_FOUND, "no upload is waiting under that id");
    };
    let action = format!("skill reject {} {}", upload.name, &upload.sha256[..12]);
    console.audit(
        &operator.who(),
        "skill reject",
        &action,
        from,
        Outcome::Ok,
        None,
    );
    StatusCode::NO_CONTENT.into_response()
}

/// Each connector and its state (`connected`, or why not), and on several
/// hosts each host: its roles, leases and load.
async fn connectors(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
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

/// Which log lines a reader wants: by skill, by execution id, or all.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct LogFilter {
    skill: Option<String>,
    execution: Option<String>,
    limit: Option<usize>,
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
async fn log(
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
async fn log_stream(
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

/// Checks a configuration text as `sandbot config validate` would, beside
/// the one in use (so its relative paths mean the same), changing nothing:
/// `{"valid", "errors", "notes", "summary"}`, each error at its line.
async fn validate_config(
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
