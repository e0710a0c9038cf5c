//! What a skill declares about itself (`describe`), in the bot's own types.

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
    ActionAlias(String),
    Crontab {
        expression: String,
        timezone: Option<String>,
    },
    EventType(EventKind),
    Webhook(String),
    Always,
    CatchAll,
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

impl Manifest {
    /// Checks what the bot relies on: a name, a version, matcher ids that are
    /// present and unique.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("its manifest has an empty name".into());
        }
        if self.version.trim().is_empty() {
            return Err("its manifest has an empty version".into());
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.matchers {
            if m.id.trim().is_empty() {
                return Err(format!("a {} matcher has an empty id", m.kind.name()));
            }
            if !seen.insert(m.id.as_str()) {
                return Err(format!("two matchers share the id `{}`", m.id));
            }
        }
        Ok(())
    }
}
