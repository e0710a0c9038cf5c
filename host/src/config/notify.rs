//! Notifications, StackStorm-style: the top-level `notifications:` section
//! (named channels, the webhook allow-list, queue and retries) and the
//! `notify:` block a skill entry or an operator alias carries. Everything is
//! checked here, at load: templates compile, addresses parse, a webhook URL
//! fits `allow-http`, and every channel a `notify:` names exists; so a typo
//! is a `file:line` error at start, never a notice silently lost later.
//!
//! ```yaml
//! notifications:
//!   allow-http: ["http://127.0.0.1:9000"]   # webhook URLs must fit one of these
//!   retries: 3                               # after the first attempt [default: 3]
//!   backoff: 500ms                           # first wait, doubling [default: 500ms]
//!   queue: 256                               # per channel; beyond it, dropped [default: 256]
//!   channels:
//!     ops:  {type: room, connector: shell, room: ops}
//!     hook: {type: webhook, url: "http://127.0.0.1:9000/x", headers: {x-token: "${TOKEN}"}}
//!     mail: {type: email, smtp: "127.0.0.1:10025", from: bot@example.org,
//!            to: [oncall@example.org], subject: "{{ skill }}: {{ outcome }}"}
//! skills:
//!   deploy:
//!     notify:
//!       on-success: {channels: [ops]}
//!       on-failure: {channels: [ops, mail], template: "❌ {{ skill }}: {{ error }}"}
//! ```

use super::Secret;
use super::error::ConfigError;
use crate::limits::HumanDuration;
use crate::outbound::{HostPattern, OutboundPolicy, Target};
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, de};
use std::path::Path;
use std::time::Duration;

/// The top-level `notifications:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotificationSettings {
    /// Where notices can go, by the name a `notify:` block uses.
    #[serde(default)]
    pub channels: IndexMap<String, ChannelSpec>,
    /// What webhook channels may reach: `scheme://host:port` patterns, as a
    /// skill's `allow.http`. One list for the whole section, so the
    /// bot's outbound reach is reviewed in one place; internal addresses
    /// (loopback, private, link-local) only through a pattern naming the
    /// host exactly.
    #[serde(default)]
    pub allow_http: Vec<HostPattern>,
    /// Attempts after the first before a notice is given up [default: 3].
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The wait before the first retry, doubling after each [default: 500ms].
    #[serde(default = "default_backoff")]
    pub backoff: HumanDuration,
    /// Notices waiting per channel; one more is dropped with a warning
    /// rather than making the message path wait [default: 256].
    #[serde(default = "default_queue")]
    pub queue: usize,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            channels: IndexMap::new(),
            allow_http: Vec::new(),
            retries: default_retries(),
            backoff: default_backoff(),
            queue: default_queue(),
        }
    }
}

fn default_retries() -> u32 {
    3
}
fn default_backoff() -> HumanDuration {
    HumanDuration(Duration::from_millis(500))
}
fn default_queue() -> usize {
    256
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// One named channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChannelSpec {
    /// A room on one of the configured connectors, through the same response
    /// sink skills' answers take.
    Room {
        connector: String,
        room: String,
        #[serde(default)]
        thread: Option<String>,
    },
    /// An HTTP POST of JSON: `{"text", "when", "execution"}`.
    Webhook {
        url: WebhookUrl,
        /// Extra request headers (a token, say).
        #[serde(default)]
        headers: IndexMap<String, Secret>,
        /// Per attempt [default: 10s].
        #[serde(default = "default_timeout")]
        timeout: HumanDuration,
    },
    /// A mail through an SMTP server.
    Email {
        /// `host:port` of the SMTP server.
        smtp: SmtpServer,
        /// `none` (plain SMTP, for a relay on loopback), `starttls` or `tls`
        /// [default: starttls].
        #[serde(default)]
        tls: SmtpTls,
        from: Mailbox,
        to: Vec<Mailbox>,
        /// The subject, a template over the record [default:
        /// `[sandbot] <skill>: <outcome>`].
        #[serde(default)]
        subject: Option<Template>,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<Secret>,
        /// Per attempt [default: 10s].
        #[serde(default = "default_timeout")]
        timeout: HumanDuration,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpTls {
    None,
    #[default]
    Starttls,
    Tls,
}

/// `notify:` on a skill entry or an operator alias. An alias's block, when
/// it has one, replaces the skill's for runs through that alias (`notify:
/// {}` silences them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Notify {
    /// Whatever the outcome.
    #[serde(default)]
    pub on_complete: Option<NotifyRule>,
    /// Outcome `ok`.
    #[serde(default)]
    pub on_success: Option<NotifyRule>,
    /// Any other outcome.
    #[serde(default)]
    pub on_failure: Option<NotifyRule>,
}

impl Notify {
    /// The rules with the key each is written under.
    pub fn rules(&self) -> impl Iterator<Item = (&'static str, &NotifyRule)> {
        [
            ("on-complete", &self.on_complete),
            ("on-success", &self.on_success),
            ("on-failure", &self.on_failure),
        ]
        .into_iter()
        .filter_map(|(k, r)| Some((k, r.as_ref()?)))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotifyRule {
    /// Names under `notifications.channels`.
    pub channels: Vec<String>,
    /// The message [default: `✅ <skill> (<user>): ok in <duration>` or
    /// `❌ <skill> (<user>) failed: <error>`].
    #[serde(default)]
    pub template: Option<Template>,
}

/// A minijinja template, compiled when read so a syntax error names its
/// line in configuration.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub String);

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        minijinja::Environment::new()
            .template_from_str(&text)
            .map_err(|e| de::Error::custom(format!("a bad template: {e}")))?;
        Ok(Template(text))
    }
}

/// An `http://` or `https://` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub uri: http::Uri,
    pub target: Target,
}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bad = |why: &str| de::Error::custom(format!("webhook url `{text}`: {why}"));
        let uri: http::Uri = text.parse().map_err(|e| bad(&format!("{e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad("write it as http://host[:port]/path or https://…"));
        }
        let target = Target::from_uri(&uri).ok_or_else(|| bad("it has no host"))?;
        Ok(WebhookUrl { uri, target })
    }
}

