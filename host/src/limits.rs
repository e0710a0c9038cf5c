//! What one skill may cost, per event and at rest (`Limits`), and the units
//! they are written in: durations (`250ms`, `5s`, `2m`) and sizes (`64MiB`,
//! `512KiB`, `1000`) as people write them in YAML. A bare number is
//! milliseconds or bytes. The configuration re-exports these; the runtime
//! and memory read them without depending on the configuration.

use serde::{Deserialize, Deserializer, de};
use std::fmt;
use std::time::Duration;

/// What a skill may use. Every field has a default, so `limits: {time: 2s}`
/// changes only the time budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Wall-clock time for one event, host calls included.
    #[serde(default = "default_time")]
    pub time: HumanDuration,
    /// The most memory one event may hold: all the linear memories of the
    /// component's instances together.
    #[serde(default = "default_memory")]
    pub memory: ByteSize,
    /// Messages (responses, sends, reactions) one event may produce.
    #[serde(default = "default_responses")]
    pub responses: u32,
    /// The largest single message text.
    #[serde(default = "default_response_size")]
    pub response_size: ByteSize,
    /// The largest HTTP response body the skill may read.
    #[serde(default = "default_http_response_size")]
    pub http_response_size: ByteSize,
    /// Events of this skill running at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Events of this skill waiting for one of those places; past this, an
    /// event is answered "busy" at once.
    #[serde(default = "default_queue")]
    pub queue: u32,
    /// Keys the skill may keep in memory (the `memory` interface).
    #[serde(default = "default_stored_keys")]
    pub stored_keys: u64,
    /// Bytes of keys and values the skill may keep in memory.
    #[serde(default = "default_stored_bytes")]
    pub stored_bytes: ByteSize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: default_time(),
            memory: default_memory(),
            responses: default_responses(),
            response_size: default_response_size(),
            http_response_size: default_http_response_size(),
            concurrency: default_concurrency(),
            queue: default_queue(),
            stored_keys: default_stored_keys(),
            stored_bytes: default_stored_bytes(),
        }
    }
}

fn default_time() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_memory() -> ByteSize {
    ByteSize(64 << 20)
}
fn default_responses() -> u32 {
    20
}
fn default_response_size() -> ByteSize {
    ByteSize(16 << 10)
}
fn default_http_response_size() -> ByteSize {
    ByteSize(1 << 20)
}
fn default_concurrency() -> u32 {
    16
}
fn default_queue() -> u32 {
    64
}
fn default_stored_keys() -> u64 {
    10_000
}
fn default_stored_bytes() -> ByteSize {
    ByteSize(16 << 20)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..end].parse().ok()?;
    Some((number, text[end..].trim()))
}

impl HumanDuration {
    pub fn parse(text: &str) -> Option<Self> {
        let (n, unit) = split_number(text)?;
        let ms = match unit {
            "" | "ms" => n,
            "s" | "sec" => n * 1e3,
            "m" | "min" => n * 60e3,
            "h" => n * 3600e3,
            "d" => n * 86_400e3,
            _ => return None,
        };
        Some(HumanDuration(Duration::from_micros((ms * 1e3) as u64)))
    }
}

impl ByteSize {
    pub fn parse(text: &str) -> Option<Self> {
        let (n, unit) = split_number(text)?;
        let scale: f64 = match unit {
            "" | "B" => 1.0,
            "KiB" | "K" => 1024.0,
            "MiB" | "M" => 1024.0 * 1024.0,
            "GiB" | "G" => 1024.0 * 1024.0 * 1024.0,
            "kB" | "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            _ => return None,
        };
        Some(ByteSize((n * scale) as u64))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms >= 1000 && ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1024 * 1024;
        match self.0 {
            b if b >= MIB && b % MIB == 0 => write!(f, "{}MiB", b / MIB),
            b if b >= 1024 && b % 1024 == 0 => write!(f, "{}KiB", b / 1024),
            b => write!(f, "{b}B"),
        }
    }
}

/// Accepts a number or a string with a unit; `parse` reads the string.
fn number_or_text<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    from_number: fn(u64) -> T,
    parse: fn(&str) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<T> {
        expecting: &'static str,
        from_number: fn(u64) -> T,
        parse: fn(&str) -> Option<T>,
    }
    impl<T> de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            Ok((self.from_number)(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            u64::try_from(v)
                .map(self.from_number)
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    deserializer.deserialize_any(V {
        expecting,
        from_number,
        parse,
    })
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(
            d,
            "a duration such as 250ms, 5s or 2m",
            |ms| HumanDuration(Duration::from_millis(ms)),
            HumanDuration::parse,
        )
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(
            d,
            "a size such as 64MiB, 512KiB or 1000",
            ByteSize,
            ByteSize::parse,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            HumanDuration::parse("250ms").unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            HumanDuration::parse("1.5s").unwrap().0,
            Duration::from_millis(1500)
        );
        assert_eq!(
            HumanDuration::parse("2m").unwrap().0,
            Duration::from_secs(120)
        );
        assert!(HumanDuration::parse("fast").is_none());
        assert!(HumanDuration::parse("5 parsecs").is_none());
        assert_eq!(
            HumanDuration(Duration::from_millis(300)).to_string(),
            "300ms"
        );
        assert_eq!(HumanDuration(Duration::from_secs(5)).to_string(), "5s");
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("64MiB").unwrap().0, 64 << 20);
        assert_eq!(ByteSize::parse("512 KiB").unwrap().0, 512 << 10);
        assert_eq!(ByteSize::parse("1000").unwrap().0, 1000);
        assert!(ByteSize::parse("lots").is_none());
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
    }
}
