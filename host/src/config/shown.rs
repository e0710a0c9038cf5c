//! The configuration in effect as it may be shown (the operator's
//! console): its text after `${VAR}` substitution, read as data, with every
//! secret masked as `***`. A secret is known three ways, each enough alone:
//! a value `${VAR}` put in (whatever its key), a key that holds one (a
//! token, password, secret, passphrase or key of any section, every value
//! of the top-level `secrets:` and of a webhook notice's `headers`), and
//! the user and password part of a URL (`redis://user:pw@host`).

use super::Config;
use serde_json::{Map, Value};

/// What a masked value reads as.
pub const MASK: &str = "***";

/// The configuration in effect, every secret masked; `Null` when it was
/// not read from a file (the built-in defaults).
pub fn masked(config: &Config) -> Value {
    let Some(text) = config.text.as_deref() else {
        return Value::Null;
    };
    let Ok(yaml) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) else {
        return Value::Null;
    };
    let put: Vec<&str> = config
        .substituted
        .iter()
        .map(|s| s.expose())
        .filter(|s| !s.is_empty())
        .collect();
    mask(json(yaml), &put, false)
}

/// YAML as JSON: keys that are not text are written as YAML writes them.
fn json(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml_ng::to_string(&other)
                            .unwrap_or_default()
                            .trim_end()
                            .to_owned(),
                    };
                    (key, json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => json(tagged.value),
    }
}

/// Does a key of this name hold a secret?
fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "password", "secret", "passphrase", "credential"]
        .iter()
        .any(|word| key.contains(word))
        || key == "key"
        || key.ends_with("-key")
        || key.ends_with("_key")
        // A webhook notice's request headers carry its tokens.
        || key == "headers"
}

/// `value` with its secrets masked; `whole`: it is all secret.
fn mask(value: Value, put: &[&str], whole: bool) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let secret = whole || secret_key(&k);
                    let v = if k == "url" {
                        match v {
                            Value::String(url) => Value::String(without_userinfo(&url)),
                            other => other,
                        }
                    } else {
                        v
                    };
                    let v = mask(v, put, secret);
                    (k, v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| mask(v, put, whole)).collect())
        }
        _ if whole => Value::String(MASK.into()),
        Value::String(s) => Value::String(without_put(s, put)),
        scalar => {
            let text = scalar.to_string();
            if put.contains(&text.as_str()) {
                Value::String(MASK.into())
            } else {
                scalar
            }
        }
    }
}

/// `text` with every value `${VAR}` put in masked: the whole of it, or a
/// part (a URL made of a host and a `${PASSWORD}`). A part shorter than 4
/// characters is masked only when it is the whole value (`${PORT}` may be
/// `80`, which other text holds for other reasons).
fn without_put(text: String, put: &[&str]) -> String {
    if put.contains(&text.as_str()) {
        return MASK.into();
    }
    let mut out = text;
    for value in put.iter().filter(|v| v.len() >= 4) {
        if out.contains(*value) {
            out = out.replace(*value, MASK);
        }
    }
    out
}

/// A URL without its user and password (`redis://***@host:6379/0`).
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{MASK}@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every kind of connector, bus, database, notice and guard with a
    /// secret, written plainly and through `${VAR}`: none shows.
    #[test]
    fn no_secret_of_any_kind_shows() {
        // SAFETY: the variable's name is this test's alone.
        unsafe { std::env::set_var("SHOWN_TEST_SLACK_BOT", "xoxb-planted-env-1") };
        let text = "\
admins: [alice]
connectors:
  slack:
    bot-token: ${SHOWN_TEST_SLACK_BOT}
    app-token: xapp-planted-2
  matrix:
    homeserver: http://127.0.0.1:1
    user: '@bot:localhost'
    password: planted-3
    access-token: planted-4
    store-passphrase: planted-5
  irc: {server: 127.0.0.1, nick: bot, password: planted-6}
  websocket: {token: planted-7}
databases:
  redis: {url: 'redis://bot:planted-8@127.0.0.1:6379/0'}
bus: {type: nats, url: 'nats://u:planted-9@127.0.0.1:4222', token: planted-10, password: planted-11}
secrets: {api: planted-12}
skills:
  hello:
    allow: {secrets: [api]}
    api-key: planted-13
    endpoint: 'https://x.example/?k=${SHOWN_TEST_SLACK_BOT}'
history: {token: planted-14}
metrics: {token: planted-15}
workflows:
  deploy: {webhook: {secret: planted-16}}
notifications:
  targets:
    hook: {type: webhook, url: 'http://127.0.0.1:1/', headers: {authorization: Bearer planted-17}}
    mail: {type: email, smtp: '127.0.0.1:25', from: a@b.c, to: [d@e.f], password: planted-18}
web: {port: 8080, key: /etc/planted-19.pem}
";
        let mut config: Config = serde_yaml_ng::from_str("{}").unwrap();
        let mut put = Vec::new();
        let text = crate::config::env::substitute_noting(
            text,
            Path::new("c.yaml"),
            |n| std::env::var(n).ok(),
            &mut put,
        )
        .unwrap();
        config.text = Some(text.as_str().into());
        config.substituted = put.into_iter().map(super::super::Secret::new).collect();
        let shown = masked(&config).to_string();
        assert!(!shown.contains("planted"), "{shown}");
        assert!(
            shown.contains("\"homeserver\":\"http://127.0.0.1:1\""),
            "{shown}"
        );
        assert!(shown.contains("redis://***@127.0.0.1:6379/0"), "{shown}");
        assert!(shown.contains("https://x.example/?k=***"), "{shown}");
        assert!(shown.contains("\"port\":8080"), "{shown}");
    }

    #[test]
    fn a_short_value_is_masked_only_whole() {
        let out = mask(
            serde_json::json!({"port": 80, "name": "port 80 here", "x": "80"}),
            &["80"],
            false,
        );
        assert_eq!(
            out,
            serde_json::json!({"port": "***", "name": "port 80 here", "x": "***"})
        );
    }
}
