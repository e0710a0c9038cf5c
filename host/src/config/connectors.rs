//! The outline of `connectors:`: each instance's name, kind (`type:`, the
//! name when absent) and `max-message-length`. The kinds' own settings are
//! read by `connectors::registry`, which knows their types.

use crate::limits::ByteSize;
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorSection {
    /// The kind, as `type:` names it.
    pub kind: String,
    /// Longer message text is cut (with a warning) before it is handled.
    pub max_message_length: ByteSize,
}

/// The default `max-message-length`.
pub const DEFAULT_MAX_MESSAGE: ByteSize = ByteSize(64 << 10);

/// Reads the section; an instance without `type:` is of the kind its name
/// says.
pub fn sections<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, ConnectorSection>, D::Error> {
    let raw: Option<IndexMap<String, Outline>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(name, o)| {
            let section = ConnectorSection {
                kind: o.kind.unwrap_or_else(|| name.clone()),
                max_message_length: o.max_message_length.unwrap_or(DEFAULT_MAX_MESSAGE),
            };
            (name, section)
        })
        .collect())
}

#[derive(Default)]
struct Outline {
    kind: Option<String>,
    max_message_length: Option<ByteSize>,
}

impl<'de> Deserialize<'de> for Outline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OutlineVisitor)
    }
}

struct OutlineVisitor;

impl<'de> Visitor<'de> for OutlineVisitor {
    type Value = Outline;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of the connector's settings (or nothing)")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Outline, E> {
        Ok(Outline::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<Outline, E> {
        Ok(Outline::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outline, A::Error> {
        let mut outline = Outline::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => outline.kind = Some(map.next_value()?),
                "max-message-length" => outline.max_message_length = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(outline)
    }
}
