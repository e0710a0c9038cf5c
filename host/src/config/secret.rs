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

/// For an `Option<Secret>` that guards something: a key written with
/// nothing after it (as an unset `${VAR:-}` leaves it) is an empty secret,
/// which admits no one, never an absent one, which would turn the check off.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Option::<Secret>::deserialize(d).map(|s| Some(s.unwrap_or_default()))
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

    #[test]
    fn a_guarding_secret_written_empty_is_empty_not_absent() {
        #[derive(serde::Deserialize)]
        struct Guard {
            #[serde(default, deserialize_with = "present")]
            token: Option<Secret>,
        }
        let read = |text: &str| serde_yaml_ng::from_str::<Guard>(text).unwrap().token;
        assert_eq!(read("{}"), None);
        assert_eq!(read("token:"), Some(Secret::new("")));
        assert_eq!(read("token: ''"), Some(Secret::new("")));
        assert_eq!(read("token: t0ken"), Some(Secret::new("t0ken")));
    }
}
