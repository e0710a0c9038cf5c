//! `log`: a skill's lines go to the bot's log under its name: cut to a
//! length, rate-limited per skill (`log_limit`), and escaped, so a line break
//! or an escape sequence in a skill's text can neither forge a log line nor
//! colour the operator's terminal.
//!
//! [`LogGrant`] is made once per load (the skill's name and its rate, which
//! all its events share); each store holds a [`LogState`] pointing at it.

use crate::runtime::bindings::log::{self, Level};
use crate::runtime::log_limit::{LogLimiter, RATE};
use crate::text::{cut, for_log};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The longest line kept; the rest is cut.
const MAX_LINE: usize = 2 << 10;

/// One skill's log: its name and its rate, shared by all its events (and by
/// its memory's refusals, which are logged through the same budget).
pub struct LogGrant {
    pub skill: String,
    pub limiter: Arc<LogLimiter>,
}

/// One store's `log`.
pub struct LogState {
    grant: Arc<LogGrant>,
}

impl LogState {
    pub fn new(grant: Arc<LogGrant>) -> Self {
        LogState { grant }
    }
}

/// Links `log`, reaching each store's [`LogState`] through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogState,
) -> wasmtime::Result<()> {
    log::add_to_linker::<T, HasSelf<LogState>>(linker, get)
}

/// The line as it goes to the log: escaped, then cut with a note.
fn prepare(message: &str) -> String {
    let kept = cut(message, MAX_LINE);
    let mut line = for_log(kept).into_owned();
    if kept.len() < message.len() {
        line.push_str(&format!(
            "… ({} more bytes cut)",
            message.len() - kept.len()
        ));
    }
    line
}

impl log::Host for LogState {
    async fn log(&mut self, level: Level, message: String) {
        let skill = self.grant.skill.as_str();
        let Some(dropped) = self.grant.limiter.admit() else {
            return;
        };
        if dropped > 0 {
            tracing::warn!(target: "skill", skill = %skill, "{dropped} log lines dropped: the skill logs faster than {RATE} lines a second");
        }
        let message = prepare(&message);
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
    fn long_lines_are_cut_on_a_char_boundary() {
        let s = prepare(&"é".repeat(MAX_LINE));
        assert!(s.len() < MAX_LINE + 40);
        assert!(s.ends_with("more bytes cut)"));
    }

    #[test]
    fn a_line_break_cannot_forge_a_log_line() {
        assert_eq!(
            prepare("done\n2026-01-01T00:00:00Z ERROR bot: forged\x1b[8m"),
            "done\\n2026-01-01T00:00:00Z ERROR bot: forged\\u{1b}[8m"
        );
    }
}
