//! `log`: a skill's lines go to the bot's log under its name: cut to a
//! length, rate-limited per skill (`log_limit`), and escaped, so a line break
//! or an escape sequence in a skill's text can neither forge a log line nor
//! colour the operator's terminal.

use crate::runtime::bindings::log::{self, Level};
use crate::runtime::log_limit::RATE;
use crate::runtime::store::State;
use crate::text::{cut, for_log};

/// The longest line kept; the rest is cut.
const MAX_LINE: usize = 2 << 10;

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

impl log::Host for State {
    async fn log(&mut self, level: Level, message: String) {
        let skill = self.skill.name.as_str();
        let Some(dropped) = self.skill.log_limiter.admit() else {
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
