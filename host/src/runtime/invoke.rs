//! Handling one event: a fresh store and instance from the cached
//! `InstancePre`, the call under the skill's limits, and a failure the user
//! and the operator can read.

use super::Runtime;
use super::bindings::{AsyncSkill, SkillSync};
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

/// An instance kept for reuse: only skills whose entry sets
/// `instance-reuse` get them, and only until a trap or N events.
pub(super) struct Warm {
    store: Store<State>,
    instance: Instance,
    uses: u32,
}

enum Instance {
    Async(AsyncSkill),
    Sync(SkillSync),
}

/// Idle instances kept per skill; more concurrent events make fresh ones.
const MAX_IDLE: usize = 4;

/// The warm instances of one skill. Its lock is the skill's own and is held
/// only to push or pop.
#[derive(Default)]
pub(super) struct WarmPool {
    idle: std::sync::Mutex<Vec<Warm>>,
}

impl WarmPool {
    fn take(&self) -> Option<Warm> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn give_back(&self, warm: Warm) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(warm);
        }
    }
}

impl Runtime {
    /// Runs `skill`'s `handle` for `event`, as matched by `matcher_id`: in a
    /// fresh instance, or in a warm one when the skill opted into reuse.
    pub async fn handle(
        &self,
        skill: &LoadedSkill,
        event: &Event,
        matcher_id: &str,
        captures: &[(String, String)],
    ) -> Result<(), Failure> {
        let reuse = skill.instance_reuse;
        let warm = if reuse > 1 { skill.warm.take() } else { None };
        let (mut store, instance, uses) = match warm {
            Some(Warm {
                mut store,
                instance,
                uses,
            }) => {
                let state = store.data_mut();
                state.origin = event.origin();
                state.messages_sent = 0;
                store.set_epoch_deadline(1);
                (store, Some(instance), uses)
            }
            None => (
                self.new_store(State::new(skill.host.clone(), event.origin())),
                None,
                0,
            ),
        };
        let wit_event = convert::event_to_wit(event);
        let call = async {
            let instance = match instance {
                Some(i) => i,
                None => match &skill.pre {
                    Pre::Async(pre) => Instance::Async(pre.instantiate_async(&mut store).await?),
                    Pre::Sync(pre) => Instance::Sync(pre.instantiate_async(&mut store).await?),
                },
            };
            let result = match &instance {
                Instance::Async(skill) => {
                    let (id, captures) = (matcher_id.to_owned(), captures.to_vec());
                    store
                        .run_concurrent(async |accessor| {
                            skill.call_handle(accessor, wit_event, id, captures).await
                        })
                        .await??
                }
                Instance::Sync(skill) => {
                    skill
                        .call_handle(&mut store, &wit_event, matcher_id, &captures.to_vec())
                        .await?
                }
            };
            wasmtime::Result::Ok((result, instance))
        };
        let budget = skill.host.limits.time;
        let outcome = if self.enforce_limits {
            tokio::time::timeout(budget.0, call).await
        } else {
            Ok(call.await)
        };
        // A timed-out or trapped instance is dropped with its store; one
        // that finished (even with an error of its own) may serve again.
        let result = match outcome {
            Err(_) => return Err(Failure::Timeout(budget)),
            Ok(Err(e)) => return Err(classify_error(e, &store, &skill.host)),
            Ok(Ok((result, instance))) => {
                if uses + 1 < reuse {
                    skill.warm.give_back(Warm {
                        store,
                        instance,
                        uses: uses + 1,
                    });
                }
                result
            }
        };
        result.map_err(Failure::Error)
    }
}

/// The most of a failed skill's stderr that goes to the log.
const STDERR_LINES_LOGGED: usize = 30;

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
    let stderr = state.stderr_text();
    // Python and JavaScript runtimes print their traceback to stderr before
    // they trap: that is what the operator needs to see.
    let lines: Vec<&str> = stderr.lines().collect();
    if !lines.is_empty() {
        let tail = lines[lines.len().saturating_sub(STDERR_LINES_LOGGED)..].join("\n");
        tracing::warn!(skill = %host.name, "what the skill wrote to stderr before it failed:\n{tail}");
    }
    let trap = error.downcast_ref::<wasmtime::Trap>();
    if trap == Some(&wasmtime::Trap::StackOverflow) {
        return Failure::StackOverflow;
    }
    if let Some((message, at)) = panic_message(&stderr) {
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
