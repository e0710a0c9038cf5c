//! Scripted conversations with one skill, for skill authors
//! (`sandbot skill test SKILL.wasm CASES.yaml`), in the spirit of Errbot's
//! testbot and opsdroid's testing module. The skill runs in the real bot:
//! same runtime, matching, limits and SQLite memory, with the shell's outbox
//! captured instead of printed.
//!
//! ```yaml
//! user: alice            # who speaks, unless a case says otherwise
//! room: ops
//! settings: {greeting: Hi}        # the skill's own settings
//! memory: {alice: '{"room":"ops"}'}  # preset memory (the skill's keys)
//! allow: {http: ["http://127.0.0.1:9090"]}
//! limits: {time: 2s}
//! cases:
//!   - say: hello
//!     expect: Hello alice            # exactly this one answer
//!   - say: seen bob
//!     expect-match: "^I have not seen" # a regex per answer
//!   - say: nothing to see
//!     expect: []                     # no answer at all
//! ```

use crate::app::App;
use crate::bus::Delivery;
use crate::config::{self, Allow, ConfigError, Limits, SkillEntry};
use crate::event::{Event, Message, ResponseBody};
use crate::memory::{MemoryStore, Quota, SqliteMemory};
use anyhow::{Context, Result, bail};
use indexmap::IndexMap;
use serde::Deserialize;
use std::fmt;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Script {
    /// The skill's name (its memory namespace) [default: the file's stem].
    #[serde(default)]
    pub skill: Option<String>,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default = "default_room")]
    pub room: String,
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub memory: IndexMap<String, String>,
    #[serde(default)]
    pub secrets: IndexMap<String, String>,
    #[serde(default)]
    pub allow: Allow,
    #[serde(default)]
    pub limits: Option<Limits>,
    #[serde(default)]
    pub instance_reuse: u32,
    pub cases: Vec<Case>,
}

/// The connector the conversation happens on.
const SHELL: &str = "shell";

fn default_user() -> String {
    "alice".into()
}
fn default_room() -> String {
    "shell".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Case {
    #[serde(default)]
    pub name: Option<String>,
    pub say: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub room: Option<String>,
    /// The answers, exactly and in order.
    #[serde(default)]
    pub expect: Option<OneOrMany>,
    /// One regex per answer, in order.
    #[serde(default)]
    pub expect_match: Option<OneOrMany>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

impl Script {
    pub fn parse(text: &str, file: &Path) -> Result<Script, ConfigError> {
        let script: Script =
            serde_yaml_ng::from_str(text).map_err(|e| config::yaml_error(file, &e))?;
        for (i, case) in script.cases.iter().enumerate() {
            if case.expect.is_some() == case.expect_match.is_some() {
                return Err(ConfigError::whole_file(
                    file,
                    format!(
                        "cases[{i}] (`{}`): give exactly one of `expect` and `expect-match`",
                        case.say
                    ),
                ));
            }
            for re in case.expect_match.iter().flat_map(|m| m.list()) {
                if let Err(e) = regex::Regex::new(&re) {
                    return Err(ConfigError::whole_file(
                        file,
                        format!("cases[{i}].expect-match: {e}"),
                    ));
                }
            }
        }
        Ok(script)
    }

    pub fn load(path: &Path) -> Result<Script> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Script::parse(&text, path)?)
    }
}

/// What happened to one case.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub case: Case,
    pub answers: Vec<String>,
    /// `None` when the case passed.
    pub problem: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub skill: String,
    pub version: String,
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.problem.is_none())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        writeln!(
            f,
            "{} {}: {} cases",
            self.skill,
            self.version,
            self.outcomes.len()
        )?;
        for (i, o) in self.outcomes.iter().enumerate() {
            let label = o.case.name.clone().unwrap_or_else(|| o.case.say.clone());
            match &o.problem {
                None => writeln!(f, "  ok    {} {label}", i + 1)?,
                Some(p) => writeln!(f, "  FAIL  {} {label}: {p}", i + 1)?,
            }
        }
        let failed = self.outcomes.iter().filter(|o| o.problem.is_some()).count();
        write!(
            f,
            "{} passed, {failed} failed",
            self.outcomes.len() - failed
        )
    }
}

