//! The operator's console: operator accounts and their roles
//! (`accounts`), sessions in cookies with a CSRF token (`sessions`), login
//! lockout (`lockout`), random tokens compared in constant time
//! (`secrets`), and the versioned JSON API under `/api/v1` that the
//! console's page (`page`, at `/console`) and scripts drive: who asks and
//! logging in (`api`), chat identities linked to accounts (`links`), skills and uploads (`skill_routes`, uploads waiting
//! in `staged`), executions, connectors and the log (`watch_routes`), and
//! workflows, their runs and answering them as chat does
//! (`workflow_routes`), the configuration, masked, and a change checked
//! (`config_routes`), what acts through the bot as chat does (`command_routes`: commands go
//! through the dispatcher as the `console` connector's, `commands`). Every
//! route is declared once (`openapi`): the router and the OpenAPI document
//! at `/api/v1/openapi.json` are made from that one list. Off unless
//! `console:` is configured; see docs/console.md.
//! Accounts, links and tokens from the console are `user_routes`' (an
//! admin's); an execution record's schema is `record_schema`'s.

mod accounts;
mod api;
mod command_routes;
mod commands;
mod config_routes;
mod install_routes;
mod links;
mod lockout;
mod openapi;
mod page;
mod record_schema;
mod secrets;
mod sessions;
mod skill_routes;
mod staged;
mod user_routes;
mod watch_routes;
mod workflow_routes;

pub use accounts::{Account, Accounts, MIN_PASSWORD, Role};
pub use api::Console;
pub use commands::{CONNECTOR, Conversations};
pub use links::follow_links;
pub use lockout::Lockout;
pub use sessions::{COOKIE, Sessions};
pub use staged::Staged;

use axum::Router;
use axum::routing::{get, post};
use openapi::Route;
use std::sync::Arc;

