//! Where a key stands in configuration text: `skills.alerts.urll` is at
//! line 12, column 5. serde keeps no position for a key it accepted, so a
//! mistake found later (a skill's setting it does not declare) is placed
//! by reading the text again with serde_yaml_ng and stopping at the key:
//! the error it stops with carries the key's own place, whatever the style
//! (block or flow) it was written in.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What the stop is called, to tell it from a real error in the text.
const FOUND: &str = "sandbot: found the key";

/// The 1-based line and column of the key at `path` (`["skills", "alerts",
/// "urll"]`), or `None` if the text does not hold it.
pub fn key_place(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    if path.is_empty() {
        return None;
    }
    let error = Descend(path)
        .deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .err()?;
    // serde_yaml_ng puts the path before the message (`skills.alerts: …`)
    // and the place after it.
    if !error.to_string().contains(FOUND) {
        return None;
    }
    let at = error.location()?;
    Some((at.line(), at.column()))
}

/// Reads a value, going into the mapping whose key is `path[0]`.
struct Descend<'p>(&'p [&'p str]);

impl<'de> DeserializeSeed<'de> for Descend<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Descend<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (first, rest) = self.0.split_first().expect("the path is never empty");
        while let Some(is_it) = map.next_key_seed(Key {
            name: first,
            last: rest.is_empty(),
        })? {
            if is_it {
                // Not found below: the key appears once, so it is not here.
                map.next_value_seed(Descend(rest))?;
                return Ok(());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// A mapping's key: is it the one sought? The last one of the path stops
/// the reading right there, so the error has the key's place.
struct Key<'p> {
    name: &'p str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        if key != self.name {
            return Ok(false);
        }
        if self.last {
            return Err(E::custom(FOUND));
        }
        Ok(true)
    }

    // Keys that are not strings (`1: x`) are never the one sought.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::key_place;

    #[test]
    fn a_key_is_placed_in_block_and_flow_style() {
        let text = "connectors:\n  shell: {}\nskills:\n  hello: {}\n  alerts:\n    path: a.wasm\n    urll: http://x\n  relay: {to: x, fromm: y}\n";
        assert_eq!(key_place(text, &["skills", "alerts", "urll"]), Some((7, 5)));
        assert_eq!(key_place(text, &["skills", "alerts"]), Some((5, 3)));
        assert_eq!(
            key_place(text, &["skills", "relay", "fromm"]),
            Some((8, 18))
        );
        assert_eq!(key_place(text, &["skills"]), Some((3, 1)));
    }

    #[test]
    fn a_key_that_is_not_there_has_no_place() {
        let text = "skills:\n  alerts:\n    url: x\nconnectors:\n  alerts: {}\n";
        assert_eq!(key_place(text, &["skills", "alerts", "nope"]), None);
        assert_eq!(key_place(text, &["skills", "relay"]), None);
        // A key of the same name elsewhere is not it.
        assert_eq!(key_place(text, &["connectors", "alerts", "url"]), None);
        assert_eq!(key_place("skills: [a]\n", &["skills", "a"]), None);
        assert_eq!(key_place("", &["a"]), None);
    }
}
