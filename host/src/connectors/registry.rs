//! The connector kinds, and the named instances configuration.yaml asks for.
//!
//! ```yaml
//! connectors:
//!   shell: {}                  # `type` defaults to the name
//!   ops: {type: tcp, port: 7001}
//!   dev: {type: tcp, port: 7002, max-message-length: 4KiB}
//! ```
//!
//! `type` and `max-message-length` are every instance's; the rest belongs to
//! the kind, whose settings type reads it. The configuration module reads the
//! section's outline; this module reads it again from the same text with the
//! kinds' settings types, so that a bad setting is reported at its
//! `file:line:column` like any other mistake in the file.

use super::{Connector, KINDS, build};
use crate::config::{Config, ConfigError};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess,
    Visitor,
};
use std::fmt;

/// A connector kind: its settings type and how to make one from them.
pub trait Kind: Connector + Sized {
    type Settings: DeserializeOwned;
    fn from_settings(settings: Self::Settings) -> Self;
}

/// The keys every instance has, which the kinds' settings types never see.
const COMMON: &[&str] = &["type", "max-message-length"];

/// One configured connector, ready to run.
pub struct Instance {
    pub name: String,
    pub kind: String,
    pub max_message: usize,
    pub connector: Box<dyn Connector>,
}

/// Builds every instance the configuration names, in file order.
pub fn instances(config: &Config) -> Result<Vec<Instance>, ConfigError> {
    let file = config
        .source
        .clone()
        .unwrap_or_else(|| "configuration.yaml".into());
    let Some(text) = config.text.as_deref() else {
        return Ok(Vec::new());
    };
    if config.connectors.is_empty() {
        return Ok(Vec::new());
    }
    let built = Document { config }
        .deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .map_err(|e| crate::config::yaml_error(&file, &e))?;
    Ok(built
        .into_iter()
        .map(|(name, connector)| {
            let section = &config.connectors[&name];
            Instance {
                kind: section.kind.clone(),
                max_message: section.max_message_length.0 as usize,
                name,
                connector,
            }
        })
        .collect())
}

type Built = Vec<(String, Box<dyn Connector>)>;

/// The whole file: only `connectors` is read.
struct Document<'c> {
    config: &'c Config,
}

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = Built;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Built, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = Built;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a configuration mapping")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Built, E> {
        Ok(Vec::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Built, A::Error> {
        let mut built = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "connectors" {
                built = map.next_value_seed(Section {
                    config: self.config,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(built)
    }
}

/// `connectors:` itself: a mapping of instance names.
struct Section<'c> {
    config: &'c Config,
}

impl<'de> DeserializeSeed<'de> for Section<'_> {
    type Value = Built;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Built, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Section<'_> {
    type Value = Built;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of connector names to their settings")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Built, E> {
        Ok(Vec::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Built, A::Error> {
        let mut built = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let kind = self
                .config
                .connectors
                .get(&name)
                .map(|s| s.kind.clone())
                .unwrap_or_else(|| name.clone());
            let connector = map.next_value_seed(Entry {
                kind: &kind,
                name: &name,
            })?;
            built.push((name, connector));
        }
        Ok(built)
    }
}

/// One instance's settings, read by its kind with the common keys hidden.
struct Entry<'a> {
    kind: &'a str,
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for Entry<'_> {
    type Value = Box<dyn Connector>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        build(self.kind, self.name, HideCommon(d))
    }
}

/// For a kind nobody registered: reads the mapping, so a bad `type:` value
/// is reported where it stands; with no `type:` at all, the name was taken
/// for one.
pub(super) struct UnknownKind<'a> {
    pub(super) name: &'a str,
}

impl<'de> Visitor<'de> for UnknownKind<'_> {
    type Value = Box<dyn Connector>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a connector's settings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Err(de::Error::custom(format!(
            "there is no connector type `{}`: give connector `{}` a `type:`, one of {}",
            self.name,
            self.name,
            KINDS.join(", ")
        )))
    }
}

/// A deserializer that shows the kind's settings type its mapping without
/// the common keys (and an empty mapping for `name:` with nothing after it).
pub(super) struct HideCommon<D>(pub(super) D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for HideCommon<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Hide(v))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Hide<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Hide<V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(SkipCommon(map))
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        let empty = de::value::MapDeserializer::<_, E>::new(std::iter::empty::<(&str, ())>());
        self.0.visit_map(empty)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visit_unit()
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        self.0.visit_bool(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        self.0.visit_i64(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.0.visit_u64(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        self.0.visit_f64(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.0.visit_str(v)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(seq)
    }
}

/// The mapping without the common keys. Keys are read through a seed that
/// runs inside the key's own deserialization, so an unknown key is reported
/// at its line; a `type:` value naming no kind is reported at its own.
struct SkipCommon<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipCommon<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut seed = seed;
        loop {
            match self.0.next_key_seed(KeyFilter(seed))? {
                None => return Ok(None),
                Some(Filtered::Key(key)) => return Ok(Some(key)),
                Some(Filtered::Skip(back, common)) => {
                    if common == "type" {
                        self.0.next_value_seed(KindName)?;
                    } else {
                        self.0.next_value::<IgnoredAny>()?;
                    }
                    seed = back;
                }
            }
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

enum Filtered<S, T> {
    Key(T),
    /// A common key: the seed comes back for the next key.
    Skip(S, &'static str),
}

struct KeyFilter<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeyFilter<S> {
    type Value = Filtered<S, S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for KeyFilter<S> {
    type Value = Filtered<S, S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a setting name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        if let Some(common) = COMMON.iter().find(|c| **c == key) {
            return Ok(Filtered::Skip(self.0, common));
        }
        let de: de::value::StrDeserializer<'_, E> = key.into_deserializer();
        self.0.deserialize(de).map(Filtered::Key)
    }
}

/// A `type:` value, checked against the kinds where it stands.
struct KindName;

impl<'de> DeserializeSeed<'de> for KindName {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KindName {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a connector type")
    }
    fn visit_str<E: de::Error>(self, kind: &str) -> Result<(), E> {
        if KINDS.contains(&kind) {
            Ok(())
        } else {
            Err(E::custom(format!(
                "unknown connector type `{kind}`, expected one of {}",
                KINDS.join(", ")
            )))
        }
    }
}
