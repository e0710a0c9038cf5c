//! What one skill may reach beyond its own memory and settings, built once
//! per skill from its configuration entry and passed down to every host call
//! that checks it: outbound HTTP hosts, secrets, and rooms it may send to.
//! Nothing is granted by default.

use crate::outbound::OutboundPolicy;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, de};
use std::fmt;

#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// `allow.http`: outbound hosts.
    pub http: OutboundPolicy,
    /// `allow.secrets`: granted secrets, by name, with their values.
    pub secrets: IndexMap<String, String>,
    /// Secrets that exist but are not granted: asking for one is an error
    /// the operator hears about, not a quiet "no such key".
    pub withheld_secrets: Vec<String>,
    /// `allow.send`: rooms beyond the event's own that `chat.send` may reach.
    pub send: Vec<RoomPattern>,
}

impl Grants {
    /// May a message go to `room` on `connector`? The room the event came
    /// from is always allowed; anywhere else needs an `allow.send` pattern.
    pub fn may_send(&self, connector: &str, room: &str, origin: Option<(&str, &str)>) -> bool {
        origin == Some((connector, room)) || self.send.iter().any(|p| p.fits(connector, room))
    }
}

/// One `allow.send` entry: `connector:room`, where either part may be `*`
/// or end in `*` (`slack:#ops-*`); a bare `*` is every room everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPattern {
    connector: Glob,
    room: Glob,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    Any,
    Prefix(String),
    Is(String),
}

impl Glob {
    fn parse(s: &str) -> Glob {
        match s.strip_suffix('*') {
            Some("") => Glob::Any,
            Some(prefix) => Glob::Prefix(prefix.to_owned()),
            None => Glob::Is(s.to_owned()),
        }
    }

    fn fits(&self, s: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Prefix(p) => s.starts_with(p.as_str()),
            Glob::Is(x) => x == s,
        }
    }
}

impl RoomPattern {
    pub fn parse(text: &str) -> Result<RoomPattern, String> {
        if text == "*" {
            return Ok(RoomPattern {
                connector: Glob::Any,
                room: Glob::Any,
                text: text.to_owned(),
            });
        }
        let (connector, room) = text.split_once(':').ok_or_else(|| {
            format!("allowed room `{text}`: write it as connector:room, e.g. shell:ops or slack:#alerts (`*` for any)")
        })?;
        if connector.is_empty() || room.is_empty() {
            return Err(format!(
                "allowed room `{text}`: the connector and the room must both be named (or `*`)"
            ));
        }
        if connector[..connector.len() - 1].contains('*') || room[..room.len() - 1].contains('*') {
            return Err(format!(
                "allowed room `{text}`: `*` may only end a connector or a room name"
            ));
        }
        Ok(RoomPattern {
            connector: Glob::parse(connector),
            room: Glob::parse(room),
            text: text.to_owned(),
        })
    }

    pub fn fits(&self, connector: &str, room: &str) -> bool {
        self.connector.fits(connector) && self.room.fits(room)
    }
}

impl fmt::Display for RoomPattern {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for RoomPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        RoomPattern::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(patterns: &[&str]) -> Grants {
        Grants {
            send: patterns
                .iter()
                .map(|p| RoomPattern::parse(p).unwrap())
                .collect(),
            ..Grants::default()
        }
    }

    #[test]
    fn the_origin_room_is_always_allowed_and_others_need_a_pattern() {
        let none = grants(&[]);
        assert!(none.may_send("shell", "ops", Some(("shell", "ops"))));
        assert!(!none.may_send("shell", "dev", Some(("shell", "ops"))));
        assert!(!none.may_send("irc", "ops", Some(("shell", "ops"))));
        assert!(!none.may_send("shell", "ops", None));

        let some = grants(&["irc:#alerts", "matrix:*", "slack:#ops-*"]);
        assert!(some.may_send("irc", "#alerts", None));
        assert!(!some.may_send("irc", "#general", None));
        assert!(some.may_send("matrix", "!abc:example.org", None));
        assert!(some.may_send("slack", "#ops-eu", None));
        assert!(!some.may_send("slack", "#dev", None));
        assert!(grants(&["*"]).may_send("anything", "anywhere", None));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (p, why) in [
            ("ops", "connector:room"),
            (":ops", "both be named"),
            ("sl*ck:#ops", "may only end"),
        ] {
            let e = RoomPattern::parse(p).unwrap_err();
            assert!(e.contains(why), "{p}: {e}");
        }
    }
}