/// Loads `wasm` into a throwaway bot (its own database in a temporary
/// folder) and has the conversation.
pub async fn run(wasm: &Path, script: &Script) -> Result<Report> {
    let wasm = std::fs::canonicalize(wasm)
        .with_context(|| format!("cannot find the skill {}", wasm.display()))?;
    let name = match &script.skill {
        Some(n) => n.clone(),
        None => wasm
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .context("the skill file has no name")?,
    };
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let mut config = config::parse("connectors: {shell: {}}\n", &dir.path().join("cases.yaml"))?;
    config.data_dir = Some(dir.path().join("data"));
    config.logging.level = config::LogLevel::Warn;
    // Share the user's compile cache: Python and JavaScript skills take
    // seconds to compile, and tests are run again and again.
    config.runtime.cache_dir = Some(config::default_data_dir().join("cache"));
    config.secrets = script.secrets.clone();
    // The cases are about the skill's answers: a line it does not take is
    // answered by nothing, not by the bot's pointer to `help`.
    config.unmatched = config::Unmatched::Silent;
    config.skills.insert(
        name.clone(),
        SkillEntry {
            path: Some(wasm.clone()),
            limits: script.limits,
            allow: script.allow.clone(),
            settings: script.settings.clone(),
            instance_reuse: script.instance_reuse,
            // No HTTP server runs here: a webhook matcher is only loaded.
            webhook: config::WebhookSettings {
                public: true,
                ..Default::default()
            },
            ..SkillEntry::default()
        },
    );
    std::fs::create_dir_all(dir.path().join("data"))?;
    if !script.memory.is_empty() {
        let memory = SqliteMemory::open(&config.database_path())?;
        for (k, v) in &script.memory {
            memory.put(&name, k, v, Quota::UNLIMITED).await?;
        }
    }

    let mut app = App::start(config).await?;
    let loaded = app.catalog.current();
    let Some(skill) = loaded.get(&name) else {
        bail!("{} did not load; the log above says why", wasm.display());
    };
    let version = skill.manifest.version.clone();
    let mut outbox = app
        .take_outbox(SHELL)
        .context("the shell outbox is missing")?;

    let mut outcomes = Vec::new();
    for (i, case) in script.cases.iter().enumerate() {
        let user = case.user.clone().unwrap_or_else(|| script.user.clone());
        let event = Event::Message(Message {
            id: format!("case-{i}"),
            text: case.say.clone(),
            user_id: user.clone(),
            user,
            room: case.room.clone().unwrap_or_else(|| script.room.clone()),
            connector: SHELL.into(),
            thread: None,
            received_at: crate::event::now_ms(),
            addressed: true,
        });
        app.bot.dispatch(event).await;
        let mut answers = Vec::new();
        while let Ok(delivery) = outbox.try_recv() {
            let Delivery::Response(response) = delivery else {
                continue;
            };
            answers.push(match response.body {
                ResponseBody::Text(t) => t,
                ResponseBody::Reaction { emoji, .. } => format!("(reacts {emoji})"),
            });
        }
        let problem = check(case, &answers);
        outcomes.push(Outcome {
            case: case.clone(),
            answers,
            problem,
        });
    }
    Ok(Report {
        skill: name,
        version,
        outcomes,
    })
}

fn check(case: &Case, answers: &[String]) -> Option<String> {
    if let Some(expect) = &case.expect {
        let want = expect.list();
        return (want != answers).then(|| format!("expected {want:?}, got {answers:?}"));
    }
    let patterns = case.expect_match.as_ref()?.list();
    if patterns.len() != answers.len() {
        return Some(format!(
            "expected {} answer(s) matching {patterns:?}, got {answers:?}",
            patterns.len()
        ));
    }
    for (p, a) in patterns.iter().zip(answers) {
        // Checked when the script was read.
        let re = regex::Regex::new(p).expect("a valid regex");
        if !re.is_match(a) {
            return Some(format!("`{a}` does not match /{p}/"));
        }
    }
    None
}
