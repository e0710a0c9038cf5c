//! Who may run what, from configuration.yaml, with no skill code: Errbot's
//! access lists, by stable identity (`identity`). A skill, and any one of
//! its matchers or aliases, may allow or deny users, rooms and connectors:
//!
//! ```yaml
//! permissions:
//!   allow-users: ["slack:U024BE7LH", "matrix:@*:example.org"]
//!   deny-users: ["irc:*"]
//!   allow-rooms: ["slack:C0OPS", "irc:#ops"]
//!   deny-rooms: ["*:#random"]
//!   allow-connectors: [slack, matrix]
//!   deny-connectors: [websocket]
//! ```
//!
//! A deny list that fits refuses; an allow list that is there must fit. Each
//! kind is judged on its own, and every level (skill, then matcher) must
//! permit. Patterns take `*` for any run of characters.
//!
//! A Matrix room may be named by its alias (`matrix:#ops:example.org`):
//! events name rooms by id (`!abc:example.org`), so the connector resolves
//! the aliases its rooms are named by when it starts ([`learn_room_alias`])
//! and a pattern with an alias fits the room it resolved to.

use crate::identity::{IdentityPattern, glob};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, RwLock};

/// Room aliases connectors resolved, by (connector, alias): the room id.
/// Read only for patterns shaped like an alias that did not fit as written,
/// written once per alias at a connector's start.
static RESOLVED: LazyLock<RwLock<HashMap<(String, String), String>>> =
    LazyLock::new(Default::default);

/// Whether a room pattern is a Matrix room alias (`#ops:example.org`).
pub fn is_room_alias(room: &str) -> bool {
    room.starts_with('#') && room[1..].contains(':') && !room.contains('*')
}

/// A connector resolved `alias` to `room_id`: patterns naming the alias fit
/// that room from now on.
pub fn learn_room_alias(connector: &str, alias: &str, room_id: &str) {
    RESOLVED
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert((connector.to_owned(), alias.to_owned()), room_id.to_owned());
}

fn resolved_is(connector: &str, alias: &str, room: &str) -> bool {
    RESOLVED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(connector.to_owned(), alias.to_owned()))
        .is_some_and(|id| id == room)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Permissions {
    #[serde(default)]
    pub allow_users: Vec<IdentityPattern>,
    #[serde(default)]
    pub deny_users: Vec<IdentityPattern>,
    /// `connector:room` patterns.
    #[serde(default)]
    pub allow_rooms: Vec<String>,
    #[serde(default)]
    pub deny_rooms: Vec<String>,
    #[serde(default)]
    pub allow_connectors: Vec<String>,
    #[serde(default)]
    pub deny_connectors: Vec<String>,
}

/// Who is asking, and where.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub connector: &'a str,
    pub user_id: &'a str,
    pub room: &'a str,
}

/// Why someone was refused: which list said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Permissions {
    /// The room aliases `allow-rooms` and `deny-rooms` name for `connector`
    /// (patterns `connector:#alias:server`), for it to resolve.
    pub fn room_aliases<'a>(&'a self, connector: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.allow_rooms
            .iter()
            .chain(&self.deny_rooms)
            .filter_map(move |p| p.split_once(':'))
            .filter(move |(c, r)| *c == connector && is_room_alias(r))
            .map(|(_, r)| r)
    }

    /// No list at all: everyone everywhere.
    pub fn is_open(&self) -> bool {
        *self == Permissions::default()
    }

    pub fn check(&self, who: Asker) -> Result<(), Refusal> {
        let room = |p: &String| room_fits(p, who.connector, who.room);
        let connector = |p: &String| glob(p, who.connector);
        let user = |p: &IdentityPattern| p.fits(who.connector, who.user_id);
        if let Some(p) = self.deny_users.iter().find(|p| user(p)) {
            return Err(Refusal(format!("deny-users has {p}")));
        }
        if let Some(p) = self.deny_rooms.iter().find(|p| room(p)) {
            return Err(Refusal(format!("deny-rooms has {p}")));
        }
        if let Some(p) = self.deny_connectors.iter().find(|p| connector(p)) {
            return Err(Refusal(format!("deny-connectors has {p}")));
        }
        if !self.allow_users.is_empty() && !self.allow_users.iter().any(user) {
            return Err(Refusal("not in allow-users".into()));
        }
        if !self.allow_rooms.is_empty() && !self.allow_rooms.iter().any(room) {
            return Err(Refusal("the room is not in allow-rooms".into()));
        }
        if !self.allow_connectors.is_empty() && !self.allow_connectors.iter().any(connector) {
            return Err(Refusal("the connector is not in allow-connectors".into()));
        }
        Ok(())
    }
}

