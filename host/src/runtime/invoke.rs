//! Handling one event: admission (the skill's gate, then a place in the
//! instance pool), a fresh store and instance from the cached `InstancePre`
//! (or a warm one when the skill opted into reuse), the call under the
//! skill's limits, and a failure the user and the operator can read.

use super::convert;
use super::engine::Runtime;
use super::failure::{self, Failure, FailureContext};
pub use super::gate::Reserved;
use super::load::LoadedSkill;
use super::phase::Phase;
use super::store::State;
use super::warm::Warm;
use crate::event::{Event, EventId, Response};

/// One call of a skill's `handle`.
pub struct Call<'a> {
    pub event: &'a Event,
    /// The bot's id for the event: answers carry it.
    pub event_id: Option<EventId>,
    pub matcher_id: &'a str,
    pub captures: &'a [(String, String)],
    /// Rewrites each answer `respond` gives (an operator alias's `result`
    /// template), before its limits are checked.
    pub reword: Option<Reword>,
    /// Keep what `respond` says for the record instead of delivering it
    /// (a workflow's task: the workflow decides what the room hears).
    pub quiet: bool,
}

pub use super::host_api::chat::Reword;

/// How a call ended, and what it sent on the way.
pub struct Handled {
    pub result: Result<(), Failure>,
    /// Every message the skill sent (already delivered), in order.
    pub sent: Vec<Response>,
    /// Grants the skill was refused during the call.
    pub denials: Vec<String>,
    /// The structured result the skill gave (`chat.set-result`), if any.
    pub structured: Option<serde_json::Value>,
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
        let call = Call {
            event,
            event_id: None,
            matcher_id,
            captures,
            reword: None,
            quiet: false,
        };
        self.call(skill, call).await.result
    }

    /// Runs one call: in a fresh instance, or in a warm one when the skill
    /// opted into reuse.
    pub async fn call(&self, skill: &LoadedSkill, call: Call<'_>) -> Handled {
        match self.reserve(skill) {
            Ok(reserved) => self.call_reserved(skill, reserved, call).await,
            Err(busy) => Handled {
                result: Err(busy),
                sent: Vec::new(),
                denials: Vec::new(),
                structured: None,
            },
        }
    }

    /// A place in `skill`'s gate (running or queued), or `Busy` at once:
    /// what a caller learns before it promises the user anything.
    pub fn reserve(&self, skill: &LoadedSkill) -> Result<Reserved, Failure> {
        skill.gate.reserve()
    }

    /// [`Runtime::call`] with the place already reserved.
    pub async fn call_reserved(
        &self,
        skill: &LoadedSkill,
        reserved: Reserved,
        call: Call<'_>,
    ) -> Handled {
        let _admitted = reserved.admitted().await;
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the slots are never closed");
        let reuse = skill.instance_reuse;
        let warm = if reuse > 1 { skill.warm.take() } else { None };
        let (mut store, instance, uses) = match warm {
            Some(Warm {
                mut store,
                instance,
                uses,
            }) => {
                store.set_epoch_deadline(1);
                (store, Some(instance), uses)
            }
            None => (
                self.new_store(State::new(&skill.host, Phase::Handle)),
                None,
                0,
            ),
        };
        // A webhook's answer is its HTTP response; a quiet call's goes into
        // the record: neither is delivered to a room.
        let keep_answers = call.quiet || matches!(call.event, crate::event::Event::Webhook(_));
        store.data_mut().begin_event(
            call.event_id,
            call.event.origin(),
            call.reword.clone(),
            keep_answers,
        );
        let wit_event = convert::event_to_wit(call.event);
        let run = async {
            let instance = match instance {
                Some(i) => i,
                None => skill.shared.pre.instantiate(&mut store).await?,
            };
            let result = instance
                .handle(&mut store, wit_event, call.matcher_id, call.captures)
                .await?;
            wasmtime::Result::Ok((result, instance))
        };
        let budget = skill.host.limits.time;
        let outcome = if self.enforce_limits {
            tokio::time::timeout(budget.0, run).await
        } else {
            Ok(run.await)
        };
        let state = store.data_mut();
        let sent = std::mem::take(&mut state.chat.sent);
        let denials = state.take_denials();
        let structured = state.chat.structured.take();
        // A timed-out or trapped instance is dropped with its store; one
        // that finished (even with an error of its own) may serve again.
        let result = match outcome {
            Err(_) => Err(Failure::Timeout(budget)),
            Ok(Err(e)) => {
                let state = store.data();
                let after = FailureContext {
                    skill: &skill.name,
                    memory_exceeded: state.resources.exceeded(),
                    stderr: state.stderr_text(),
                };
                Err(failure::classify(e, after))
            }
            Ok(Ok((result, instance))) => {
                if uses + 1 < reuse {
                    skill.warm.give_back(Warm {
                        store,
                        instance,
                        uses: uses + 1,
                    });
                }
                result.map_err(Failure::Error)
            }
        };
        Handled {
            result,
            sent,
            denials,
            structured,
        }
    }
}
