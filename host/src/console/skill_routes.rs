//! The console's routes for skills: each skill as an operator sees it (its
//! state, what it answers to, its grants and limits as a person reads
//! them), turning one off or on, and an upload an admin sees before
//! approving it.

use super::accounts::Role;
use super::api::{Act, Console, error};
use crate::config::Config;
use crate::event::Outcome;
use crate::manifest::MatcherKind;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

crate::with_schema! {
    /// A skill as an operator sees it; one that failed to load has only its
    /// name, state and error.
    #[derive(Serialize)]
    pub(super) struct SkillView {
        name: String,
        version: Option<String>,
        description: Option<String>,
        sha256: Option<String>,
        /// `serving`, `disabled`, `compiling` or `failed`.
        state: String,
        error: Option<String>,
        /// A new file of it that failed while this version serves.
        new_file_failed: Option<String>,
        grants: Vec<String>,
        matchers: Vec<MatcherView>,
        /// Its last few executions, newest first (none with the history off).
        recent: Vec<Ran>,
        /// What it keeps in its memory, as its quota counts it; absent when
        /// the store cannot be read.
        memory: Option<Kept>,
    }
}

crate::with_schema! {
    /// What a skill keeps in its memory: keys, and their bytes (keys and
    /// values), against its quota's.
    #[derive(Serialize)]
    pub(super) struct Kept {
        keys: u64,
        bytes: u64,
        max_keys: u64,
        max_bytes: u64,
    }
}

/// What `skill` keeps, against its limits; `None` (said in the log) when
/// the store cannot be read.
async fn kept(console: &Console, config: &Config, skill: &str) -> Option<Kept> {
    let limits = config
        .skills
        .get(skill)
        .and_then(|e| e.limits)
        .unwrap_or(config.runtime.default_limits);
    match console.memory.stored(skill).await {
        Ok(stored) => Some(Kept {
            keys: stored.keys,
            bytes: stored.bytes,
            max_keys: limits.stored_keys,
            max_bytes: limits.stored_bytes.0,
        }),
        Err(e) => {
            tracing::warn!(skill, "reading a skill's memory usage: {e:#}");
            None
        }
    }
}

crate::with_schema! {
    /// One execution of a skill, as its row shows it.
    #[derive(Serialize)]
    pub(super) struct Ran {
        id: String,
        outcome: crate::event::Outcome,
        /// Milliseconds since the Unix epoch.
        started_at: u64,
        /// How long it took, in microseconds.
        micros: u64,
        error: Option<String>,
    }
}

/// How many of each skill's last executions the skills answer shows.
const RECENT_RUNS: usize = 5;

/// Each skill's last [`RECENT_RUNS`] executions, newest first, read in one
/// query; none when the history is off or cannot be read (said in the log).
async fn recent_runs(console: &Console) -> HashMap<String, Vec<Ran>> {
    let Some(history) = console.history.clone() else {
        return HashMap::new();
    };
    let read = tokio::task::spawn_blocking(move || history.last_of_each_skill(RECENT_RUNS)).await;
    let records = match read {
        Ok(Ok(records)) => records,
        Ok(Err(e)) => {
            tracing::warn!("the skills' last executions: {e:#}");
            return HashMap::new();
        }
        Err(e) => {
            tracing::warn!("the skills' last executions: {e}");
            return HashMap::new();
        }
    };
    let mut out: HashMap<String, Vec<Ran>> = HashMap::new();
    for e in records {
        out.entry(e.skill).or_default().push(Ran {
            id: e.id,
            outcome: e.outcome,
            started_at: e.started_at,
            micros: e.micros,
            error: e.error,
        });
    }
    out
}

crate::with_schema! {
    /// Each skill.
    #[derive(Serialize)]
    pub(super) struct Skills {
        skills: Vec<SkillView>,
    }
}

crate::with_schema! {
    /// A matcher as one line of text, and its help.
    #[derive(Serialize)]
    pub(super) struct MatcherView {
        id: String,
        kind: String,
        help: String,
    }
}

crate::with_schema! {
    /// A skill turned on or off.
    #[derive(Serialize)]
    pub(super) struct Turned {
        name: String,
        state: String,
        /// False when it was so already.
        changed: bool,
    }
}

crate::with_schema! {
    /// An upload checked, waiting for an admin.
    #[derive(Serialize)]
    pub(super) struct Preview {
        /// What approves or rejects it.
        id: String,
        name: String,
        version: String,
        description: String,
        sha256: String,
        /// The version it replaces, if NAME serves.
        replaces: Option<String>,
        matchers: Vec<MatcherView>,
        grants: Vec<String>,
    }
}

crate::with_schema! {
    /// An upload installed.
    #[derive(Serialize)]
    pub(super) struct Installed {
        name: String,
        sha256: String,
        /// What the load did, as `skill reload` says it.
        change: String,
        uploaded_by: String,
    }
}

fn matchers(manifest: &crate::manifest::Manifest) -> Vec<MatcherView> {
    manifest
        .matchers
        .iter()
        .map(|m| MatcherView {
            id: m.id.clone(),
            kind: kind(&m.kind),
            help: m.help.clone(),
        })
        .collect()
}

