//! Handling one event: a fresh store and instance from the cached
//! `InstancePre`, the call under the skill's limits, and a failure the user
//! and the operator can read.

use super::Runtime;
use super::convert;
use super::skill::{LoadedSkill, Pre};
use super::state::{SkillHost, State};
use crate::config::{ByteSize, HumanDuration};
use crate::event::Event;
use wasmtime::Store;

/// Why a skill did not finish an event.
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
    #[error("panicked: {message}{}", at.as_deref().map(|a| format!(" (at {a})")).unwrap_or_default())]
    Panicked { message: String, at: Option<String> },
    /// Any other trap, described by wasmtime.
    #[error("crashed: {0}")]
    Crashed(String),
    /// The skill returned an error itself.
    #[error("reported an error: {0}")]
    Error(String),
}

impl Runtime {
    /// Runs `skill`'s `handle` for `event`, as matched by `matcher_id`.
    pub async fn handle(
        &self,
        skill: &LoadedSkill,
        event: &Event,
        matcher_id: &str,
        captures: &[(String, String)],
    ) -> Result<(), Failure> {
        let mut store = self.new_store(State::new(skill.host.clone(), event.origin()));
        let wit_event = convert::event_to_wit(event);
        let call = async {
            match &skill.pre {
                Pre::Async(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let (id, captures) = (matcher_id.to_owned(), captures.to_vec());
                    store
                        .run_concurrent(async |accessor| {
                            instance
                                .call_handle(accessor, wit_event, id, captures)
                                .await
                        })
                        .await?
                }
                Pre::Sync(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    instance
                        .call_handle(&mut store, &wit_event, matcher_id, &captures.to_vec())
                        .await
                }
            }
        };
        let budget = skill.host.limits.time;
        let outcome = if self.enforce_limits {
            tokio::time::timeout(budget.0, call).await
        } else {
            Ok(call.await)
        };
        match outcome {
            Err(_) => Err(Failure::Timeout(budget)),
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(message))) => Err(Failure::Error(message)),
            Ok(Err(e)) => Err(classify_error(e, &store, &skill.host)),
        }
    }
}

/// Turns a trap into a failure, using what the store saw: whether the memory
/// cap was hit, and a panic message the guest wrote to stderr.
pub(super) fn classify_error(
    error: wasmtime::Error,
    store: &Store<State>,
    host: &SkillHost,
) -> Failure {
    let state = store.data();
    if state.memory_cap.exceeded {
        return Failure::OutOfMemory(host.limits.memory);
    }
    tracing::debug!(skill = %host.name, error = ?error, "skill trapped");
    let trap = error.downcast_ref::<wasmtime::Trap>();
    if trap == Some(&wasmtime::Trap::StackOverflow) {
        return Failure::StackOverflow;
    }
    if let Some((message, at)) = panic_message(&state.stderr_text()) {
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
