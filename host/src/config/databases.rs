//! `databases:`, where skills' memory is kept: `sqlite` (a file, the
//! default) or `redis` (a server). One backend at a time: naming both is an
//! error (at the section's place, as serde reports it), since a bot that
//! silently picked one would leave half its operator's expectations unmet.

use super::Secret;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct Databases {
    pub sqlite: Option<SqliteSettings>,
    pub redis: Option<RedisSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SqliteSettings {
    /// The database file; `<data-dir>/memory.db` when absent.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RedisSettings {
    /// `redis://[user:password@]host[:port][/db]`. A `Secret`, since it may
    /// hold a password: print [`RedisSettings::shown_url`] instead.
    #[serde(deserialize_with = "redis_url")]
    pub url: Secret,
    /// Every key the bot writes starts with `<prefix>:` [default: sandbot].
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_prefix() -> String {
    "sandbot".into()
}

impl RedisSettings {
    /// The URL with its password (in the user part, or a `pass=`/`password=`
    /// query parameter) replaced by `***`: what logs and errors may show.
    pub fn shown_url(&self) -> String {
        shown_url(self.url.expose())
    }
}

fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority_end, _) = rest
        .char_indices()
        .find(|&(_, c)| c == '/' || c == '?')
        .unwrap_or((rest.len(), ' '));
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _password)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k == "pass" || k == "password" => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    if scheme.is_empty() {
        format!("{authority}{tail}")
    } else {
        format!("{scheme}://{authority}{tail}")
    }
}

/// Only what this build can speak; `rediss://` (TLS) is not built in, and
/// finding that out at the first skill call would be late.
fn redis_url<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let url = Secret::deserialize(d)?;
    let text = url.expose();
    let known = ["redis://", "redis+unix://", "unix://"];
    if !known.iter().any(|s| text.starts_with(s)) {
        return Err(de::Error::custom(format!(
            "url `{}` is not a Redis URL this build can use: it should start with redis:// (or unix:// for a socket; TLS, rediss://, is not built in)",
            shown_url(text)
        )));
    }
    Ok(url)
}

const FIELDS: &[&str] = &["sqlite", "redis"];

impl<'de> Deserialize<'de> for Databases {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DatabasesVisitor)
    }
}

struct DatabasesVisitor;

impl<'de> Visitor<'de> for DatabasesVisitor {
    type Value = Databases;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping with `sqlite` or `redis`")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Databases, E> {
        Ok(Databases::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<Databases, E> {
        Ok(Databases::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Databases, A::Error> {
        let mut out = Databases::default();
        let mut seen: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            if !FIELDS.contains(&key.as_str()) {
                return Err(de::Error::unknown_field(&key, FIELDS));
            }
            if let Some(first) = &seen {
                if *first == key {
                    return Err(de::Error::duplicate_field(
                        FIELDS[usize::from(key == "redis")],
                    ));
                }
                return Err(de::Error::custom(format!(
                    "`{key}` and `{first}` are both given: memory is kept by one backend; remove one"
                )));
            }
            match key.as_str() {
                "sqlite" => {
                    out.sqlite = Some(
                        map.next_value::<Option<SqliteSettings>>()?
                            .unwrap_or(SqliteSettings { path: None }),
                    )
                }
                _ => out.redis = Some(map.next_value()?),
            }
            seen = Some(key);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<crate::config::Config, String> {
        crate::config::parse(text, Path::new("/c.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn redis_or_sqlite() {
        let c = parse("databases:\n  redis: {url: redis://127.0.0.1:6390/0}\n").unwrap();
        let redis = c.databases.redis.unwrap();
        assert_eq!(redis.prefix, "sandbot");
        assert_eq!(redis.shown_url(), "redis://127.0.0.1:6390/0");
        assert!(c.databases.sqlite.is_none());
        let c = parse("databases:\n  sqlite:\n").unwrap();
        assert!(c.databases.sqlite.is_some() && c.databases.redis.is_none());
        let c = parse("databases:\n").unwrap();
        assert!(c.databases.sqlite.is_none() && c.databases.redis.is_none());
    }

    #[test]
    fn both_backends_is_an_error() {
        assert_eq!(
            parse("databases:\n  sqlite: {path: m.db}\n  redis: {url: redis://127.0.0.1:6390/0, prefix: bot}\n")
                .unwrap_err(),
            "/c.yaml:2:3: databases: `redis` and `sqlite` are both given: memory is kept by one backend; remove one"
        );
    }

    #[test]
    fn mistakes_name_their_place() {
        assert_eq!(
            parse("databases:\n  redis: {url: redis://h/0, prefx: bot}\n").unwrap_err(),
            "/c.yaml:2:29: databases.redis: unknown field `prefx` (did you mean `prefix`?), expected `url` or `prefix`"
        );
        assert_eq!(
            parse("databases:\n  mysql: {}\n").unwrap_err(),
            "/c.yaml:2:3: databases: unknown field `mysql`, expected `sqlite` or `redis`"
        );
        let e = parse("databases:\n  redis: {url: \"rediss://:hunter2@h/0\"}\n").unwrap_err();
        assert!(
            e.starts_with(
                "/c.yaml:2:10: databases.redis: url `rediss://:***@h/0` is not a Redis URL"
            ),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse("databases:\n  redis: {prefix: bot}\n").unwrap_err();
        assert!(e.contains("missing field `url`"), "{e}");
    }

    #[test]
    fn a_password_is_never_shown() {
        for (url, shown) in [
            ("redis://127.0.0.1:6390/0", "redis://127.0.0.1:6390/0"),
            (
                "redis://:hunter2@db.internal:6379/2",
                "redis://:***@db.internal:6379/2",
            ),
            ("redis://bot:p@ss:word@db:6379", "redis://bot:***@db:6379"),
            ("redis://bot@db", "redis://bot@db"),
            (
                "redis+unix:///run/redis.sock?db=1&pass=hunter2",
                "redis+unix:///run/redis.sock?db=1&pass=***",
            ),
        ] {
            assert_eq!(shown_url(url), shown, "{url}");
        }
    }
}
