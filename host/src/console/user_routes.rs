//! The console's routes for accounts, an admin's: each account with its
//! role and linked chat identities, and the API tokens (never a password's
//! or a token's hash); adding one, changing its role, removing it, revoking
//! a token, linking and unlinking a chat identity. Each goes through the
//! very [`Accounts`](super::Accounts) call `sandbot admin` makes, and is an
//! audit record. An admin cannot remove or demote their own account (the
//! console would lock its last admin out).

use super::accounts::{Role, TokenInfo};
use super::api::{Act, Console, Operator, error};
use super::openapi::Route;
use crate::event::Outcome;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// This module's routes, for the console's one route table.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/api/v1/users", get(users))
            .role(Role::Admin)
            .says("each account, its role and linked identities, and the API tokens")
            .gives::<Users>(),
        Route::post("/api/v1/users", post(add))
            .role(Role::Admin)
            .says("add an account (sandbot admin add)")
            .takes::<NewUser>()
            .gives::<UserView>(),
        Route::post("/api/v1/users/{name}/role", post(change_role))
            .role(Role::Admin)
            .says("change an account's role, its password kept; not one's own")
            .takes::<RoleChange>()
            .gives::<UserView>(),
        Route::post("/api/v1/users/{name}/remove", post(remove))
            .role(Role::Admin)
            .says("remove an account and its links (sandbot admin remove); not one's own")
            .gives_nothing(),
        Route::post("/api/v1/users/{name}/link", post(link))
            .role(Role::Admin)
            .says("link a chat identity connector:user-id to the account (sandbot admin link)")
            .takes::<Identity>()
            .gives::<UserView>(),
        Route::post("/api/v1/users/{name}/unlink", post(unlink))
            .role(Role::Admin)
            .says("unlink a chat identity from the account (sandbot admin unlink)")
            .takes::<Identity>()
            .gives::<UserView>(),
        Route::post("/api/v1/tokens/{id}/revoke", post(revoke))
            .role(Role::Admin)
            .says("revoke an API token (sandbot admin token revoke)")
            .gives_nothing(),
    ]
}

crate::with_schema! {
    /// An account as an admin sees it.
    #[derive(Serialize)]
    pub(super) struct UserView {
        name: String,
        role: Role,
        links: Vec<String>,
    }
}

crate::with_schema! {
    /// An API token as listed: never its secret or its hash.
    #[derive(Serialize)]
    pub(super) struct TokenView {
        id: String,
        account: String,
        role: Role,
        note: String,
        created_at: u64,
        revoked: bool,
    }
}

crate::with_schema! {
    /// Each account and each API token.
    #[derive(Serialize)]
    pub(super) struct Users {
        users: Vec<UserView>,
        tokens: Vec<TokenView>,
    }
}

crate::with_schema! {
    /// An account to add.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct NewUser {
        name: String,
        role: Role,
        /// Its first password, at least [`super::MIN_PASSWORD`] characters.
        password: String,
    }
}

crate::with_schema! {
    /// An account's new role.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RoleChange {
        role: Role,
    }
}

crate::with_schema! {
    /// A chat identity, `connector:user-id` as a message carries it.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Identity {
        identity: String,
    }
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> TokenView {
        let TokenInfo {
            id,
            account,
            role,
            note,
            created_at,
            revoked,
        } = t;
        TokenView {
            id,
            account,
            role,
            note,
            created_at,
            revoked,
        }
    }
}

fn failed(e: anyhow::Error) -> Response {
    tracing::error!("console accounts: {e:#}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the accounts cannot be read or written",
    )
}

fn view(console: &Console, name: &str) -> Response {
    match (console.accounts.get(name), console.accounts.links_of(name)) {
        (Ok(Some(account)), Ok(links)) => Json(UserView {
            name: account.name,
            role: account.role,
            links,
        })
        .into_response(),
        (Ok(None), _) => error(
            StatusCode::NOT_FOUND,
            format!("there is no account `{name}`"),
        ),
        (Err(e), _) | (_, Err(e)) => failed(e),
    }
}

/// The audit record of `act`, and the answer: `done`'s, or the refusal's
/// (`status`, `why`).
fn answer(console: &Console, act: &Act, done: Result<Response, (StatusCode, String)>) -> Response {
    match done {
        Ok(response) => {
            console.audit(act, Ok(()));
            response
        }
        Err((status, why)) => {
            let outcome = if status.is_server_error() {
                Outcome::Error
            } else {
                Outcome::Denied
            };
            console.audit(act, Err((outcome, why.clone())));
            error(status, why)
        }
    }
}

fn bad(e: anyhow::Error) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, format!("{e:#}"))
}