/// Each skill as an operator sees it: what serves, what is off, what is
/// compiling, what failed to load (and why), and what it answers to.
pub(super) async fn skills(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(refused) = console.require(&headers, Role::Viewer, false) {
        return *refused;
    }
    let set = console.catalog.current();
    let progress = console.catalog.progress();
    let config = console.catalog.config();
    let mut recent = recent_runs(&console).await;
    let mut out: Vec<SkillView> = set
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
            SkillView {
                name: skill.name.clone(),
                version: Some(skill.manifest.version.clone()),
                description: Some(skill.manifest.description.clone()),
                sha256: Some(skill.sha256.clone()),
                state: state.into(),
                error: None,
                new_file_failed: progress.failed.get(&skill.name).cloned(),
                grants: grants(&config, &skill.name),
                matchers: matchers(&skill.manifest),
                recent: recent.remove(&skill.name).unwrap_or_default(),
                memory: None,
            }
        })
        .collect();
    for (name, why) in &progress.failed {
        if set.get(name).is_none() {
            out.push(SkillView {
                name: name.clone(),
                version: None,
                description: None,
                sha256: None,
                state: "failed".into(),
                error: Some(why.clone()),
                new_file_failed: None,
                grants: Vec::new(),
                matchers: Vec::new(),
                recent: recent.remove(name).unwrap_or_default(),
                memory: None,
            });
        }
    }
    // Each skill's memory, asked of the store all at once.
    let usage = out.iter().map(|s| kept(&console, &config, &s.name));
    let usage = futures::future::join_all(usage).await;
    for (view, kept) in out.iter_mut().zip(usage) {
        view.memory = kept;
    }
    Json(Skills { skills: out }).into_response()
}

/// What a skill may do, as a person reads it: what it may reach, where it
/// may speak, which secrets it reads, and its limits.
pub(super) fn grants(config: &Config, skill: &str) -> Vec<String> {
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
pub(super) fn kind(kind: &MatcherKind) -> String {
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

pub(super) async fn enable(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    turn(console, from, name, headers, true).await
}

pub(super) async fn disable(
    State(console): State<Arc<Console>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    turn(console, from, name, headers, false).await
}

/// `skill enable NAME` / `skill disable NAME`, as chat's admins say it.
pub(super) async fn turn(
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
    let act = Act::new(
        operator.who(),
        &matcher,
        format!("{matcher} {}", crate::names::shown(&name)),
        from,
    );
    match console.catalog.set_enabled(&name, enabled).await {
        Ok(already) => {
            console.audit(&act, Ok(()));
            let state = if enabled { "serving" } else { "disabled" };
            Json(Turned {
                name,
                state: state.into(),
                changed: !already,
            })
            .into_response()
        }
        Err(why) => {
            console.audit(&act, Err((Outcome::Error, why.clone())));
            error(StatusCode::NOT_FOUND, why)
        }
    }
}

/// Checks an uploaded `.wasm` as skill NAME exactly as a file dropped into
/// the skills folder would be, serves nothing, and answers what an admin
/// approves: its manifest, its grants, what it replaces, and the id to
/// approve or reject it by.
pub(super) async fn upload(
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
    let act = Act::new(
        operator.who(),
        "skill upload",
        format!("skill upload {}", crate::names::shown(&name)),
        from,
    );
    let skill = match console.catalog.preview(&name, body.to_vec()).await {
        Ok(skill) => skill,
        Err(why) => {
            console.audit(&act, Err((Outcome::Error, why.clone())));
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
    console.audit(&act, Ok(()));
    Json(Preview {
        id,
        name: name.clone(),
        version: skill.manifest.version.clone(),
        description: skill.manifest.description.clone(),
        sha256: skill.sha256.clone(),
        replaces,
        matchers: matchers(&skill.manifest),
        grants: grants(&config, &name),
    })
    .into_response()
}

/// Puts an approved upload where its skill loads from, and loads it.
pub(super) async fn approve(
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
    let act = Act::new(
        operator.who(),
        "skill install",
        format!("skill install {} {}", upload.name, &upload.sha256[..12]),
        from,
    );
    match console.catalog.install(&upload.name, &upload.bytes).await {
        Ok(change) => {
            let failed = matches!(change, crate::catalog::Change::Failed { .. });
            let what = change.to_string();
            let result = if failed {
                Err((Outcome::Error, what.clone()))
            } else {
                Ok(())
            };
            console.audit(&act, result);
            let status = if failed {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            let installed = Installed {
                name: upload.name,
                sha256: upload.sha256,
                change: what,
                uploaded_by: upload.by,
            };
            (status, Json(installed)).into_response()
        }
        Err(why) => {
            console.audit(&act, Err((Outcome::Error, why.clone())));
            error(StatusCode::INTERNAL_SERVER_ERROR, why)
        }
    }
}

pub(super) async fn reject(
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
        &Act::new(operator.who(), "skill reject", action, from),
        Ok(()),
    );
    StatusCode::NO_CONTENT.into_response()
}
