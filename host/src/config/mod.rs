//! configuration.yaml: where it is found, `${VAR}` substitution, the typed
//! settings, and errors that say `file:line:column: what is wrong`.

mod bus;
mod connectors;
mod console;
mod databases;
mod diff;
mod env;
mod error;
mod load;
mod notify;
mod place;
mod registry;
mod secret;
pub mod shown;
mod skill;
mod web;
mod webhook;
mod workflow;

pub use crate::limits::{ByteSize, HumanDuration, Limits};
pub use bus::{BusSettings, NatsSettings, Role, Roles, default_host_name};
pub use connectors::ConnectorSection;
pub use console::ConsoleSettings;
pub use databases::{Databases, RedisSettings, SqliteSettings};
pub use diff::{ConfigChanges, changes};
pub use error::{ConfigError, yaml_error};
pub use load::{SEARCH_ORDER_HELP, load, locate, parse};
pub use notify::{
    ChannelSpec, Mailbox, NotificationSettings, Notify, NotifyRule, SmtpServer, SmtpTls, Template,
    WebhookUrl,
};
pub use place::key_place;
pub use registry::{Registries, RegistrySettings, TrustSettings, check_registry_key};
pub use secret::Secret;
pub use skill::{Ack, Allow, MatcherEntry, OperatorAlias, SkillEntry};
pub use web::{DEFAULT_MAX_CONNECTIONS, Origin, WebSettings, normal_host, split_host_port};
pub use webhook::WebhookSettings;
pub use workflow::WorkflowEntry;

use crate::grants::Grants;
use crate::identity::IdentityPattern;
use crate::outbound::OutboundPolicy;
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole configuration, with relative paths already resolved against the
/// directory of the file they came from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    #[serde(default)]
    pub logging: Logging,
    /// Who may run admin commands such as `reload`: `connector:user-id`
    /// patterns (a bare name is the shell's user).
    #[serde(default)]
    pub admins: Vec<IdentityPattern>,
    /// Named connector instances; each kind reads its own settings
    /// (`connectors::registry`).
    #[serde(default, deserialize_with = "connectors::sections")]
    pub connectors: IndexMap<String, ConnectorSection>,
    /// Where skills' memory is kept: SQLite unless `redis` is given.
    #[serde(default)]
    pub databases: Databases,
    /// The watched folder: every `.wasm` in it is a skill.
    #[serde(default)]
    pub skills_dir: Option<PathBuf>,
    /// The watched folder of workflow files [default: `workflows/` beside
    /// the skills folder].
    #[serde(default)]
    pub workflows_dir: Option<PathBuf>,
    /// Where the bot keeps its database and compiled-skill cache.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Per-skill settings, in the order that breaks ties between matchers.
    #[serde(default)]
    pub skills: IndexMap<String, SkillEntry>,
    /// Values skills may read only when their entry lists them under
    /// `allow.secrets`; usually `${ENV_VAR}`s.
    #[serde(default)]
    pub secrets: IndexMap<String, String>,
    #[serde(default)]
    pub runtime: RuntimeSettings,
    /// The HTTP server (status, the websocket connector and its page). It
    /// runs when this section is there or a connector needs it.
    #[serde(default)]
    pub web: Option<WebSettings>,
    /// The operator's console and its API (`/api/v1`); off when absent.
    #[serde(default)]
    pub console: Option<ConsoleSettings>,
    /// What a message said to the bot that nothing takes is answered.
    #[serde(default)]
    pub unmatched: Unmatched,
    /// Execution history: kept, findable, served.
    #[serde(default)]
    pub history: HistorySettings,
    /// `GET /metrics`: who may scrape.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// What the configuration says of each workflow (its `notify:`).
    #[serde(default)]
    pub workflows: IndexMap<String, WorkflowEntry>,
    /// Where execution notices go (`notify:` on skills and aliases).
    #[serde(default)]
    pub notifications: NotificationSettings,
    /// How events reach the skills: in-process (`local`) or over NATS
    /// JetStream between several hosts (`nats`).
    #[serde(default)]
    pub bus: BusSettings,
    /// What this host runs: `connectors`, `workers`, or both [default].
    #[serde(default)]
    pub roles: Roles,
    /// The keys a skill installed from a registry must be signed with.
    #[serde(default)]
    pub trust: TrustSettings,
    /// Each OCI registry skills are installed from, by `host[:port]`.
    #[serde(default)]
    pub registries: Registries,
    /// The file this was read from; `None` for built-in defaults.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// Its text after `${VAR}` substitution, which connector kinds read
    /// their settings from (with positions for errors).
    #[serde(skip)]
    pub text: Option<std::sync::Arc<str>>,
    /// The values `${VAR}` put in its text, kept only to mask them where
    /// the configuration is shown (`shown`).
    #[serde(skip)]
    pub substituted: Vec<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Logging {
    #[serde(default)]
    pub level: LogLevel,
    /// Log to stderr (responses go to stdout, so the two never mix).
    #[serde(default = "yes")]
    pub console: bool,
    /// Also append the log to this file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// How the file's lines are written: `text` as on the console, or
    /// `json`, one object a line with the fields of the spans it happened
    /// in (the event's and the execution's ids among them).
    #[serde(default)]
    pub format: LogFormat,
}

