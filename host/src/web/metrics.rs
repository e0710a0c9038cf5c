//! `GET /metrics`: the bot's Prometheus metrics (`observe::Metrics`), with
//! what is read at scrape time (events in flight, skills loaded, connector
//! states) filled in first. With `metrics.token` a scrape must carry
//! `Authorization: Bearer <token>` (`bearer`, as the history API).

use super::bearer::Bearer;
use crate::bot::Bot;
use crate::catalog::Catalog;
use crate::connectors::Status;
use crate::nats::hosts::Hosts;
use crate::observe::{BusSnapshot, Metrics, Snapshot};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

struct Scrape {
    metrics: Arc<Metrics>,
    bot: Arc<Bot>,
    catalog: Arc<Catalog>,
    connectors: Vec<(String, Status)>,
    cluster: Option<Arc<Hosts>>,
    /// `metrics.token`, when configured.
    bearer: Option<Bearer>,
}

pub fn routes(
    metrics: Arc<Metrics>,
    bot: Arc<Bot>,
    catalog: Arc<Catalog>,
    connectors: Vec<(String, Status)>,
    cluster: Option<Arc<Hosts>>,
    token: Option<String>,
) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Arc::new(Scrape {
            metrics,
            bot,
            catalog,
            connectors,
            cluster,
            bearer: token.map(|t| Bearer::new(t, "metrics.token")),
        }))
}

async fn scrape(State(s): State<Arc<Scrape>>, headers: HeaderMap) -> Response {
    if let Some(bearer) = &s.bearer
        && !bearer.admits(&headers)
    {
        return bearer.refuse();
    }
    let states: Vec<(String, String)> = s
        .connectors
        .iter()
        .map(|(name, status)| (name.clone(), status.get()))
        .collect();
    let bus = match &s.cluster {
        Some(hosts) => {
            let status = hosts.status();
            let (pending, ack_pending) = hosts.cluster().lag().await.unwrap_or((0, 0));
            Some(BusSnapshot {
                host: status.host,
                roles: status.roles,
                connected: status.bus == "connected",
                pending,
                ack_pending,
                leases: status.leases,
            })
        }
        None => None,
    };
    let snapshot = Snapshot {
        in_flight: s.bot.in_flight(),
        skills: s.catalog.current().skills.len(),
        loads: s.catalog.load_counts(),
        connectors: states
            .iter()
            .map(|(name, state)| (name.as_str(), is_up(state)))
            .collect(),
        bus,
    };
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(snapshot),
    )
        .into_response()
}

/// A connector's state as up or not: anything but on its way (starting,
/// connecting, logging in, reconnecting) or stopped.
fn is_up(state: &str) -> bool {
    ![
        "starting",
        "connecting",
        "logging in",
        "reconnecting",
        "stopped",
    ]
    .iter()
    .any(|s| state.starts_with(s))
}
