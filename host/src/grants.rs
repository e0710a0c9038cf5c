//! What one skill may reach beyond its own memory and settings, built once
//! per skill from its configuration entry and passed down to every host call
//! that checks it: outbound HTTP hosts, secrets, and rooms it may send to.
//! Nothing is granted by default.
//!
//! A room is matched against `allow.send` as what its connector will make
//! of it (`crate::targets`): a wildcard grants only rooms that are one place
//! (an IRC channel or nick, a Slack id, a Matrix room id), and never
//! covers a comma or a space. A list (`#ops,watcher`), a mask, a service
//! address, a Matrix alias or Slack markup is granted only by an entry that
//! names it exactly.

use crate::outbound::OutboundPolicy;
use crate::targets::{self, NotOne};
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, de};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

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
    /// Each configured connector's kind (`type:`), by instance name: how
    /// its room names read. A name not here is of the kind it names, as
    /// in `connectors:`.
    pub connector_kinds: Arc<HashMap<String, String>>,
}

/// Why `chat.send` may not reach a room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendRefused {
    /// No `allow.send` entry covers the room.
    #[error("no allow.send entry grants it")]
    NotGranted,
    /// The room is not one place on its connector, and no entry names it
    /// exactly.
    #[error("{why}, so not one {kind} room; only an allow.send entry naming it exactly grants it")]
    NotOne { kind: String, why: NotOne },
}

impl Grants {
    /// May a message go to `room` on `connector`? The room the event came
    /// from is always allowed; anywhere else needs an `allow.send` pattern:
    /// one naming the room exactly, or a wildcard when the room is one
    /// place on its connector.
    pub fn may_send(
        &self,
        connector: &str,
        room: &str,
        origin: Option<(&str, &str)>,
    ) -> Result<(), SendRefused> {
        if origin == Some((connector, room)) {
            return Ok(());
        }
        let kind = self
            .connector_kinds
            .get(connector)
            .map_or(connector, String::as_str);
        let one = targets::one_place(kind, room);
        let granted = self
            .send
            .iter()
            .filter(|p| p.connector.fits(connector))
            .any(|p| p.room.names(room) || (one.is_ok() && p.room.fits(room)));
        match (granted, one) {
            (true, _) => Ok(()),
            (false, Ok(())) => Err(SendRefused::NotGranted),
            (false, Err(why)) => Err(SendRefused::NotOne {
                kind: kind.to_owned(),
                why,
            }),
        }
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

    /// Does the glob cover `s`? What `*` stands for never holds a comma,
    /// whitespace or a control character: those make lists and new lines.
    fn fits(&self, s: &str) -> bool {
        let free = |rest: &str| {
            !rest
                .chars()
                .any(|c| c == ',' || c.is_whitespace() || c.is_control())
        };
        match self {
            Glob::Any => free(s),
            Glob::Prefix(p) => s.strip_prefix(p.as_str()).is_some_and(free),
            Glob::Is(x) => x == s,
        }
    }

    /// Is the glob `s` itself, written out (no `*`)?
    fn names(&self, s: &str) -> bool {
        matches!(self, Glob::Is(x) if x == s)
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
            connector_kinds: Arc::new(HashMap::from([
                ("ops".to_owned(), "irc".to_owned()),
                ("work".to_owned(), "slack".to_owned()),
            ])),
            ..Grants::default()
        }
    }

    fn may(g: &Grants, connector: &str, room: &str) -> bool {
        g.may_send(connector, room, None).is_ok()
    }

    #[test]
    fn the_origin_room_is_always_allowed_and_others_need_a_pattern() {
        let none = grants(&[]);
        assert!(
            none.may_send("shell", "ops", Some(("shell", "ops")))
                .is_ok()
        );
        assert_eq!(
            none.may_send("shell", "dev", Some(("shell", "ops"))),
            Err(SendRefused::NotGranted)
        );
        assert!(!may(&none, "irc", "ops"));
        assert!(!may(&none, "shell", "ops"));

        let some = grants(&["irc:#alerts", "matrix:*", "slack:#ops-*"]);
        assert!(may(&some, "irc", "#alerts"));
        assert!(!may(&some, "irc", "#general"));
        assert!(may(&some, "matrix", "!abc:example.org"));
        assert!(may(&some, "slack", "#ops-eu"));
        assert!(!may(&some, "slack", "#dev"));
        assert!(may(&grants(&["*"]), "anything", "anywhere"));
    }

    #[test]
    fn a_wildcard_grants_one_place_never_a_list_a_mask_or_a_service() {
        let g = grants(&["irc:#ops*", "ops:*", "shell:team-*"]);
        assert!(may(&g, "irc", "#ops"));
        assert!(may(&g, "irc", "#ops-eu"));
        for room in [
            "#ops,watcher",
            "#ops,#ops-eu",
            "#ops*",
            "#ops watcher",
            "#ops\r\nQUIT",
        ] {
            let refused = g.may_send("irc", room, None).unwrap_err();
            assert!(
                matches!(refused, SendRefused::NotOne { .. }),
                "{room}: {refused:?}"
            );
        }
        // `ops` is an IRC instance under another name: its rooms read as IRC's.
        assert!(may(&g, "ops", "#ops"));
        assert!(may(&g, "ops", "watcher"));
        for room in ["#ops,watcher", "$*", "#*.org", "NickServ@services.example"] {
            assert!(!may(&g, "ops", room), "{room}");
        }
        assert!(
            g.may_send("ops", "$*", None)
                .unwrap_err()
                .to_string()
                .contains("a mask that reaches every user of a server")
        );
        // On any connector, `*` never covers a comma or a space.
        assert!(may(&g, "shell", "team-a"));
        assert!(!may(&g, "shell", "team-a,team-b"));
        assert!(!may(&g, "shell", "team-a b"));
        assert!(!may(&grants(&["*"]), "shell", "a,b"));
    }

    #[test]
    fn what_is_not_one_place_is_granted_only_by_name() {
        let g = grants(&["irc:#ops,#dev", "ops:NickServ@services.example", "irc:*"]);
        assert!(may(&g, "irc", "#ops,#dev"));
        assert!(!may(&g, "irc", "#dev,#ops"));
        assert!(may(&g, "ops", "NickServ@services.example"));
        assert!(!may(&g, "ops", "ChanServ@services.example"));
    }

    #[test]
    fn slack_and_matrix_rooms_are_ids_not_markup_or_aliases() {
        let g = grants(&["slack:*", "work:C0*", "matrix:*"]);
        assert!(may(&g, "slack", "C0123ABC"));
        assert!(may(&g, "slack", "U024BE7LH"));
        assert!(may(&g, "work", "C0OPS"));
        for room in ["<#C0123ABC|ops>", "<@U024BE7LH>", "<!channel>"] {
            assert!(!may(&g, "slack", room), "{room}");
        }
        assert!(!may(&g, "work", "C0<#C1|x>"));
        assert!(may(&g, "matrix", "!abc:example.org"));
        let alias = g.may_send("matrix", "#ops:example.org", None).unwrap_err();
        assert_eq!(
            alias,
            SendRefused::NotOne {
                kind: "matrix".into(),
                why: NotOne::MatrixAlias,
            }
        );
        assert!(
            alias.to_string().contains("a room alias, not a room id"),
            "{alias}"
        );
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
