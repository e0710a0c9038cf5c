//! Builders for the manifest a skill returns from `describe`, and for the
//! settings it declares.

use crate::{CrontabMatcher, EventKind, Manifest, Matcher, MatcherKind, RegexMatcher, Setting};

impl Manifest {
    pub fn new(name: &str, version: &str) -> Self {
        Manifest {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            matchers: Vec::new(),
        }
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    pub fn matcher(mut self, matcher: Matcher) -> Self {
        self.matchers.push(matcher);
        self
    }
}

impl Matcher {
    fn new(id: &str, kind: MatcherKind) -> Self {
        Matcher {
            id: id.into(),
            kind,
            help: String::new(),
        }
    }

    /// A regular expression (Rust `regex` syntax), case-sensitive unless
    /// [`Matcher::case_insensitive`] is called. Named groups are captures.
    pub fn regex(id: &str, pattern: &str) -> Self {
        Self::new(
            id,
            MatcherKind::Regex(RegexMatcher {
                pattern: pattern.into(),
                case_sensitive: true,
            }),
        )
    }

    /// A parse-format template such as `remind me in {minutes} minutes`.
    pub fn parse(id: &str, template: &str) -> Self {
        Self::new(id, MatcherKind::ParseFormat(template.into()))
    }

    /// A StackStorm action alias such as `deploy {{app}} to {{env=staging}}`.
    pub fn alias(id: &str, format: &str) -> Self {
        Self::new(id, MatcherKind::ActionAlias(format.into()))
    }

    /// A crontab expression, five fields (`minute hour day-of-month month
    /// day-of-week`) or six with seconds first (`*/2 * * * * *`), in UTC
    /// unless [`Matcher::timezone`] is set.
    pub fn crontab(id: &str, expression: &str) -> Self {
        Self::new(
            id,
            MatcherKind::Crontab(CrontabMatcher {
                expression: expression.into(),
                timezone: None,
            }),
        )
    }

    /// Every event of a kind: joins, reactions, ...
    pub fn event(id: &str, kind: EventKind) -> Self {
        Self::new(id, MatcherKind::EventType(kind))
    }

    /// Requests to `/skill/<skill>/<path>`.
    pub fn webhook(id: &str, path: &str) -> Self {
        Self::new(id, MatcherKind::Webhook(path.into()))
    }

    /// Every message, beside whichever skill it is for.
    pub fn always(id: &str) -> Self {
        Self::new(id, MatcherKind::Always)
    }

    /// Messages that nothing else took.
    pub fn catch_all(id: &str) -> Self {
        Self::new(id, MatcherKind::CatchAll)
    }

    pub fn case_insensitive(mut self) -> Self {
        if let MatcherKind::Regex(r) = &mut self.kind {
            r.case_sensitive = false;
        }
        self
    }

    pub fn timezone(mut self, zone: &str) -> Self {
        if let MatcherKind::Crontab(c) = &mut self.kind {
            c.timezone = Some(zone.into());
        }
        self
    }

    /// One line for the bot's `help`.
    pub fn help(mut self, text: &str) -> Self {
        self.help = text.into();
        self
    }
}

impl Setting {
    /// A key of the skill's section of configuration.yaml (or a secret its
    /// entry is granted), optional unless [`Setting::required`] is called.
    pub fn new(name: &str) -> Self {
        Setting {
            name: name.into(),
            help: String::new(),
            required: false,
        }
    }

    /// One line on what it is for, shown when it is missing.
    pub fn help(mut self, text: &str) -> Self {
        self.help = text.into();
        self
    }

    /// The skill does not load without it.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}
