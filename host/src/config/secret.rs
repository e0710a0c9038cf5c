//! A token or password from configuration.yaml (usually `${VAR}`): read like
//! a string, but its `Debug` and `Display` print `***`, so a settings dump or
//! an error that shows it never leaks it into a log.

use serde::{Deserialize, Deserializer};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it to whom it is for.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s: Secret = serde_yaml_ng::from_str("xoxb-123").unwrap();
        assert_eq!(s.expose(), "xoxb-123");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }
}