/// Every route of the console, once each; `openapi` serves the document.
fn table(openapi: axum::routing::MethodRouter<Arc<Console>>) -> Vec<Route> {
    use Role::{Admin, Operator, Viewer};
    use api::{Login, login, logout, me};
    use command_routes::{Command, command};
    use config_routes::{show_config, validate_config};
    use skill_routes::{approve, disable, enable, reject, skills, upload};
    use watch_routes::{LogFilter, connectors, execution, executions, log, log_stream};
    use workflow_routes as wf;
    let upload_limit =
        axum::extract::DefaultBodyLimit::max(crate::skill_file::MAX_COMPONENT_BYTES as usize);
    vec![
        Route::get("/console", get(page::html)).says("the console's page").gives_file("text/html"),
        Route::get("/console/console.js", get(page::script))
            .says("the page's script")
            .gives_file("text/javascript"),
        Route::get("/console/console.css", get(page::style))
            .says("the page's style")
            .gives_file("text/css"),
        Route::get("/api/v1/openapi.json", openapi).says("this document"),
        Route::post("/api/v1/login", post(login))
            .says("log in: the session cookie, and the CSRF token; 429 while locked")
            .takes::<Login>()
            .gives::<api::LoggedIn>(),
        Route::post("/api/v1/logout", post(logout))
            .role(Viewer)
            .says("end the session")
            .gives_nothing(),
        Route::get("/api/v1/me", get(me))
            .role(Viewer)
            .says("who is logged in")
            .gives::<api::Me>(),
        Route::get("/api/v1/skills", get(skills))
            .role(Viewer)
            .says("each skill")
            .gives::<skill_routes::Skills>(),
        Route::post("/api/v1/skills/{name}/enable", post(enable))
            .role(Operator)
            .says("skill enable NAME")
            .gives::<skill_routes::Turned>(),
        Route::post("/api/v1/skills/{name}/disable", post(disable))
            .role(Operator)
            .says("skill disable NAME")
            .gives::<skill_routes::Turned>(),
        Route::post("/api/v1/skills/{name}/upload", post(upload).layer(upload_limit))
            .role(Admin)
            .says("check a .wasm as skill NAME, serving nothing; 422 if it would not load")
            .takes_bytes("application/wasm")
            .gives::<skill_routes::Preview>(),
        Route::post("/api/v1/uploads/{id}/approve", post(approve))
            .role(Admin)
            .says("install an upload make-before-break")
            .gives::<skill_routes::Installed>(),
        Route::post("/api/v1/uploads/{id}/reject", post(reject))
            .role(Admin)
            .says("drop an upload")
            .gives_nothing(),
        Route::post("/api/v1/commands", post(command))
            .role(Operator)
            .says("say a command as console:NAME")
            .takes::<Command>()
            .gives::<command_routes::Answers>(),
        Route::get("/api/v1/connectors", get(connectors))
            .role(Viewer)
            .says("each connector's state, and on several hosts each host")
            .gives::<watch_routes::Connectors>(),
        Route::get("/api/v1/config", get(show_config))
            .role(Viewer)
            .says("the configuration in effect, every secret masked")
            .gives::<config_routes::Shown>(),
        Route::post("/api/v1/config/validate", post(validate_config))
            .role(Admin)
            .says("check a configuration text, changing nothing")
            .takes_bytes("text/yaml")
            .gives::<config_routes::Verdict>(),
        Route::get("/api/v1/log", get(log))
            .role(Viewer)
            .says("the bot's recent log lines, each the JSON object it was written as")
            .query::<LogFilter>()
            .gives::<Vec<watch_routes::LogLine>>(),
        Route::get("/api/v1/log/stream", get(log_stream))
            .role(Viewer)
            .says("the log as it is written")
            .query::<LogFilter>()
            .gives_events(),
        Route::get("/api/v1/executions", get(executions))
            .role(Viewer)
            .says("the history, newest first, filtered")
            .query::<crate::web::api::Params>()
            .gives::<Vec<crate::event::Execution>>(),
        Route::get("/api/v1/executions/{id}", get(execution))
            .role(Viewer)
            .says("one execution, a workflow run's tasks under children")
            .gives::<record_schema::WithChildren>(),
        Route::get("/api/v1/workflows", get(wf::workflows))
            .role(Viewer)
            .says("the loaded workflows")
            .gives::<wf::Definitions>(),
        Route::get("/api/v1/workflows/runs", get(wf::runs))
            .role(Viewer)
            .says("the last runs, newest first")
            .query::<wf::RunsQuery>()
            .gives::<wf::Runs>(),
        Route::get("/api/v1/workflows/runs/{id}", get(wf::run))
            .role(Viewer)
            .says("one run with its task graph")
            .gives::<crate::workflow::RunView>(),
        Route::post("/api/v1/workflows/runs/{id}/approve", post(wf::approve))
            .role(Operator)
            .says("approve ID as console:NAME; 403 when the lists do not let it, 409 when nothing waits")
            .takes::<wf::Decision>()
            .gives::<wf::Answered>(),
        Route::post("/api/v1/workflows/runs/{id}/deny", post(wf::deny))
            .role(Operator)
            .says("deny ID as console:NAME; 403 when the lists do not let it, 409 when nothing waits")
            .takes::<wf::Decision>()
            .gives::<wf::Answered>(),
        Route::post("/api/v1/workflows/runs/{id}/cancel", post(wf::cancel))
            .role(Operator)
            .says("workflow cancel ID as console:NAME; 403 when not allowed, 409 when not running")
            .gives::<wf::Answered>(),
        Route::post("/api/v1/installs", post(install_routes::stage))
            .role(Admin)
            .says("skill install REF: pull and check a skill from a registry, installing nothing; 422 with why when refused")
            .takes::<install_routes::Install>()
            .gives::<install_routes::Staged>(),
        Route::post("/api/v1/installs/{id}/approve", post(install_routes::approve))
            .role(Admin)
            .says("yes ID: install what you staged and reload; 404 when nothing of yours waits under ID")
            .gives::<install_routes::Installed>(),
        Route::post("/api/v1/installs/{id}/reject", post(install_routes::reject))
            .role(Admin)
            .says("drop what you staged under ID; 404 when nothing of yours waits")
            .gives_nothing(),
    ]
    .into_iter()
    .chain(user_routes::routes())
    .collect()
}

/// Each route the console serves, as (method, path): the same list the
/// router and the OpenAPI document are made from.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    table(get(|| async {}))
        .iter()
        .map(|r| (r.method, r.path))
        .collect()
}

/// Every route of the console, sharing `console`.
pub fn routes(console: Arc<Console>) -> Router {
    let document = Arc::new(openapi::document(&table(get(|| async {}))));
    let serve = get(move || {
        let document = document.clone();
        async move { axum::Json((*document).clone()) }
    });
    table(serve)
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, route.handler)
        })
        .with_state(console)
}
