//! The skill's own section of the bot's configuration.yaml.

pub use crate::bindings::sandbot::skill::config::{all, get};

/// A setting decoded from JSON (numbers, lists, maps).
#[cfg(feature = "json")]
pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
    match get(key)? {
        Some(text) => serde_json::from_str(&text)
            .or_else(|_| serde_json::from_value(serde_json::Value::String(text.clone())))
            .map(Some)
            .map_err(|e| format!("setting `{key}` has the wrong shape: {e}")),
        None => Ok(None),
    }
}