/// What a message said to the bot (a direct conversation, or a mention)
/// that no command or skill takes gets, as Errbot's "command not found":
/// never silence by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unmatched {
    /// The nearest commands when one is a likely slip, else a pointer to
    /// `help`.
    #[default]
    Help,
    /// The nearest commands when one is a likely slip, else nothing.
    Suggest,
    /// Nothing.
    Silent,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            level: LogLevel::default(),
            console: true,
            path: None,
            format: LogFormat::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HistorySettings {
    /// Keep every execution record [default: true].
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The database file [default: `<data-dir>/history.db`].
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Records older than this are deleted [default: 30d].
    #[serde(default = "default_history_age")]
    pub max_age: HumanDuration,
    /// At most this many records are kept, the newest [default: 100000].
    #[serde(default = "default_history_count")]
    pub max_count: u64,
    /// At most this many bytes of records (their JSON) are kept, the
    /// newest [default: 256MiB].
    #[serde(default = "default_history_bytes")]
    pub max_bytes: ByteSize,
    /// The longest text a record keeps of any one field (a message, a
    /// capture, an answer, an error); longer ones are cut and marked
    /// [default: 4KiB, at least 64B].
    #[serde(default = "default_history_text")]
    pub max_text: ByteSize,
    /// The bearer token `GET /api/executions` wants; without one the API
    /// is off.
    #[serde(default)]
    pub token: Option<Secret>,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            enabled: true,
            path: None,
            max_age: default_history_age(),
            max_count: default_history_count(),
            max_bytes: default_history_bytes(),
            max_text: default_history_text(),
            token: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MetricsSettings {
    /// With a token, `GET /metrics` wants `Authorization: Bearer <token>`
    /// (as the history API does); without, anyone who reaches the server
    /// may scrape. Written empty (an unset `${VAR:-}`), it admits no one.
    #[serde(default, deserialize_with = "secret::present")]
    pub token: Option<Secret>,
}

fn default_history_age() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30 * 86_400))
}
fn default_history_count() -> u64 {
    100_000
}
fn default_history_bytes() -> ByteSize {
    ByteSize(crate::history::DEFAULT_MAX_BYTES)
}
fn default_history_text() -> ByteSize {
    ByteSize(crate::history::DEFAULT_MAX_TEXT as u64)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    #[serde(alias = "warning")]
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuntimeSettings {
    /// Events handled at once; more wait their turn.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Reuse compiled skills across restarts.
    #[serde(default = "yes")]
    pub compile_cache: bool,
    /// Limits for skills whose entry sets none.
    #[serde(default)]
    pub default_limits: Limits,
    /// Where compiled skills are cached [default: `<data-dir>/cache`].
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// On SIGTERM (or when a piped shell's input ends), how long running
    /// executions may take to finish; those still running then are stopped
    /// and recorded as `interrupted` [default: 10s].
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: HumanDuration,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            max_in_flight: default_max_in_flight(),
            compile_cache: true,
            default_limits: Limits::default(),
            cache_dir: None,
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

fn default_shutdown_grace() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn yes() -> bool {
    true
}
fn default_max_in_flight() -> usize {
    256
}

impl Config {
    /// The folder of the file, against which relative paths are resolved.
    pub fn base_dir(&self) -> PathBuf {
        self.source
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    pub fn database_path(&self) -> PathBuf {
        self.databases
            .sqlite
            .as_ref()
            .and_then(|s| s.path.clone())
            .unwrap_or_else(|| self.data_dir().join("memory.db"))
    }

    /// The console's operator accounts.
    pub fn console_path(&self) -> PathBuf {
        self.data_dir().join("console.db")
    }

    pub fn history_path(&self) -> PathBuf {
        self.history
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir().join("history.db"))
    }

    /// The workflows folder: `workflows-dir`, else `workflows/` beside the
    /// skills folder.
    pub fn workflows_folder(&self) -> Option<PathBuf> {
        self.workflows_dir
            .clone()
            .or_else(|| Some(self.skills_dir.as_deref()?.parent()?.join("workflows")))
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.runtime
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("cache"))
    }

    /// Makes every relative path absolute against the config file's folder,
    /// so the bot behaves the same whatever directory it was started from.
    fn resolve_paths(&mut self) {
        let base = self.base_dir();
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.skills_dir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.data_dir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.workflows_dir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.logging.path.as_mut() {
            fix(p);
        }
        if let Some(p) = self.runtime.cache_dir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.history.path.as_mut() {
            fix(p);
        }
        if let Some(web) = self.web.as_mut() {
            web.cert.iter_mut().chain(web.key.iter_mut()).for_each(fix);
        }
        if let Some(p) = self.databases.sqlite.as_mut().and_then(|s| s.path.as_mut()) {
            fix(p);
        }
        for entry in self.skills.values_mut() {
            if let Some(p) = entry.path.as_mut() {
                fix(p);
            }
        }
        self.trust.keys.iter_mut().for_each(fix);
    }

    /// The secrets `name` may read, by name.
    pub fn granted_secrets(&self, name: &str) -> IndexMap<String, String> {
        self.grants(name).secrets
    }

    /// Everything skill `name` is granted: its entry's `allow`, or nothing
    /// for a skill found only in the skills folder.
    pub fn grants(&self, name: &str) -> Grants {
        let empty = Allow::default();
        let allow = self.skills.get(name).map_or(&empty, |e| &e.allow);
        self.grants_from(allow)
    }

    /// The grants an `allow` section gives, with secrets resolved against
    /// the top-level `secrets:`.
    pub fn grants_from(&self, allow: &Allow) -> Grants {
        Grants {
            http: OutboundPolicy::new(allow.http.clone()),
            secrets: allow
                .secrets
                .iter()
                .filter_map(|s| Some((s.clone(), self.secrets.get(s)?.clone())))
                .collect(),
            withheld_secrets: self
                .secrets
                .keys()
                .filter(|k| !allow.secrets.contains(k))
                .cloned()
                .collect(),
            send: allow.send.clone(),
            connector_kinds: std::sync::Arc::new(
                self.connectors
                    .iter()
                    .map(|(name, section)| (name.clone(), section.kind.clone()))
                    .collect(),
            ),
        }
    }

    /// Is `user_id` on `connector` an admin? By stable id, never by name:
    /// named in `admins:`, or linked to an admin account of the console.
    pub fn is_admin(&self, connector: &str, user_id: &str) -> bool {
        self.admins.iter().any(|a| a.fits(connector, user_id))
            || crate::identity::is_linked_admin(connector, user_id)
    }
}

/// `$XDG_DATA_HOME/sandbot`, else `~/.local/share/sandbot`.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("sandbot");
    }
    home_dir().join(".local/share/sandbot")
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}