/// `host:port` (`[v6]:port`) of an SMTP server; the port defaults to 25.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
}

impl<'de> Deserialize<'de> for SmtpServer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bad = |why: &str| de::Error::custom(format!("smtp server `{text}`: {why}"));
        let (host, port) = match text.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') => {
                (h, p.parse().map_err(|_| bad("the port is not a number"))?)
            }
            _ => (text.as_str(), 25),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(bad("write it as host:port, e.g. smtp.example.org:587"));
        }
        Ok(SmtpServer {
            host: host.to_owned(),
            port,
        })
    }
}

/// An address such as `bot@example.org` or `Bot <bot@example.org>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox(pub lettre::message::Mailbox);

impl<'de> Deserialize<'de> for Mailbox {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map(Mailbox)
            .map_err(|e| de::Error::custom(format!("`{text}` is not an email address: {e}")))
    }
}

/// The checks that need more than one part of the file: every channel a
/// `notify:` names exists, a room channel's connector exists, and each
/// webhook URL fits `allow-http`.
pub(super) fn check(config: &super::Config, text: &str, file: &Path) -> Result<(), ConfigError> {
    let settings = &config.notifications;
    let policy = OutboundPolicy::new(settings.allow_http.clone());
    for (name, channel) in &settings.channels {
        match channel {
            ChannelSpec::Room { connector, .. } if !config.connectors.contains_key(connector) => {
                return Err(located(
                    text,
                    file,
                    &[name.as_str(), "connector"],
                    connector,
                    format!(
                        "notifications.channels.{name}.connector: there is no connector named `{connector}` under `connectors:`"
                    ),
                ));
            }
            ChannelSpec::Webhook { url, .. } => {
                if let Err(e) = policy.check(&url.target) {
                    let why = match e {
                        crate::outbound::Denied::NotAllowed(t) => {
                            format!("{t} is not in notifications.allow-http")
                        }
                        other => other.to_string(),
                    };
                    return Err(located(
                        text,
                        file,
                        &[name.as_str(), "url"],
                        &url.uri.to_string(),
                        format!("notifications.channels.{name}.url: {why}"),
                    ));
                }
            }
            _ => {}
        }
    }
    let mut blocks = Vec::new();
    for (skill, entry) in &config.skills {
        if let Some(notify) = &entry.notify {
            blocks.push((format!("skills.{skill}.notify"), skill, notify));
        }
        for (i, alias) in entry.aliases.iter().enumerate() {
            if let Some(notify) = &alias.notify {
                blocks.push((format!("skills.{skill}.aliases[{i}].notify"), skill, notify));
            }
        }
    }
    for (name, entry) in &config.workflows {
        if let Some(notify) = &entry.notify {
            blocks.push((format!("workflows.{name}.notify"), name, notify));
        }
    }
    for (field, skill, notify) in blocks {
        for (key, rule) in notify.rules() {
            for channel in &rule.channels {
                if settings.channels.contains_key(channel) {
                    continue;
                }
                let known: Vec<&str> = settings.channels.keys().map(String::as_str).collect();
                let known = if known.is_empty() {
                    "none is defined".to_string()
                } else {
                    format!("there are: {}", known.join(", "))
                };
                return Err(located(
                    text,
                    file,
                    &[skill.as_str(), "channels"],
                    channel,
                    format!(
                        "{field}.{key}.channels: no channel named `{channel}` under notifications.channels ({known})"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// serde has no position for a value it accepted: the first line holding
/// `needle` as a word, after a line holding each of `after` in turn (the
/// keys above it), else anywhere.
fn located(text: &str, file: &Path, after: &[&str], needle: &str, message: String) -> ConfigError {
    let lines: Vec<&str> = text.lines().collect();
    let word_at = |line: &str, word: &str| {
        line.match_indices(word).map(|(i, _)| i).find(|&i| {
            let before = line[..i].chars().next_back();
            let after = line[i + word.len()..].chars().next();
            let edge = |c: Option<char>| {
                c.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'))
            };
            edge(before) && edge(after)
        })
    };
    let mut from = 0;
    for key in after {
        if let Some(i) = (from..lines.len()).find(|&i| word_at(lines[i], key).is_some()) {
            from = i;
        }
    }
    let found = (from..lines.len())
        .chain(0..from)
        .find_map(|i| Some((i, word_at(lines[i], needle)?)));
    match found {
        Some((line, col)) => ConfigError::at(file, line + 1, col + 1, message),
        None => ConfigError::whole_file(file, message),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    fn err(text: &str) -> crate::config::ConfigError {
        parse(text, Path::new("/c.yaml")).unwrap_err()
    }

    const CHANNELS: &str = "connectors:\n  shell: {}\nnotifications:\n  allow-http: ['http://127.0.0.1:9000']\n  channels:\n    ops: {type: room, connector: shell, room: ops}\n    hook: {type: webhook, url: 'http://127.0.0.1:9000/x'}\n    mail: {type: email, smtp: '127.0.0.1:25', tls: none, from: bot@example.org, to: [a@example.org]}\n";

    #[test]
    fn channels_and_rules_parse() {
        let c = parse(
            &format!(
                "{CHANNELS}skills:\n  deploy:\n    notify:\n      on-success: {{channels: [ops, hook], template: '{{{{ skill }}}} ok'}}\n    aliases:\n      - format: ship {{{{app}}}}\n        matcher: deploy\n        notify: {{on-failure: {{channels: [mail]}}}}\n"
            ),
            Path::new("/c.yaml"),
        )
        .unwrap();
        assert_eq!(c.notifications.channels.len(), 3);
        let notify = c.skills["deploy"].notify.as_ref().unwrap();
        let rule = notify.on_success.as_ref().unwrap();
        assert_eq!(rule.channels, ["ops", "hook"]);
        assert_eq!(rule.template.as_ref().unwrap().0, "{{ skill }} ok");
        let alias = c.skills["deploy"].aliases[0].notify.as_ref().unwrap();
        assert_eq!(alias.on_failure.as_ref().unwrap().channels, ["mail"]);
    }

    #[test]
    fn an_unknown_channel_names_its_line() {
        let e = err(&format!(
            "{CHANNELS}skills:\n  deploy:\n    notify:\n      on-failure:\n        channels: [ops, pager]\n"
        ));
        assert_eq!(e.line, Some(13), "{e}");
        assert!(
            e.message.contains(
                "skills.deploy.notify.on-failure.channels: no channel named `pager` under notifications.channels (there are: ops, hook, mail)"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_bad_template_url_or_address_is_an_error_at_its_line() {
        let e = err(&format!(
            "{CHANNELS}skills:\n  deploy:\n    notify:\n      on-success: {{channels: [ops], template: '{{{{ skill '}}\n"
        ));
        assert_eq!(e.line, Some(12), "{e}");
        assert!(e.message.contains("a bad template"), "{e}");
        let e = err("notifications:\n  channels:\n    hook: {type: webhook, url: 'ftp://x/y'}\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("webhook url `ftp://x/y`"), "{e}");
        let e = err(
            "notifications:\n  channels:\n    mail: {type: email, smtp: 'h:25', from: nobody, to: []}\n",
        );
        assert!(
            e.message.contains("`nobody` is not an email address"),
            "{e}"
        );
    }

    #[test]
    fn a_webhook_outside_the_allow_list_or_an_unknown_connector_is_refused() {
        let e = err(
            "notifications:\n  allow-http: ['https://hooks.example.com']\n  channels:\n    hook:\n      type: webhook\n      url: 'http://127.0.0.1:9000/x'\n",
        );
        assert_eq!(e.line, Some(6), "{e}");
        assert!(
            e.message
                .contains("http://127.0.0.1:9000 is not in notifications.allow-http"),
            "{e}"
        );
        let e =
            err("notifications:\n  channels:\n    ops: {type: room, connector: irc, room: ops}\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("no connector named `irc`"), "{e}");
    }
}
