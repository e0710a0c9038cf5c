//! The one executor: runs a skill for an event and makes its one
//! execution record. Every run goes through it: the dispatcher's hits, the
//! background runs after an ack, crontab and webhook triggers, and a
//! workflow's tasks. What differs between them are options of [`Job`]:
//! where a failure is said, a place already reserved in the skill's gate,
//! a time limit, and quiet runs (a workflow task's answers go into its
//! record instead of the room; the engine records the task, so a quiet run
//! dropped midway leaves no record of its own).
//!
//! A loud run dropped before it ends (shutdown, a webhook caller gone)
//! still gives its record to the observers, as `interrupted`; none is lost
//! silently.

use crate::bus::ResponseSink;
use crate::catalog::Skill;
use crate::config::HumanDuration;
use crate::event::{Event, EventId, Execution, Outcome, Response, ResponseBody, Target, now_ms};
use crate::observe::Observer;
use crate::runtime::{Call, Reserved, Reword, Runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why an execution has no outcome of its own.
pub const INTERRUPTED: &str = "the bot stopped before the skill finished";

/// What runs skills: the runtime, where answers go, who hears of records.
#[derive(Clone, Copy)]
pub struct Executor<'a> {
    pub runtime: &'a Runtime,
    pub responses: &'a dyn ResponseSink,
    pub observers: &'a [Arc<dyn Observer>],
}

/// One run of a skill: the record (made beforehand, naming the skill,
/// matcher and captures the call gets) and the options.
pub struct Job<'a> {
    pub skill: &'a Skill,
    pub event: &'a Event,
    pub event_id: EventId,
    /// Rewrites each answer (an operator alias's `result` template).
    pub reword: Option<Reword>,
    /// Its answers go into the record, not to the room.
    pub quiet: bool,
    /// A failure the user should hear of is said here, in reply.
    pub failure_to: Option<Target>,
    /// A place already taken in the skill's gate.
    pub reserved: Option<Reserved>,
    /// Stopped after this long, as `timeout`.
    pub limit: Option<Duration>,
}

/// How a run went: its record, the skill's structured result, and a
/// failure's one-line reason.
pub struct Ran {
    pub record: Execution,
    pub structured: Option<serde_json::Value>,
    pub failure: Option<String>,
}

impl Ran {
    /// The run's text answers, joined by newlines; only those to
    /// `connector` when given.
    pub fn answer(&self, connector: Option<&str>) -> String {
        answers(&self.record.responses, connector)
    }
}

/// Text answers among `responses`, joined by newlines; only those to
/// `connector` when given.
pub fn answers(responses: &[Response], connector: Option<&str>) -> String {
    let texts: Vec<&str> = responses
        .iter()
        .filter(|r| connector.is_none_or(|c| r.target.connector == c))
        .filter_map(|r| match &r.body {
            ResponseBody::Text(t) => Some(t.as_str()),
            ResponseBody::Reaction { .. } => None,
        })
        .collect();
    texts.join("\n")
}

impl Executor<'_> {
    /// Runs `job`, filling in `record` (started now) with how it went. The
    /// record is the caller's to give to the observers ([`Executor::observe`]).
    pub async fn run(&self, job: Job<'_>, record: Execution) -> Ran {
        let Job {
            skill,
            event,
            event_id,
            reword,
            quiet,
            failure_to,
            reserved,
            limit,
        } = job;
        let clock = Instant::now();
        // Shared while it runs: a loud run's observers may read it as its
        // `running` row, what is left of it if the bot dies before the run
        // ends (a quiet run's workflow records it).
        let record = Arc::new(record);
        if !quiet {
            for observer in self.observers {
                observer.started(&record);
            }
        }
        let mut unfinished = Unfinished {
            observers: self.observers,
            record: Some(record),
            loud: !quiet,
        };
        let handled = {
            let record = unfinished.record.as_ref().expect("taken once, below");
            let call = Call {
                event,
                event_id: Some(event_id),
                matcher_id: &record.matcher,
                captures: &record.captures,
                reword,
                quiet,
            };
            let run = async {
                match reserved {
                    Some(reserved) => self.runtime.call_reserved(skill, reserved, call).await,
                    None => self.runtime.call(skill, call).await,
                }
            };
            match limit {
                Some(limit) => tokio::time::timeout(limit, run).await.ok(),
                None => Some(run.await),
            }
        };
        // Copied only if an observer is reading it at this moment.
        let mut record = Arc::unwrap_or_clone(unfinished.record.take().expect("taken once"));
        record.ended_at = now_ms();
        record.micros = clock.elapsed().as_micros() as u64;
        let Some(handled) = handled else {
            let limit = limit.unwrap_or_default();
            let brief = format!("took longer than its timeout of {}", HumanDuration(limit));
            record.outcome = Outcome::Timeout;
            record.error = Some(brief.clone());
            return Ran {
                record,
                structured: None,
                failure: Some(brief),
            };
        };
        let failure = match &handled.result {
            Ok(()) => None,
            Err(failure) => {
                record.outcome = failure.outcome(&handled.denials);
                record.error = Some(failure.to_string());
                if let Some(target) = failure_to {
                    let text = format!("⚠ {}: {}", skill.name, failure.brief());
                    self.say(target, event_id, text).await;
                }
                Some(failure.brief())
            }
        };
        if failure.is_none() {
            record.outcome = Outcome::Ok;
            record.error = None;
        }
        record.denials = handled.denials;
        record.responses = handled.sent;
        Ran {
            record,
            structured: handled.structured,
            failure,
        }
    }

    /// Gives `record` to every observer.
    pub fn observe(&self, record: &Execution) {
        observe(self.observers, record);
    }

    /// Gives `record`, finished, to every observer: one that keeps it (the
    /// history) shares it rather than copying it.
    pub fn observe_shared(&self, record: &Arc<Execution>) {
        for observer in self.observers {
            observer.executed_shared(record);
        }
    }

    /// Says `text` to `target`, in reply to event `id`.
    pub async fn say(&self, target: Target, id: EventId, text: String) {
        let response = Response {
            target,
            body: ResponseBody::Text(text),
            in_reply_to: Some(id),
        };
        if let Err(e) = self.responses.deliver(response).await {
            tracing::warn!("could not answer: {e}");
        }
    }
}

fn observe(observers: &[Arc<dyn Observer>], record: &Execution) {
    for observer in observers {
        observer.executed(record);
    }
}

/// An execution under way: a loud one dropped before it ends gives its
/// record to the observers as `interrupted`.
struct Unfinished<'o> {
    observers: &'o [Arc<dyn Observer>],
    record: Option<Arc<Execution>>,
    loud: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(record) = self.record.take().filter(|_| self.loud) {
            let mut record = Arc::unwrap_or_clone(record);
            record.ended_at = now_ms();
            record.outcome = Outcome::Interrupted;
            record.error = Some(INTERRUPTED.into());
            tracing::warn!(skill = %record.skill, matcher = %record.matcher, "interrupted: {INTERRUPTED}");
            observe(self.observers, &record);
        }
    }
}
