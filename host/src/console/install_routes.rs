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
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Install {
    reference: String,
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
            Json(json!({
                "id": p.id,
                "name": p.name,
                "version": p.version,
                "reference": format!("{}@{}", p.repository, p.digest),
                "digest": p.digest,
                "signed_by": p.signed_by,
                "asks_for": p.requests,
                "asks": p.requests.to_string(),
            }))
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
            Json(json!({
                "name": done.name,
                "sha256": done.sha256,
                "updated": done.update,
                "reload": done.reload,
            }))
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
