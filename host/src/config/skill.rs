//! One entry under `skills:`. Besides the bot's own keys (`path`, `no-cache`,
//! `sha256`, `limits`, `allow`, `notify`, ...) an entry holds the skill's settings, which the skill reads
//! through the `config` interface, as in opsdroid. A key within two edits of a
//! bot key is refused, so `no-cahce: true` is an error, not a skill setting.

use crate::grants::RoomPattern;
use crate::limits::Limits;
use crate::outbound::HostPattern;
use crate::permissions::Permissions;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, de};
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct SkillEntry {
    /// The `.wasm` file; `<skills-dir>/<name>.wasm` when absent.
    pub path: Option<PathBuf>,
    /// Compile afresh at every load instead of using the compilation cache.
    pub no_cache: bool,
    /// Refuse to load the file unless its SHA-256 (hex) is this.
    pub sha256: Option<String>,
    /// `None`: the runtime's default limits.
    pub limits: Option<Limits>,
    /// Capabilities beyond the default (none).
    pub allow: Allow,
    /// Serve up to this many events with one instance (never after a trap)
    /// instead of a fresh instance each: for skills whose runtime is slow to
    /// start (Python, JavaScript). State then survives between events.
    pub instance_reuse: u32,
    /// The operator's own words for the skill's commands.
    pub aliases: Vec<OperatorAlias>,
    /// Requests to its webhook matchers (`webhook.rs`).
    pub webhook: super::WebhookSettings,
    /// Its matchers answer only messages addressed to the bot (Hubot's
    /// `respond`) rather than hearing all talk [default: false].
    pub addressed: bool,
    /// Who may run it, where (`permissions`).
    pub permissions: Permissions,
    /// Per matcher id: more permissions, `addressed` and `ack`.
    pub matchers: IndexMap<String, MatcherEntry>,
    /// Said at once when one of its commands is asked for; the skill then
    /// runs in the background and its answer comes when it ends
    /// (StackStorm's ack). A minijinja template over the captures, `user`
    /// and `room`.
    pub ack: Option<Ack>,
    /// Notices of its executions (`notify.rs`).
    pub notify: Option<super::Notify>,
    /// The skill's own settings.
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// An alias the operator adds in configuration.yaml, StackStorm-style: their
/// own words (and fixed parameters) for one of the skill's matchers, with no
/// change to the skill.
///
/// ```yaml
/// skills:
///   deploy:
///     aliases:
///       - format: ship {{app}}
///         matcher: deploy          # the skill runs as if this matcher fired
///         parameters: {env: prod}  # fixed: the message cannot change them
///         ack: "Shipping {{ app }} to {{ env }}…"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OperatorAlias {
    pub format: String,
    pub matcher: String,
    #[serde(default)]
    pub parameters: indexmap::IndexMap<String, serde_json::Value>,
    pub ack: Option<String>,
    /// What `help` shows [default: the format].
    pub help: Option<String>,
    /// Applied to each answer of the skill: a minijinja template over
    /// `result` (the answer), the parameters, `user` and `room`.
    pub result: Option<String>,
    /// Only when addressed to the bot [default: the skill's setting].
    pub addressed: Option<bool>,
    /// Besides the skill's own.
    #[serde(default)]
    pub permissions: Permissions,
    /// Replaces the skill's `notify` for runs through this alias.
    #[serde(default)]
    pub notify: Option<super::Notify>,
    /// StackStorm's `match_multiple`: every place the format fits in one
    /// message (each beginning with its first words) runs once, in order.
    #[serde(default)]
    pub match_multiple: bool,
}

/// `skills.<name>.matchers.<id>`: what the operator adds to one matcher.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MatcherEntry {
    /// Only when addressed to the bot [default: the skill's setting].
    pub addressed: Option<bool>,
    /// Besides the skill's own.
    #[serde(default)]
    pub permissions: Permissions,
    /// Said at once for this matcher, which then runs in the background
    /// [default: the skill's `ack`].
    pub ack: Option<Ack>,
}

/// An acknowledgement template, checked when the configuration is read so
/// a mistake in it is an error with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack(pub String);

impl<'de> Deserialize<'de> for Ack {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        minijinja::Environment::new()
            .template_from_str(&text)
            .map_err(|e| de::Error::custom(format!("ack is not a valid template: {e}")))?;
        Ok(Ack(text))
    }
}