pub(super) async fn users(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(refused) = console.require(&headers, Role::Admin, false) {
        return *refused;
    }
    let listed = console.accounts.list().and_then(|accounts| {
        let users = accounts
            .into_iter()
            .map(|a| {
                let links = console.accounts.links_of(&a.name)?;
                Ok(UserView {
                    name: a.name,
                    role: a.role,
                    links,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tokens = console.accounts.tokens()?;
        Ok(Users {
            users,
            tokens: tokens.into_iter().map(TokenView::from).collect(),
        })
    });
    match listed {
        Ok(users) => Json(users).into_response(),
        Err(e) => failed(e),
    }
}

pub(super) async fn add(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Ok(Json(new)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"name\": …, \"role\": viewer|operator|admin, \"password\": …} as JSON",
        );
    };
    let shown = crate::names::shown(&new.name);
    let act = Act::new(
        operator.who(),
        "user add",
        format!("user add {shown} as {}", new.role.as_str()),
        from,
    );
    // Hashing is slow on purpose (argon2id): off the runtime.
    let adding = console.clone();
    let NewUser {
        name,
        role,
        password,
    } = new;
    let added = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || adding.accounts.add(&name, role, &password, false))
            .await
    };
    let done = match added {
        Ok(Ok(())) => Ok(view(&console, &name)),
        Ok(Err(e)) => Err(bad(e)),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    };
    answer(&console, &act, done)
}

/// Refuses an admin's change to their own account.
fn not_own(operator: &Operator, name: &str) -> Result<(), (StatusCode, String)> {
    if operator.account.name == name {
        return Err((
            StatusCode::CONFLICT,
            "not your own account: another admin changes it (or `sandbot admin`)".into(),
        ));
    }
    Ok(())
}

fn missing(name: &str) -> (StatusCode, String) {
    (
        StatusCode::NOT_FOUND,
        format!("there is no account `{}`", crate::names::shown(name)),
    )
}

pub(super) async fn change_role(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RoleChange>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Ok(Json(RoleChange { role })) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"role\": viewer|operator|admin} as JSON",
        );
    };
    let act = Act::new(
        operator.who(),
        "user role",
        format!("user role {} {}", crate::names::shown(&name), role.as_str()),
        from,
    );
    let done =
        not_own(&operator, &name).and_then(|()| match console.accounts.set_role(&name, role) {
            Ok(true) => Ok(view(&console, &name)),
            Ok(false) => Err(missing(&name)),
            Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
        });
    answer(&console, &act, done)
}

pub(super) async fn remove(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let act = Act::new(
        operator.who(),
        "user remove",
        format!("user remove {}", crate::names::shown(&name)),
        from,
    );
    let done = not_own(&operator, &name).and_then(|()| match console.accounts.remove(&name) {
        Ok(true) => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(false) => Err(missing(&name)),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    });
    answer(&console, &act, done)
}

pub(super) async fn link(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Identity>, axum::extract::rejection::JsonRejection>,
) -> Response {
    relink(console, from, name, headers, body, true).await
}

pub(super) async fn unlink(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Identity>, axum::extract::rejection::JsonRejection>,
) -> Response {
    relink(console, from, name, headers, body, false).await
}

/// `sandbot admin link NAME IDENTITY` / `unlink IDENTITY` (only from
/// NAME: an identity linked to another account is not NAME's to unlink).
async fn relink(
    console: Arc<Console>,
    from: SocketAddr,
    name: String,
    headers: HeaderMap,
    body: Result<Json<Identity>, axum::extract::rejection::JsonRejection>,
    linking: bool,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Ok(Json(Identity { identity })) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"identity\": \"connector:user-id\"} as JSON",
        );
    };
    let verb = if linking { "link" } else { "unlink" };
    let act = Act::new(
        operator.who(),
        format!("user {verb}"),
        format!(
            "user {verb} {} {}",
            crate::names::shown(&name),
            crate::names::shown(&identity)
        ),
        from,
    );
    let accounts = &console.accounts;
    let done = if linking {
        accounts.link(&name, &identity).map_err(bad)
    } else {
        match accounts.links_of(&name) {
            Ok(links) if links.contains(&identity) => accounts
                .unlink(&identity)
                .map(|_| ())
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
            Ok(_) => Err((
                StatusCode::NOT_FOUND,
                format!("`{identity}` is not linked to `{name}`"),
            )),
            Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
        }
    };
    answer(&console, &act, done.map(|()| view(&console, &name)))
}

pub(super) async fn revoke(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let act = Act::new(
        operator.who(),
        "token revoke",
        format!("token revoke {}", crate::names::shown(&id)),
        from,
    );
    let done = match console.accounts.revoke_token(&id) {
        Ok(true) => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(false) => Err((StatusCode::NOT_FOUND, format!("there is no token `{id}`"))),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    };
    answer(&console, &act, done)
}
