//! Installing a skill from a registry in the console (admins): a reference
//! is pulled and checked and staged (`POST /api/v1/installs`, answering
//! what it asks for, its version, digest and signer, and the id of the
//! staged install); approving it (`…/{id}/approve`) writes and reloads
//! through the very code chat's `yes N` runs ([`crate::installs`]), and
//! rejecting it (`…/{id}/reject`) drops it. The staged installs are chat's
//! too: the console operator is the `console` connector's user of that
//! name, so only who staged an install approves it, here or with `yes N`
//! in the console's command box.

use super::accounts::Role;
use super::api::{Act, Console, Operator, error};
use super::commands::CONNECTOR;
use crate::event::Outcome;
use crate::installs::Asker;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

crate::with_schema! {
    /// A skill to pull: `HOST/REPO:TAG` or `HOST/REPO@sha256:…`.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Install {
        reference: String,
    }
}

crate::with_schema! {
    /// A staged install: what the skill is and asks for, and its id.
    #[derive(Serialize)]
    pub(super) struct Staged {
        id: u64,
        name: String,
        version: Option<String>,
        /// Pinned: `HOST/REPO@sha256:…`.
        reference: String,
        digest: String,
        /// The trusted key that verified it; none: unsigned, allowed.
        signed_by: Option<String>,
        /// The grants it asks for (`http`, `send`, `secrets`, `memory`).
        asks_for: serde_json::Value,
        /// The same, as a person reads it.
        asks: String,
    }
}

crate::with_schema! {
    /// What an approval did.
    #[derive(Serialize)]
    pub(super) struct Installed {
        name: String,
        sha256: String,
        /// It replaced an installed skill of that name.
        updated: bool,
        /// The reload's report.
        reload: String,
    }
}

/// The console operator as the installs know an asker.
fn asker(operator: &Operator) -> Asker<'_> {
    Asker {
        connector: CONNECTOR,
        user_id: &operator.account.name,
        user: &operator.account.name,
    }
}

/// Pulls and checks a skill, installing nothing: `{"id", "name",
/// "version", "reference", "digest", "signed_by", "asks_for", "asks"}`.
pub(super) async fn stage(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<Install>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Ok(Json(install)) = body else {
        return error(StatusCode::BAD_REQUEST, "send {\"reference\": …} as JSON");
    };
    // A reference is a line; the audit record shows it.
    let reference: String = install.reference.trim().chars().take(512).collect();
    let act = Act::new(
        operator.who(),
        "skill install",
        format!("skill install {reference}"),
        from,
    );
    match console.installs.stage(&reference, &asker(&operator)).await {
        Ok(p) => {
            console.audit(&act, Ok(()));
            Json(Staged {
                id: p.id,
                reference: format!("{}@{}", p.repository, p.digest),
                asks_for: serde_json::to_value(&p.requests).unwrap_or_default(),
                asks: p.requests.to_string(),
                name: p.name,
                version: p.version,
                digest: p.digest,
                signed_by: p.signed_by,
            })
            .into_response()
        }
        Err(why) => {
            console.audit(&act, Err((Outcome::Denied, why.clone())));
            error(StatusCode::UNPROCESSABLE_ENTITY, why)
        }
    }
}

/// Installs staged install `id` and reloads, as `yes N` does:
/// `{"name", "sha256", "updated", "reload"}`.
pub(super) async fn approve(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let act = Act::new(
        operator.who(),
        "skill install",
        format!("skill install approve {id}"),
        from,
    );
    match console.installs.approve(id, &asker(&operator)).await {
        Ok(done) => {
            console.audit(&act, Ok(()));
            Json(Installed {
                name: done.name,
                sha256: done.sha256,
                updated: done.update,
                reload: done.reload,
            })
            .into_response()
        }
        Err(why) => {
            console.audit(&act, Err((Outcome::Error, why.clone())));
            let status = if why.starts_with("no install of yours") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            error(status, why)
        }
    }
}

/// Drops staged install `id`, installing nothing.
pub(super) async fn reject(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let operator = match console.require(&headers, Role::Admin, true) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let Some(name) = console.installs.reject(id, &asker(&operator)) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no install of yours waits under id {id}"),
        );
    };
    console.audit(
        &Act::new(
            operator.who(),
            "skill install",
            format!("skill install reject {id} ({name})"),
            from,
        ),
        Ok(()),
    );
    StatusCode::NO_CONTENT.into_response()
}
