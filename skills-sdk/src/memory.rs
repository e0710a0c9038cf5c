//! The skill's own key-value memory; it survives restarts. Keys are private
//! to the skill.

pub use crate::bindings::sandbot::skill::memory::{delete, get, put};

/// Reads a value stored with [`put_json`].
#[cfg(feature = "json")]
pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
    match get(key)? {
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("memory key `{key}` does not hold the expected JSON: {e}")),
        None => Ok(None),
    }
}

/// Stores a value as JSON.
#[cfg(feature = "json")]
pub fn put_json<T: serde::Serialize>(key: &str, value: &T) -> Result<(), String> {
    let text =
        serde_json::to_string(value).map_err(|e| format!("cannot encode memory value: {e}"))?;
    put(key, &text)
}
