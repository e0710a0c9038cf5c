//! Who someone is, for anything that grants: the connector they spoke on
//! and their stable user id there (`slack:U024BE7LH`,
//! `matrix:@alice:example.org`, `shell:alice`). A display name, or an IRC
//! nick alone, never grants anything. Patterns name identities, with `*`
//! matching any run of characters (`slack:U02*`, `websocket:*`); a pattern
//! without a connector names the local shell's user (`alice` is
//! `shell:alice`).

use serde::{Deserialize, Deserializer};
use std::fmt;

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
