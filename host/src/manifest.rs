//! What a skill declares about itself (`describe`), in the bot's own types,
//! and the checks a manifest must pass: it comes from an untrusted skill and
//! its words end up in chat (`help`, `reload`) and in the log.

use crate::text::is_dangerous;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub matchers: Vec<MatcherSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatcherSpec {
    pub id: String,
    pub kind: MatcherKind,
    pub help: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatcherKind {
    Regex {
        pattern: String,
        case_sensitive: bool,
    },
    ParseFormat(String),
    ActionAlias(AliasSpec),
    Crontab {
        expression: String,
        timezone: Option<String>,
    },
    EventType(EventKind),
    Webhook(String),
    Always,
    CatchAll,
}

/// A StackStorm-style action alias: its format, and what an operator's
/// alias in configuration.yaml adds to it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AliasSpec {
    /// `deploy {{app}} to {{env=staging}}` (see `matching::alias`).
    pub format: String,
    /// Parameters the operator fixed: they win over what the message says.
    pub parameters: Vec<(String, String)>,
    /// Said at once when the alias matches: a minijinja template over the
    /// parameters, `user` and `room`.
    pub ack: Option<String>,
    /// Every place it fits in one message runs once (`match-multiple`).
    pub multiple: bool,
}

impl AliasSpec {
    /// A skill's own alias: a format and nothing else.
    pub fn new(format: impl Into<String>) -> AliasSpec {
        AliasSpec {
            format: format.into(),
            ..AliasSpec::default()
        }
    }
}

impl MatcherKind {
    /// The kind's name as configuration and logs spell it.
    pub fn name(&self) -> &'static str {
        match self {
            MatcherKind::Regex { .. } => "regex",
            MatcherKind::ParseFormat(_) => "parse-format",
            MatcherKind::ActionAlias(_) => "action-alias",
            MatcherKind::Crontab { .. } => "crontab",
            MatcherKind::EventType(_) => "event-type",
            MatcherKind::Webhook(_) => "webhook",
            MatcherKind::Always => "always",
            MatcherKind::CatchAll => "catch-all",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Message,
    Reaction,
    Join,
    Leave,
    Webhook,
    Schedule,
}

/// Longest name, version or matcher id.
pub const MAX_NAME: usize = 64;
/// Longest help line.
pub const MAX_HELP: usize = 256;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 4 << 10;

/// A short field: present when `required`, within `max` bytes, with no
/// control or bidi characters.
fn check_field(what: &str, value: &str, max: usize, required: bool) -> Result<(), String> {
    if required && value.trim().is_empty() {
        return Err(format!("its manifest has an empty {what}"));
    }
    if value.len() > max {
        return Err(format!(
            "its manifest's {what} is {} bytes; at most {max} are allowed",
            value.len()
        ));
    }
    if let Some(c) = value.chars().find(|&c| is_dangerous(c)) {
        return Err(format!(
            "its manifest's {what} holds the control character U+{:04X}",
            c as u32
        ));
    }
    Ok(())
}

impl Manifest {
    /// Checks what the bot relies on: a name, a version, matcher ids that are
    /// present and unique, and text fields that are short and printable.
    pub fn validate(&self) -> Result<(), String> {
        check_field("name", &self.name, MAX_NAME, true)?;
        check_field("version", &self.version, MAX_NAME, true)?;
        let description: String = self.description.replace('\n', " ");
        check_field("description", &description, MAX_DESCRIPTION, false)?;
        let mut seen = std::collections::HashSet::new();
        for m in &self.matchers {
            if m.id.trim().is_empty() {
                return Err(format!("a {} matcher has an empty id", m.kind.name()));
            }
            check_field("matcher id", &m.id, MAX_NAME, true)?;
            check_field(
                &format!("help of matcher `{}`", m.id),
                &m.help,
                MAX_HELP,
                false,
            )?;
            if !seen.insert(m.id.as_str()) {
                return Err(format!("two matchers share the id `{}`", m.id));
            }
        }
        Ok(())
    }
}
