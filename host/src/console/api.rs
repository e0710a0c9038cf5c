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
use crate::event::{Event, EventId, Execution, Message, Outcome, now_ms};
use crate::history::History;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use axum::Json;
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
    /// The skills' memory: what each keeps.
    pub memory: Arc<dyn crate::memory::MemoryStore>,
    /// Where an operator's commands go, as any connector's events do.
    pub events: Arc<dyn EventSink>,
    pub conversations: Arc<super::commands::Conversations>,
    /// Uploaded skills waiting for an admin's approval.
    pub staged: super::staged::Staged,
    /// Installs from a registry waiting for approval, shared with chat.
    pub installs: Arc<crate::installs::Installs>,
    /// Each connector's name, kind and state.
    pub connectors: Vec<(String, String, crate::connectors::Status)>,
    /// This host among several (on a NATS bus).
    pub cluster: Option<Arc<crate::nats::hosts::Hosts>>,
}

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// One thing an operator did, for its audit record: who, what (the kind,
/// and the words), and from where.
pub(super) struct Act {
    who: String,
    matcher: String,
    action: String,
    from: SocketAddr,
}

impl Act {
    pub(super) fn new(
        who: impl Into<String>,
        matcher: impl Into<String>,
        action: impl Into<String>,
        from: SocketAddr,
    ) -> Act {
        Act {
            who: who.into(),
            matcher: matcher.into(),
            action: action.into(),
            from,
        }
    }
}

/// Who asks, once the session or token, the account and (for a state
/// change in a session) the CSRF token are checked.
pub(super) struct Operator {
    pub(super) account: Account,
    /// The session's cookie token; `None` for an API token.
    session: Option<String>,
    /// The API token's id, when it came with one.
    token_id: Option<String>,
    /// The session's CSRF token (a page that reloads reads it from `me`).
    csrf: Option<String>,
}

impl Operator {
    /// How the audit record names who did it.
    pub(super) fn who(&self) -> String {
        match &self.token_id {
            Some(id) => format!("{} (token {id})", self.account.name),
            None => self.account.name.clone(),
        }
    }
}

impl Console {
    pub(super) fn require(
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

    /// The audit record of `act`: done, or why it was refused or failed.
    pub(super) fn audit(&self, act: &Act, result: Result<(), (Outcome, String)>) {
        let Act {
            who,
            matcher,
            action,
            from,
        } = act;
        let (outcome, error) = match result {
            Ok(()) => (Outcome::Ok, None),
            Err((outcome, why)) => (outcome, Some(why)),
        };
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
        record.matcher = matcher.clone();
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

crate::with_schema! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Login {
        name: String,
        password: String,
    }
}

crate::with_schema! {
    /// Logged in: who, and the CSRF token every change needs.
    #[derive(serde::Serialize)]
    pub(super) struct LoggedIn {
        name: String,
        role: Role,
        csrf: String,
    }
}

crate::with_schema! {
    /// Who asks: an account, its chat identities, and (in a session) its
    /// CSRF token, for a page that reloads.
    #[derive(serde::Serialize)]
    pub(super) struct Me {
        name: String,
        role: Role,
        links: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        csrf: Option<String>,
    }
}

pub(super) async fn login(
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
            &Act::new(&name, "login", "login", from),
            Err((Outcome::Denied, why.into())),
        );
        return error(StatusCode::UNAUTHORIZED, "wrong name or password");
    };
    console.lockout.succeeded(&name);
    let (token, session) = console.sessions.start(&account.name);
    console.audit(&Act::new(&account.name, "login", "login", from), Ok(()));
    let mut response = Json(LoggedIn {
        name: account.name,
        role: account.role,
        csrf: session.csrf,
    })
    .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&console, &token, console.sessions.ttl().as_secs()),
    );
    response
}

pub(super) async fn logout(
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
    console.audit(&Act::new(operator.who(), "logout", "logout", from), Ok(()));
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&console, "", 0));
    response
}

pub(super) async fn me(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    match console.require(&headers, Role::Viewer, false) {
        Ok(operator) => {
            let links = console
                .accounts
                .links_of(&operator.account.name)
                .unwrap_or_default();
            Json(Me {
                name: operator.account.name,
                role: operator.account.role,
                links,
                csrf: operator.csrf,
            })
            .into_response()
        }
        Err(refused) => *refused,
    }
}
