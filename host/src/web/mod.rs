//! The bot's HTTP server (axum on tokio), shared by whatever mounts on it:
//! the websocket connector and its chat page, the webhooks of skills and
//! workflows through one gate (`webhook`, `POST /skill/<skill>/<path>` and
//! `POST /workflow/<name>`), the execution history API
//! (`api`); metrics later. `GET /` answers a small JSON status (the bot, its
//! connectors and their state, the skills loaded), like opsdroid's root
//! endpoint. A request the server cannot serve gets a 4xx with a one-line
//! reason. With `cert` and `key` it speaks HTTPS (rustls).
//!
//! What a client can cost is bounded (`web:` in the configuration):
//! connections, time for each step of a request (`server`, `tls`), body
//! bytes held at once (`body`), and which names and pages it answers at
//! all (`guard`).

pub mod api;
mod bearer;
pub mod body;
mod deliveries;
mod form;
mod guard;
pub mod metrics;
mod server;
mod tls;
pub mod webhook;

use crate::catalog::Catalog;
use crate::config::WebSettings;
use crate::connectors::Status;
use anyhow::{Context as _, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;

/// What `GET /` reports.
#[derive(Clone)]
pub struct StatusSource {
    pub catalog: Arc<Catalog>,
    /// Each connector's name, kind and state.
    pub connectors: Vec<(String, String, Status)>,
    /// This host among several (on a NATS bus).
    pub cluster: Option<Arc<crate::nats::hosts::Hosts>>,
}

/// Serves `routes` (what connectors mounted) plus `GET /`, until the
/// returned task is dropped or aborted. Returns the address it listens on.
pub async fn serve(
    settings: &WebSettings,
    routes: Router,
    status: StatusSource,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Router::new()
        .route("/", get(root))
        .with_state(Arc::new(status))
        .merge(routes)
        .fallback(not_found);
    let address = format!("{}:{}", settings.host, settings.port);
    let tls = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("web: give both `cert` and `key` for HTTPS, or neither"),
    };
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address} (web.host, web.port)"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "HTTPS" } else { "HTTP" };
    let server = server::Server::new(settings, app, tls);
    let (total, per_client) = server.limits();
    tracing::info!(
        "serving {scheme} on {local} (at most {total} connections, {per_client} from one address)"
    );
    if !loopback_only(settings) && settings.allowed_hosts.is_empty() {
        tracing::info!(
            "requests are answered when their Host is an IP address, localhost or {}: add the names clients use to web.allowed-hosts",
            settings.host
        );
    }
    let task = tokio::spawn(server::run(listener, Arc::new(server)));
    Ok((local, task))
}

/// Is the server reachable from this machine only?
pub fn loopback_only(settings: &WebSettings) -> bool {
    settings.loopback_only()
}

async fn root(State(status): State<Arc<StatusSource>>) -> impl IntoResponse {
    let set = status.catalog.current();
    let progress = status.catalog.progress();
    let mut skills: Vec<_> = set
        .skills
        .iter()
        .map(|s| {
            let mut skill = serde_json::json!({ "name": s.name, "version": s.manifest.version });
            if progress.compiling.contains(&s.name) {
                skill["compiling"] = true.into();
            }
            // Its newest file did not load: this version still serves.
            if let Some(error) = progress.failed.get(&s.name) {
                skill["error"] = error.as_str().into();
            }
            skill
        })
        .collect();
    skills.extend(
        progress
            .failed
            .iter()
            .filter(|(name, _)| set.get(name).is_none())
            .map(|(name, error)| serde_json::json!({ "name": name, "loaded": false, "error": error })),
    );
    let connectors: Vec<_> = status
        .connectors
        .iter()
        .map(|(name, kind, state)| {
            serde_json::json!({ "name": name, "type": kind, "state": state.get() })
        })
        .collect();
    let mut body = serde_json::json!({
        "name": "sandbot",
        "version": env!("CARGO_PKG_VERSION"),
        "connectors": connectors,
        "skills": skills,
    });
    if let Some(hosts) = &status.cluster {
        body["cluster"] = hosts.status_json().await;
    }
    axum::Json(body)
}

async fn not_found(uri: Uri) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}\n", crate::text::for_log(uri.path())),
    )
}
