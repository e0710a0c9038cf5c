//! The operator's console: operator accounts and their roles
//! (`accounts`), sessions in cookies with a CSRF token (`sessions`), login
//! lockout (`lockout`), random tokens compared in constant time
//! (`secrets`), and the versioned JSON API under `/api/v1` that the
//! console's page (`page`, at `/console`) and scripts drive: who asks and
//! logging in (`api`), skills and uploads (`skill_routes`, uploads waiting
//! in `staged`), executions, connectors and the log (`watch_routes`), and
//! what acts through the bot as chat does (`command_routes`: commands go
//! through the dispatcher as the `console` connector's, `commands`). Off
//! unless `console:` is configured; see docs/console.md.

mod accounts;
mod api;
mod command_routes;
mod commands;
mod install_routes;
mod lockout;
mod page;
mod secrets;
mod sessions;
mod skill_routes;
mod staged;
mod watch_routes;

pub use accounts::{Account, Accounts, MIN_PASSWORD, Role};
pub use api::Console;
pub use commands::{CONNECTOR, Conversations};
pub use lockout::Lockout;
pub use sessions::{COOKIE, Sessions};
pub use staged::Staged;

use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// Every route of the console, sharing `console`.
pub fn routes(console: Arc<Console>) -> Router {
    use api::{login, logout, me};
    use command_routes::{command, validate_config};
    use skill_routes::{approve, disable, enable, reject, skills, upload};
    use watch_routes::{connectors, execution, executions, log, log_stream};
    Router::new()
        .route("/console", get(page::html))
        .route("/console/console.js", get(page::script))
        .route("/console/console.css", get(page::style))
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
        .route("/api/v1/installs", post(install_routes::stage))
        .route(
            "/api/v1/installs/{id}/approve",
            post(install_routes::approve),
        )
        .route("/api/v1/installs/{id}/reject", post(install_routes::reject))
        .route("/api/v1/connectors", get(connectors))
        .route("/api/v1/config/validate", post(validate_config))
        .route("/api/v1/log", get(log))
        .route("/api/v1/log/stream", get(log_stream))
        .route("/api/v1/executions", get(executions))
        .route("/api/v1/executions/{id}", get(execution))
        .with_state(console)
}
