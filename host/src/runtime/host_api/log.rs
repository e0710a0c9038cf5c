//! `log`: a skill's lines go to the bot's log under its name, truncated and
//! rate-limited so a chatty or hostile skill cannot flood the operator's log.

use crate::runtime::bindings::log::{self, Level};
use crate::runtime::state::State;
use std::sync::Mutex;
use std::time::Instant;

/// The longest line kept; the rest is cut.
const MAX_LINE: usize = 2 << 10;
/// Lines per second a skill may log on average...
const RATE: f64 = 20.0;
/// ...and in one burst.
const BURST: f64 = 100.0;

/// A token bucket per skill. The lock is the skill's own and held for a few
/// instructions, never across an await.
pub struct LogLimiter {
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    dropped: u64,
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter {
            bucket: Mutex::new(Bucket {
                tokens: BURST,
                at: Instant::now(),
                dropped: 0,
            }),
        }
    }
}

impl LogLimiter {
    /// `Some(lines dropped since the last line let through)` when this line
    /// may be logged, `None` when it is dropped.
    fn admit(&self) -> Option<u64> {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * RATE).min(BURST);
        b.at = now;
        if b.tokens < 1.0 {
            b.dropped += 1;
            return None;
        }
        b.tokens -= 1.0;
        Some(std::mem::take(&mut b.dropped))
    }
}

fn truncate(message: &mut String) {
    if message.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let cut = message.len() - end;
        message.truncate(end);
        message.push_str(&format!("… ({cut} more bytes cut)"));
    }
}

impl log::Host for State {
    async fn log(&mut self, level: Level, mut message: String) {
        let skill = self.skill.name.as_str();
        let Some(dropped) = self.skill.log_limiter.admit() else {
            return;
        };
        if dropped > 0 {
            tracing::warn!(target: "skill", skill = %skill, "{dropped} log lines dropped: the skill logs faster than {RATE} lines a second");
        }
        truncate(&mut message);
        match level {
            Level::Trace => tracing::trace!(target: "skill", skill = %skill, "{message}"),
            Level::Debug => tracing::debug!(target: "skill", skill = %skill, "{message}"),
            Level::Info => tracing::info!(target: "skill", skill = %skill, "{message}"),
            Level::Warn => tracing::warn!(target: "skill", skill = %skill, "{message}"),
            Level::Error => tracing::error!(target: "skill", skill = %skill, "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_and_the_drop_counted() {
        let limiter = LogLimiter::default();
        let admitted = (0..1000).filter(|_| limiter.admit().is_some()).count();
        assert!((100..=130).contains(&admitted), "{admitted}");
        std::thread::sleep(std::time::Duration::from_millis(120));
        let dropped = limiter.admit().expect("tokens refill");
        assert!(dropped >= 890, "{dropped}");
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let mut s = "é".repeat(MAX_LINE);
        truncate(&mut s);
        assert!(s.len() < MAX_LINE + 40);
        assert!(s.ends_with("more bytes cut)"));
    }
}
