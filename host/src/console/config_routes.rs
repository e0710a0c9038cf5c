//! The console's routes for the configuration: the one in effect, every
//! secret masked (`crate::config::shown`), and a change checked as
//! `sandbot config validate` checks it, changing nothing.

use super::accounts::Role;
use super::api::{Console, error};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

crate::with_schema! {
    /// The configuration in effect, masked.
    #[derive(Serialize)]
    pub(super) struct Shown {
        /// The file it was read from.
        file: Option<String>,
        /// As data, every secret `***`.
        configuration: serde_json::Value,
        /// The same as YAML.
        yaml: String,
    }
}

crate::with_schema! {
    /// What checking a configuration found.
    #[derive(Serialize)]
    pub(super) struct Verdict {
        valid: bool,
        /// Each naming the file in use and its line.
        errors: Vec<String>,
        notes: Vec<String>,
        summary: Option<String>,
    }
}

/// The configuration in effect, every secret masked as `***`: as data
/// (`configuration`) and as YAML (`yaml`), with the file it came from.
pub(super) async fn show_config(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let config = console.catalog.config();
    let shown = crate::config::shown::masked(&config);
    let yaml = if shown.is_null() {
        String::new()
    } else {
        serde_yaml_ng::to_string(&shown).unwrap_or_default()
    };
    Json(Shown {
        file: config.source.as_ref().map(|p| p.display().to_string()),
        configuration: shown,
        yaml,
    })
    .into_response()
}

/// Checks a configuration text as `sandbot config validate` would, beside
/// the one in use (so its relative paths mean the same), changing nothing:
/// `{"valid", "errors", "notes", "summary"}`, each error at its line.
pub(super) async fn validate_config(
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
        anyhow::Ok(Verdict {
            valid: verdict.errors.is_empty(),
            errors: verdict.errors.into_iter().map(named).collect(),
            notes: verdict.notes.into_iter().map(named).collect(),
            summary: verdict.summary,
        })
    })
    .await;
    match checked {
        Ok(Ok(verdict)) => Json(verdict).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
