//! Why a skill did not finish an event (or `describe`), classified once from
//! what wasmtime and the store saw, in words for the operator (`Display`)
//! and for the user (`brief`).

use crate::event::Outcome;
use crate::limits::{ByteSize, HumanDuration};
use crate::text::for_log;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("ran past its time budget of {0}")]
    Timeout(HumanDuration),
    #[error("went over its memory limit of {0}")]
    OutOfMemory(ByteSize),
    /// Runaway recursion, most likely.
    #[error("exhausted its call stack")]
    StackOverflow,
    /// A Rust-style panic: the message, then where (when the guest said).
    #[error("panicked: {}{}", for_log(message), at.as_deref().map(|a| format!(" (at {})", for_log(a))).unwrap_or_default())]
    Panicked { message: String, at: Option<String> },
    /// Any other trap, described by wasmtime.
    #[error("crashed: {}", for_log(.0))]
    Crashed(String),
    /// The skill returned an error itself.
    #[error("reported an error: {}", for_log(.0))]
    Error(String),
    /// The skill already runs as many events as its limits allow and as
    /// many wait: this one was not started.
    #[error(
        "is busy: {running} events running and {waiting} waiting (limits.concurrency, limits.queue)"
    )]
    Busy { running: u32, waiting: u32 },
}

impl Failure {
    /// The execution record's outcome for this failure: a skill that failed
    /// after a grant was refused (`denials`) counts as denied.
    pub fn outcome(&self, denials: &[String]) -> Outcome {
        match self {
            Failure::Error(_) if !denials.is_empty() => Outcome::Denied,
            Failure::Error(_) => Outcome::Error,
            Failure::Timeout(_) => Outcome::Timeout,
            Failure::OutOfMemory(_) => Outcome::OutOfMemory,
            Failure::StackOverflow => Outcome::StackOverflow,
            Failure::Panicked { .. } | Failure::Crashed(_) => Outcome::Crashed,
            Failure::Busy { .. } => Outcome::Busy,
        }
    }

    /// What the user is told: short, and without the operator's details.
    pub fn brief(&self) -> String {
        match self {
            Failure::Timeout(budget) => {
                format!("took longer than its {budget} budget and was stopped")
            }
            Failure::OutOfMemory(limit) => {
                format!("ran out of memory (limit {limit}) and was stopped")
            }
            Failure::StackOverflow => {
                "ran out of stack (runaway recursion?) and was stopped".into()
            }
            Failure::Panicked { message, .. } => format!("panicked: {message}"),
            Failure::Crashed(reason) => format!("crashed: {reason}"),
            Failure::Error(message) => message.clone(),
            Failure::Busy { .. } => "is busy with other requests; try again in a moment".into(),
        }
    }
}

/// What the store recorded about a failed call, for [`classify`].
pub struct FailureContext<'a> {
    pub skill: &'a str,
    /// `Some(limit)` when the memory limit refused a growth.
    pub memory_exceeded: Option<ByteSize>,
    /// What the skill wrote to stderr (its last few KiB).
    pub stderr: String,
}

/// The most of a failed skill's stderr that goes to the log.
const STDERR_LINES_LOGGED: usize = 30;

/// Turns a trap into a failure, using what the store saw: whether the memory
/// cap was hit, and a panic message the guest wrote to stderr.
pub fn classify(error: wasmtime::Error, after: FailureContext<'_>) -> Failure {
    if let Some(limit) = after.memory_exceeded {
        return Failure::OutOfMemory(limit);
    }
    tracing::debug!(skill = %after.skill, error = ?error, "skill trapped");
    let stderr = &after.stderr;
    // Python and JavaScript runtimes print their traceback to stderr before
    // they trap: that is what the operator needs to see. Every line is
    // escaped and marked, so the skill's text cannot pass for the bot's own
    // log lines.
    let lines: Vec<&str> = stderr.lines().collect();
    if !lines.is_empty() {
        let tail: Vec<String> = lines[lines.len().saturating_sub(STDERR_LINES_LOGGED)..]
            .iter()
            .map(|l| format!("  stderr| {}", for_log(l)))
            .collect();
        tracing::warn!(skill = %after.skill, "what the skill wrote to stderr before it failed:\n{}", tail.join("\n"));
    }
    let trap = error.downcast_ref::<wasmtime::Trap>();
    if trap == Some(&wasmtime::Trap::StackOverflow) {
        return Failure::StackOverflow;
    }
    if let Some((message, at)) = panic_message(stderr) {
        return Failure::Panicked { message, at };
    }
    let reason = match trap {
        Some(trap) => trap.to_string(),
        None => format!("{error}"),
    };
    Failure::Crashed(reason.trim_start_matches("wasm trap: ").to_owned())
}

/// Finds the last `panicked at FILE:LINE:COL:\nMESSAGE` a Rust guest
/// printed: (message, location).
fn panic_message(stderr: &str) -> Option<(String, Option<String>)> {
    let lines: Vec<&str> = stderr.lines().collect();
    let i = lines.iter().rposition(|l| l.contains("panicked at "))?;
    let at = lines[i]
        .split_once("panicked at ")
        .map(|(_, rest)| rest.trim_end_matches(':').to_owned());
    let message = lines.get(i + 1).map(|m| m.trim()).unwrap_or("");
    let message = if message.is_empty() || message.starts_with("note: ") {
        "(no message)".to_owned()
    } else {
        message.to_owned()
    };
    Some((message, at))
}

#[cfg(test)]
mod tests {
    #[test]
    fn panic_messages_are_found() {
        let stderr = "thread '<unnamed>' panicked at src/lib.rs:12:9:\nthe answer is not 42\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            super::panic_message(stderr).unwrap(),
            (
                "the answer is not 42".to_owned(),
                Some("src/lib.rs:12:9".to_owned())
            )
        );
        assert_eq!(super::panic_message("nothing to see"), None);
    }
}