impl OperatorAlias {
    /// The fixed parameters as text, as captures are.
    pub fn fixed(&self) -> Vec<(String, String)> {
        self.parameters
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

/// What a skill may reach beyond its own memory and settings. Nothing by
/// default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Allow {
    /// Outbound HTTP: `scheme://host:port` patterns.
    #[serde(default)]
    pub http: Vec<HostPattern>,
    /// Names under the top-level `secrets:` the skill may read through
    /// `config.get`.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Rooms beyond the event's own that `chat.send` may reach:
    /// `connector:room` patterns (`irc:#alerts`, `matrix:*`, `*`).
    #[serde(default)]
    pub send: Vec<RoomPattern>,
}

const BOT_KEYS: &[&str] = &[
    "path",
    "no-cache",
    "sha256",
    "limits",
    "allow",
    "instance-reuse",
    "aliases",
    "webhook",
    "addressed",
    "permissions",
    "matchers",
    "ack",
    "notify",
];

impl<'de> Deserialize<'de> for SkillEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> de::Visitor<'de> for EntryVisitor {
    type Value = SkillEntry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of the skill's settings (or nothing)")
    }

    // `hello:` with nothing after it means "load hello with defaults".
    fn visit_unit<E: de::Error>(self) -> Result<SkillEntry, E> {
        Ok(SkillEntry::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<SkillEntry, E> {
        Ok(SkillEntry::default())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<SkillEntry, A::Error> {
        let mut entry = SkillEntry::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key.as_str() {
                "path" => entry.path = Some(map.next_value()?),
                "no-cache" => entry.no_cache = map.next_value()?,
                "limits" => entry.limits = Some(map.next_value()?),
                "allow" => entry.allow = map.next_value()?,
                "instance-reuse" => entry.instance_reuse = map.next_value()?,
                "aliases" => entry.aliases = map.next_value()?,
                "webhook" => entry.webhook = map.next_value()?,
                "addressed" => entry.addressed = map.next_value()?,
                "permissions" => entry.permissions = map.next_value()?,
                "matchers" => entry.matchers = map.next_value()?,
                "ack" => entry.ack = Some(map.next_value()?),
                "notify" => entry.notify = Some(map.next_value()?),
                "sha256" => {
                    let pin: String = map.next_value()?;
                    let pin = pin.trim().to_ascii_lowercase();
                    if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(de::Error::custom(format!(
                            "sha256 `{pin}` is not 64 hex digits (`sha256sum FILE.wasm` prints it)"
                        )));
                    }
                    entry.sha256 = Some(pin);
                }
                _ => {
                    let value: serde_json::Value = map.next_value()?;
                    entry.settings.insert(key, value);
                }
            }
        }
        Ok(entry)
    }
}

/// Reads a key, refusing near misses of the bot's keys. Failing here (not
/// after the key is read) makes the error point at the key's line.
struct KeySeed;

impl<'de> de::DeserializeSeed<'de> for KeySeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl de::Visitor<'_> for KeySeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a setting name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        if !BOT_KEYS.contains(&key)
            && let Some(meant) = near_bot_key(key)
        {
            return Err(E::custom(format!(
                "unknown setting `{key}`: did you mean `{meant}`? (a skill's own settings may not look like the bot's keys: {})",
                BOT_KEYS.join(", ")
            )));
        }
        Ok(key.to_owned())
    }
}

fn near_bot_key(key: &str) -> Option<&'static str> {
    crate::similar::closest(key, BOT_KEYS.iter().copied())
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn own_settings_sit_beside_bot_keys() {
        let c = parse(
            "skills:\n  alerts:\n    no-cache: true\n    limits: {time: 250ms, memory: 8MiB}\n    url: http://x\n    rooms: [ops, dev]\n  hello:\n",
            Path::new("/c.yaml"),
        )
        .unwrap();
        let alerts = &c.skills["alerts"];
        assert!(alerts.no_cache);
        let limits = alerts.limits.unwrap();
        assert_eq!(limits.time.0, Duration::from_millis(250));
        assert_eq!(limits.memory.0, 8 << 20);
        assert_eq!(alerts.settings["url"], "http://x");
        assert_eq!(alerts.settings["rooms"][1], "dev");
        assert!(c.skills["hello"].settings.is_empty());
        assert_eq!(c.skills.get_index(0).unwrap().0, "alerts", "order is kept");
    }

    #[test]
    fn a_near_miss_of_a_bot_key_is_an_error_with_a_line() {
        let e = parse(
            "skills:\n  hello:\n    url: x\n    no-cahce: true\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("did you mean `no-cache`"), "{e}");
    }

    #[test]
    fn bad_limits_are_named() {
        let e = parse(
            "skills:\n  hello:\n    limits:\n      time: soon\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("a duration such as 250ms"), "{e}");
        let e = parse(
            "skills:\n  hello:\n    limits:\n      cpu: 1\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field `cpu`"), "{e}");
    }
}