/// `connector:room`, each part a glob; a bare `*` is every room.
fn room_fits(pattern: &str, connector: &str, room: &str) -> bool {
    match pattern.split_once(':') {
        Some((c, r)) => {
            glob(c, connector)
                && (glob(r, room) || (is_room_alias(r) && resolved_is(connector, r, room)))
        }
        None => glob(pattern, room) && pattern == "*",
    }
}

/// A skill's permissions and one matcher's, both of which must permit.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub levels: Vec<std::sync::Arc<Permissions>>,
}

impl Access {
    pub fn check(&self, who: Asker) -> Result<(), Refusal> {
        self.levels.iter().try_for_each(|p| p.check(who))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who<'a>(connector: &'a str, user_id: &'a str, room: &'a str) -> Asker<'a> {
        Asker {
            connector,
            user_id,
            room,
        }
    }

    fn perms(yaml: &str) -> Permissions {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn deny_wins_and_allow_lists_must_fit() {
        let p = perms(
            "allow-users: ['slack:U02*', 'matrix:@*:example.org']\ndeny-users: ['slack:U02BAD']\nallow-rooms: ['slack:C0OPS', 'matrix:*']",
        );
        assert!(p.check(who("slack", "U02GOOD", "C0OPS")).is_ok());
        assert_eq!(
            p.check(who("slack", "U02BAD", "C0OPS")),
            Err(Refusal("deny-users has slack:U02BAD".into()))
        );
        assert!(
            p.check(who("slack", "U03X", "C0OPS")).is_err(),
            "not allowed"
        );
        assert!(
            p.check(who("slack", "U02GOOD", "C0DEV")).is_err(),
            "wrong room"
        );
        assert!(p.check(who("matrix", "@a:example.org", "!r:x")).is_ok());
        assert!(p.check(who("matrix", "@a:evil.org", "!r:x")).is_err());
        assert!(Permissions::default().check(who("irc", "x", "#y")).is_ok());
    }

    #[test]
    fn a_room_alias_fits_the_room_it_was_resolved_to() {
        let p = perms(
            "allow-rooms: ['mx-test:#ops:example.org', 'irc:#dev']\ndeny-rooms: ['mx-test:#bad:example.org']",
        );
        assert_eq!(
            p.room_aliases("mx-test").collect::<Vec<_>>(),
            vec!["#ops:example.org", "#bad:example.org"]
        );
        assert_eq!(
            p.room_aliases("irc").count(),
            0,
            "an IRC channel is not an alias"
        );
        assert!(
            p.check(who("mx-test", "@a:x", "!ops:example.org")).is_err(),
            "not yet resolved"
        );
        learn_room_alias("mx-test", "#ops:example.org", "!ops:example.org");
        learn_room_alias("mx-test", "#bad:example.org", "!bad:example.org");
        assert!(p.check(who("mx-test", "@a:x", "!ops:example.org")).is_ok());
        assert!(
            p.check(who("mx-test", "@a:x", "!other:example.org"))
                .is_err()
        );
        assert!(p.check(who("mx-test", "@a:x", "!bad:example.org")).is_err());
        // Another connector of the same name elsewhere learned nothing.
        assert!(
            p.check(who("mx-other", "@a:x", "!ops:example.org"))
                .is_err()
        );
        assert!(p.check(who("irc", "a!b@c", "#dev")).is_ok());
    }

    #[test]
    fn connectors_and_levels() {
        let skill = perms("deny-connectors: [irc]");
        let matcher = perms("allow-users: [alice]");
        let access = Access {
            levels: vec![skill.into(), matcher.into()],
        };
        assert!(access.check(who("shell", "alice", "shell")).is_ok());
        assert!(access.check(who("shell", "bob", "shell")).is_err());
        assert!(access.check(who("irc", "alice", "#ops")).is_err());
        assert!(
            perms("deny-rooms: ['*']")
                .check(who("a", "b", "c"))
                .is_err()
        );
    }
}
