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

use crate::identity::{IdentityPattern, glob};
use serde::Deserialize;
use std::fmt;

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
        Some((c, r)) => glob(c, connector) && glob(r, room),
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
