//! Who someone is, for anything that grants: the connector they spoke on
//! and their stable user id there (`slack:U024BE7LH`,
//! `matrix:@alice:example.org`, `shell:alice`). A display name, or an IRC
//! nick alone, never grants anything. Patterns name identities, with `*`
//! matching any run of characters (`slack:U02*`, `websocket:*`); a pattern
//! without a connector names the local shell's user (`alice` is
//! `shell:alice`).

use arc_swap::ArcSwap;
use serde::{Deserialize, Deserializer};
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, LazyLock};

/// The chat identities (`connector:user_id`) linked to an admin account of
/// the operator's console: admins in chat as those `admins:` names are
/// (one list for chat and console). Kept by the console as its accounts
/// say; read without a lock.
static LINKED_ADMINS: LazyLock<ArcSwap<HashSet<String>>> = LazyLock::new(Default::default);

/// The console's accounts say these identities are linked to admins.
pub fn set_linked_admins(identities: HashSet<String>) {
    if **LINKED_ADMINS.load() != identities {
        LINKED_ADMINS.store(Arc::new(identities));
    }
}

/// Is `user_id` on `connector` linked to an admin account of the console?
pub fn is_linked_admin(connector: &str, user_id: &str) -> bool {
    let linked = LINKED_ADMINS.load();
    !linked.is_empty() && linked.contains(&format!("{connector}:{user_id}"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPattern {
    connector: String,
    user: String,
}

impl IdentityPattern {
    pub fn parse(text: &str) -> IdentityPattern {
        match text.split_once(':') {
            Some((connector, user)) => IdentityPattern {
                connector: connector.to_owned(),
                user: user.to_owned(),
            },
            None => IdentityPattern {
                connector: "shell".into(),
                user: text.to_owned(),
            },
        }
    }

    /// Does `user_id` on `connector` fit?
    pub fn fits(&self, connector: &str, user_id: &str) -> bool {
        glob(&self.connector, connector) && glob(&self.user, user_id)
    }
}

impl fmt::Display for IdentityPattern {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}", self.connector, self.user)
    }
}

impl<'de> Deserialize<'de> for IdentityPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(IdentityPattern::parse(&String::deserialize(d)?))
    }
}

/// `*` matches any run of characters (none included); everything else
/// matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut text) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let (middle, last) = parts.split_at(parts.len() - 1);
    for part in middle {
        match text.find(part) {
            Some(at) => text = &text[at + part.len()..],
            None => return false,
        }
    }
    text.len() >= last[0].len() && text.ends_with(last[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_match_by_connector_and_stable_id() {
        let p = IdentityPattern::parse("slack:U024BE7LH");
        assert!(p.fits("slack", "U024BE7LH"));
        assert!(!p.fits("matrix", "U024BE7LH"));
        assert!(!p.fits("slack", "alice"), "a display name is not an id");
        let local = IdentityPattern::parse("alice");
        assert!(local.fits("shell", "alice"));
        assert!(!local.fits("websocket", "alice"), "only the shell's user");
        let glob = IdentityPattern::parse("matrix:@*:example.org");
        assert!(glob.fits("matrix", "@alice:example.org"));
        assert!(!glob.fits("matrix", "@alice:evil.org"));
        assert!(IdentityPattern::parse("irc:*").fits("irc", "bob!~bob@host"));
        assert!(IdentityPattern::parse("*:root*").fits("x", "root"));
        assert!(!IdentityPattern::parse("a:b*c*d").fits("a", "bcx"));
        assert!(IdentityPattern::parse("a:b*c*d").fits("a", "bxcxd"));
    }
}
