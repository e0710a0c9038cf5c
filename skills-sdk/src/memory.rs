//! The skill's own key-value memory; it survives restarts. Keys are private
//! to the skill.
//!
//! `get`, `put` and `delete` are single steps. A read followed by a write is
//! not: two events (or two hosts) running at once can both read the old
//! value, and one write is lost. For a counter use [`increment`]; for any
//! other read-modify-write use [`compare_and_swap`] in a loop (or
//! [`update`], which is that loop); to change several keys together use
//! [`batch`], which writes all of them or none.
//!
//! ```ignore
//! let visits = memory::increment("visits", 1)?;
//! memory::update("names", |old| format!("{}alice,", old.unwrap_or_default()))?;
//! memory::batch(&[Write::Put(("a".into(), "1".into())), Write::Delete("b".into())])?;
//! ```

pub use crate::bindings::sandbot::skill::memory::{
    Write, batch, compare_and_swap, delete, get, increment, put,
};

/// How many times [`update`] tries before it gives up: each failed try
/// means another writer changed the key in between. With n writers on one
/// key, one wins each round, so a writer loses k rounds in a row with a
/// chance of about ((n-1)/n)^k: for 32 writers at once (two workers' worth
/// of events), 4% at 100 tries, 10^-14 at 1,000. A key that busy is better
/// served by `increment` where it fits.
pub const UPDATE_TRIES: u32 = 1000;

/// Reads `key` (`None`: absent), asks `change` for its new value, and
/// writes it only if nobody wrote the key in between (compare-and-swap),
/// reading again and asking again otherwise. Returns the value written.
/// `change` may run more than once, so it should only compute.
pub fn update(key: &str, mut change: impl FnMut(Option<&str>) -> String) -> Result<String, String> {
    for _ in 0..UPDATE_TRIES {
        let old = get(key)?;
        let new = change(old.as_deref());
        if compare_and_swap(key, old.as_deref(), &new)? {
            return Ok(new);
        }
    }
    Err(format!(
        "memory key `{key}` changed under {UPDATE_TRIES} tries in a row; try again later"
    ))
}

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
