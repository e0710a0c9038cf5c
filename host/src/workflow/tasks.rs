//! Running one task for its driver: over its items when it has
//! `with-items` (at most `concurrency` at once, each item's end kept as it
//! comes so a restart runs only the items left), each with its retries,
//! each attempt an execution record (`wf-1.build`, `wf-1.each[3]`,
//! `wf-1.build~2`). What to run over, what input, whether to retry and how
//! a task's items add up are the conductor's answers; this runs them: a
//! skill (`Engine::skill`), a child workflow (`Engine::child`), or a
//! built-in (`send`, `wait`, `approve`).

use super::conductor::{self, Attempt, TaskEnd};
use super::engine::{Engine, TaskCx};
use super::spec::{Action, Task};
use super::store::{ItemDoc, RunStatus, StepError};
use super::template::as_text;
use crate::config::HumanDuration;
use crate::event::now_ms;
use crate::event::{Execution, Outcome, Response, ResponseBody, Target as Room};
use futures::StreamExt;
use minijinja::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Engine {
    /// Runs task `cx.index`: over its items if it has `with-items`, each
    /// with its retries.
    pub(super) async fn run_task(self: Arc<Self>, mut cx: TaskCx) -> TaskEnd {
        let def = cx.def.clone();
        let task = &def.tasks[cx.index];
        let started_at = if cx.doc.started_at > 0 {
            cx.doc.started_at
        } else {
            now_ms()
        };
        let list = match conductor::items(&def, task, &cx.values) {
            Ok(Some(list)) => list,
            Ok(None) => {
                let a = self.attempts(&cx, None).await;
                return conductor::single_end(a, started_at);
            }
            Err(e) => return conductor::single_end(Attempt::failed(e), started_at),
        };
        cx.doc.items.resize(list.len(), None);
        cx.doc.started_at = started_at;
        {
            let mut written = cx.written.lock().await;
            written.items.resize(list.len(), None);
            written.started_at = started_at;
        }
        let todo: Vec<(usize, serde_json::Value)> = list
            .into_iter()
            .enumerate()
            .filter(|(n, _)| cx.doc.items[*n].is_none())
            .collect();
        // Each item keeps its own end, inside its future: every holder of
        // `written` (an item's end, a child's creation) is then polled by
        // this one stream, so none waits for a holder nobody polls.
        let (this, cx) = (&self, &cx);
        let mut ends = futures::stream::iter(todo.into_iter().map(|(n, item)| async move {
            let a = this.attempts(cx, Some((n, item))).await;
            this.item_ended(cx, task, n, a).await;
        }))
        .buffer_unordered(task.concurrency.max(1));
        while ends.next().await.is_some() {}
        drop(ends);
        let items = cx.written.lock().await.items.clone();
        conductor::items_end(items, started_at)
    }

    /// Item `n` of task `task` ended: its end goes into the task's document
    /// and is kept, so a restart runs only the items left. The lock is held
    /// through the write: the next item's write comes after it, with it.
    async fn item_ended(&self, cx: &TaskCx, task: &Task, n: usize, a: Attempt) {
        let mut written = cx.written.lock().await;
        written.items[n] = Some(ItemDoc {
            ok: a.ok,
            result: a.result,
            answer: a.answer,
            error: a.error,
        });
        // As a step: small, and waited for (see `ended`).
        let tasks = vec![(task.name.clone(), written.clone())];
        match self
            .store
            .step(cx.run, None, tasks, RunStatus::Running)
            .await
        {
            Ok(()) => {}
            // The driver learns it at the task's end.
            Err(StepError::Lost(_)) => {}
            Err(e) => {
                tracing::error!(run = cx.run, task = %task.name, "could not store an item's end: {e:#}")
            }
        }
    }

    /// One task (or item) with its retries.
    async fn attempts(
        self: &Arc<Self>,
        cx: &TaskCx,
        item: Option<(usize, serde_json::Value)>,
    ) -> Attempt {
        let task = &cx.def.tasks[cx.index];
        let values = conductor::with_item(&cx.values, item.as_ref().map(|(_, v)| v));
        let mut attempt = 1;
        loop {
            let a = self
                .attempt(cx, task, &values, item.as_ref().map(|(n, _)| *n), attempt)
                .await;
            let Some(delay) = conductor::retry_after(task, attempt, &a) else {
                return a;
            };
            tracing::info!(run = cx.run, task = %task.name, attempt, "failed, retrying: {}", a.error.as_deref().unwrap_or(""));
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One attempt, with its execution record.
    async fn attempt(
        self: &Arc<Self>,
        cx: &TaskCx,
        task: &Task,
        values: &Value,
        item: Option<usize>,
        attempt: u32,
    ) -> Attempt {
        let id = conductor::attempt_id(cx.run, task, item, attempt);
        let clock = Instant::now();
        let mut record = self.record_for(cx, id);
        let input = match conductor::input(&cx.def, task, values) {
            Ok(input) => input,
            Err(error) => {
                record.outcome = Outcome::Error;
                record.error = Some(error.clone());
                record.ended_at = now_ms();
                self.observe(&record);
                return Attempt::failed(error);
            }
        };
        record.captures = input.iter().map(|(k, v)| (k.clone(), as_text(v))).collect();
        let limit = task.timeout;
        let (outcome, a) = match &task.action {
            Action::Skill { skill, matcher } => {
                self.run_skill(cx, &mut record, skill, matcher.as_deref(), limit)
                    .await
            }
            Action::Send => {
                record.skill = "send".into();
                record.version = "built-in".into();
                self.send(cx, &input, &mut record).await
            }
            Action::Wait => {
                record.skill = "wait".into();
                record.version = "built-in".into();
                wait(&input, limit).await
            }
            Action::Approve => {
                record.skill = "approve".into();
                record.version = "built-in".into();
                self.approve(cx, task, &input, &mut record).await
            }
            Action::Workflow { name } => {
                // Not the child's name as the skill: the child run's own
                // record carries that (and its notifications).
                record.skill = "workflow".into();
                record.version = "built-in".into();
                record.matcher = name.clone();
                self.run_child(cx, task, name, input, (&record.id, item), limit)
                    .await
            }
        };
        record.ended_at = now_ms();
        record.micros = clock.elapsed().as_micros() as u64;
        record.outcome = outcome;
        record.error = a.error.clone();
        self.observe(&record);
        a
    }

    /// `send`: says `text` in `room` (on `connector`), the run's room by
    /// default.
    async fn send(
        &self,
        cx: &TaskCx,
        input: &serde_json::Map<String, serde_json::Value>,
        record: &mut Execution,
    ) -> (Outcome, Attempt) {
        let text = input.get("text").map(as_text).unwrap_or_default();
        let room = input.get("room").map(as_text);
        let connector = input.get("connector").map(as_text);
        let target = match (room, cx.room.clone()) {
            (Some(room), home) => connector
                .or(home.map(|h| h.connector))
                .map(|connector| Room {
                    connector,
                    room,
                    thread: None,
                }),
            (None, home) => home,
        };
        let Some(target) = target else {
            return (
                Outcome::Error,
                Attempt::failed(
                    "send needs a `room`: the workflow was not started from one".into(),
                ),
            );
        };
        let response = Response {
            target,
            body: ResponseBody::Text(text.clone()),
            in_reply_to: None,
        };
        match self.responses.deliver(response.clone()).await {
            Ok(()) => {
                record.responses.push(response);
                (
                    Outcome::Ok,
                    Attempt::ok(serde_json::json!({"text": text}), text),
                )
            }
            Err(e) => (Outcome::Error, Attempt::failed(format!("cannot send: {e}"))),
        }
    }

    fn record_for(&self, cx: &TaskCx, id: String) -> Execution {
        let mut r = self.record_of(&cx.event, cx.event_id, id);
        r.parent = Some(format!("wf-{}", cx.run));
        r
    }
}

/// `wait`: sleeps `for`, or fails at the task's `timeout` if that comes
/// first.
async fn wait(
    input: &serde_json::Map<String, serde_json::Value>,
    limit: Option<Duration>,
) -> (Outcome, Attempt) {
    let text = input.get("for").map(as_text).unwrap_or_default();
    let Some(d) = HumanDuration::parse(&text) else {
        return (
            Outcome::Error,
            Attempt::failed(format!("`for: {text}` is not a duration")),
        );
    };
    match limit {
        Some(l) if l < d.0 => {
            tokio::time::sleep(l).await;
            (
                Outcome::Timeout,
                Attempt::failed(format!(
                    "took longer than its timeout of {}",
                    HumanDuration(l)
                )),
            )
        }
        // `for: 0s` only gives way (the timer's tick is a millisecond).
        _ if d.0.is_zero() => {
            tokio::task::yield_now().await;
            (
                Outcome::Ok,
                Attempt::ok(serde_json::Value::Null, String::new()),
            )
        }
        _ => {
            tokio::time::sleep(d.0).await;
            (
                Outcome::Ok,
                Attempt::ok(serde_json::Value::Null, String::new()),
            )
        }
    }
}
