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
    /// The settings it reads from its section of configuration.yaml (the
    /// `settings` export); `None` when it does not say, and nothing is
    /// checked.
    pub settings: Option<Vec<SettingSpec>>,
}

/// One setting a skill declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingSpec {
    /// Its key in the skill's section of configuration.yaml.
    pub name: String,
    /// One line on what it is for.
    pub help: String,
    /// The skill does not load without it.
    pub required: bool,
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
/// Most settings a skill may declare.
pub const MAX_SETTINGS: usize = 256;
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
        self.validate_settings()
    }

    /// Declared settings: a bounded number, each named once, with short
    /// printable names and help (they are shown in the bot's errors).
    fn validate_settings(&self) -> Result<(), String> {
        let Some(settings) = &self.settings else {
            return Ok(());
        };
        if settings.len() > MAX_SETTINGS {
            return Err(format!(
                "it declares {} settings; at most {MAX_SETTINGS} are allowed",
                settings.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for s in settings {
            check_field("setting name", &s.name, MAX_NAME, true)?;
            check_field(
                &format!("help of setting `{}`", s.name),
                &s.help,
                MAX_HELP,
                false,
            )?;
            if !seen.insert(s.name.as_str()) {
                return Err(format!("it declares setting `{}` twice", s.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declaring(settings: Vec<SettingSpec>) -> Manifest {
        Manifest {
            name: "alerts".into(),
            version: "1".into(),
            description: String::new(),
            matchers: Vec::new(),
            settings: Some(settings),
        }
    }

    fn setting(name: &str, help: &str) -> SettingSpec {
        SettingSpec {
            name: name.into(),
            help: help.into(),
            required: false,
        }
    }

    #[test]
    fn declared_settings_are_checked_like_the_rest_of_the_manifest() {
        assert_eq!(declaring(vec![setting("url", "where")]).validate(), Ok(()));
        let twice = declaring(vec![setting("url", ""), setting("url", "")]).validate();
        assert_eq!(twice, Err("it declares setting `url` twice".into()));
        let empty = declaring(vec![setting(" ", "")]).validate().unwrap_err();
        assert!(empty.contains("empty setting name"), "{empty}");
        let long = declaring(vec![setting(&"u".repeat(MAX_NAME + 1), "")])
            .validate()
            .unwrap_err();
        assert!(long.contains("setting name is 65 bytes"), "{long}");
        let forged = declaring(vec![setting("url", "ok\u{1b}[2J")])
            .validate()
            .unwrap_err();
        assert!(forged.contains("U+001B"), "{forged}");
        let bidi = declaring(vec![setting("ur\u{202e}l", "")])
            .validate()
            .unwrap_err();
        assert!(bidi.contains("U+202E"), "{bidi}");
        let many = (0..=MAX_SETTINGS)
            .map(|i| setting(&format!("s{i}"), ""))
            .collect();
        let many = declaring(many).validate().unwrap_err();
        assert!(many.contains("257 settings"), "{many}");
    }
}
