//! One run's driver: a tokio task per run that asks the conductor
//! (`conductor.rs`) what is due, starts it, and when a task ends hands its
//! end to the conductor and stores the step it returns before anything
//! that step led to starts. It holds the run's clock (its `timeout:`), its
//! cancel, and the bot's stop; the decisions are all the conductor's.
//!
//! Stopping the bot stops every driver at an await point: a step is
//! written in one transaction or not at all, nothing ends as failed or
//! canceled because the bot stopped, and the runs (children too) resume on
//! the next start. A driver whose step is refused because another host
//! took its run (a shared store) stops the same way.

use super::conductor::{self, State, Stop, TaskEnd};
use super::engine::{Engine, Live, TaskCx};
use super::spec::Workflow;
use super::store::{RunStatus, StepError, StoredRun};
use super::template::as_text;
use crate::event::{Event, Outcome, Response, ResponseBody, Target as Room, now_ms};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A run in its driver: the conductor's state and what the driver needs
/// around it.
pub(super) struct Run {
    pub(super) def: Arc<Workflow>,
    pub(super) state: State,
    pub(super) event: Arc<Event>,
    /// Where it speaks.
    pub(super) room: Option<Room>,
    cancel: CancellationToken,
}

impl Run {
    fn id(&self) -> u64 {
        self.state.id
    }
}

enum Ending {
    /// The conductor has nothing more to run, or the run was canceled or
    /// timed out.
    Over(Stop),
    /// The bot is stopping: the run stays as stored, to resume.
    Stopped,
    /// Another host took the run (this one was silent too long): it drives
    /// it from what is stored.
    Lost,
}

impl Engine {
    /// Runs (or resumes) `kept` under `def`, in the background; the
    /// handle ends with the run (or when the bot stops).
    pub fn launch(
        self: &Arc<Self>,
        def: Arc<Workflow>,
        kept: StoredRun,
    ) -> tokio::task::JoinHandle<()> {
        let cancel = CancellationToken::new();
        let event = Arc::new(kept.doc.event.clone());
        let started_by = match (event.connector(), event.user_id()) {
            (Some(c), Some(u)) => Some((c.to_owned(), u.to_owned())),
            _ => None,
        };
        let room = kept
            .doc
            .room
            .clone()
            .or_else(|| event.origin().map(|o| o.target));
        // Counted now, not when the driver first runs: a stop in between
        // waits for it.
        let entered = self.drivers.enter();
        self.lock().insert(
            kept.id,
            Live {
                started_by,
                parent: kept.doc.parent.as_ref().map(|p| p.run),
                cancel: cancel.clone(),
                canceled_by: None,
                approvals: Vec::new(),
            },
        );
        let (state, unknown) = State::new(&def, kept.id, kept.doc, kept.tasks);
        for task in unknown {
            tracing::warn!(workflow = %def.name, run = kept.id, task = %task, "a kept task the workflow no longer has");
        }
        let run = Run {
            def,
            state,
            event,
            room,
            cancel,
        };
        let engine = self.clone();
        tokio::spawn(async move {
            let _entered = entered;
            engine.drive(run).await
        })
    }

    async fn drive(self: Arc<Self>, mut run: Run) {
        let mut running: JoinSet<(usize, TaskEnd)> = JoinSet::new();
        let mut launched = vec![false; run.def.tasks.len()];
        let deadline = run.def.timeout.map(|t| {
            let spent = Duration::from_millis(now_ms().saturating_sub(run.state.doc.started_at));
            (tokio::time::Instant::now() + t.saturating_sub(spent), t)
        });
        let cancel = run.cancel.clone();
        let stopping = self.stopping.clone();
        if stopping.is_cancelled() {
            self.lock().remove(&run.id());
            return;
        }
        self.start_due(&mut run, &mut running, &mut launched);
        let ending = loop {
            if running.is_empty() {
                break Ending::Over(Stop::Done);
            }
            tokio::select! {
                joined = running.join_next() => match joined {
                    Some(Ok((i, end))) => {
                        if !self.ended(&mut run, i, end).await {
                            break Ending::Lost;
                        }
                        self.start_due(&mut run, &mut running, &mut launched);
                    }
                    Some(Err(e)) => {
                        tracing::error!(run = run.id(), "a workflow task panicked: {e}");
                        run.state.doc.failed = true;
                        run.state.doc.error.get_or_insert_with(|| format!("a task panicked: {e}"));
                        break Ending::Over(Stop::Done);
                    }
                    None => break Ending::Over(Stop::Done),
                },
                () = cancel.cancelled() => break Ending::Over(Stop::Canceled(String::new())),
                () = stopping.cancelled() => break Ending::Stopped,
                () = sleep_until(deadline.map(|d| d.0)) => break Ending::Over(Stop::TimedOut(deadline.map(|d| d.1).unwrap_or_default())),
            }
        };
        // What still runs is dropped: a skill's call ends with its future.
        running.abort_all();
        let id = run.id();
        match ending {
            Ending::Stopped => {
                // StoredRun as stored: the next start resumes it. Its children
                // stop by themselves (the same token).
                self.lock().remove(&id);
                tracing::info!(run = id, workflow = %run.def.name, "workflow stopped with the bot; it resumes on the next start");
            }
            Ending::Lost => {
                self.lock().remove(&id);
                tracing::warn!(run = id, workflow = %run.def.name, "another host took this workflow run; it stops here");
            }
            Ending::Over(stop @ (Stop::Canceled(_) | Stop::TimedOut(_))) => {
                let who = match &stop {
                    Stop::Canceled(_) => format!("parent #{id}"),
                    _ => format!("parent #{id} (it timed out)"),
                };
                self.cancel_children(id, &who);
                self.finish(run, stop).await;
            }
            Ending::Over(stop) => self.finish(run, stop).await,
        }
    }

    /// Starts every task the conductor says is due and that is not started
    /// yet.
    fn start_due(
        self: &Arc<Self>,
        run: &mut Run,
        running: &mut JoinSet<(usize, TaskEnd)>,
        launched: &mut [bool],
    ) {
        let values = run.state.values(&run.def);
        for (i, doc) in run.state.due() {
            if launched[i] {
                continue;
            }
            launched[i] = true;
            let cx = TaskCx {
                run: run.state.id,
                def: run.def.clone(),
                index: i,
                values: values.clone(),
                event: run.event.clone(),
                event_id: run.state.doc.event_id,
                doc: doc.clone(),
                room: run.room.clone(),
                depth: run.state.doc.depth,
                resumed: Mutex::new(resumed_children(doc)),
                written: tokio::sync::Mutex::new(doc.clone()),
            };
            let engine = self.clone();
            running.spawn(async move {
                let end = engine.run_task(cx).await;
                (i, end)
            });
        }
    }

    /// Task `i` ended: the conductor's step, stored. False when the run is
    /// no longer this host's to drive.
    async fn ended(&self, run: &mut Run, i: usize, end: TaskEnd) -> bool {
        let step = conductor::task_ended(&run.def, &mut run.state, i, end, now_ms());
        for warning in &step.warnings {
            tracing::warn!(run = run.id(), workflow = %run.def.name, "{warning}");
        }
        // Nothing it led to may start before it is kept (`Store::step`
        // writes a local file inline: cheaper than a thread hop). This is
        // a workflow's step, never the message path.
        let id = run.id();
        match self
            .store
            .step(id, step.run, step.tasks, RunStatus::Running)
            .await
        {
            Ok(()) => true,
            Err(StepError::Lost(_)) => false,
            Err(e) => {
                tracing::error!(run = id, "could not store a workflow step: {e:#}");
                true
            }
        }
    }

    /// The run is over: its end from the conductor, stored, recorded and
    /// said.
    async fn finish(&self, mut run: Run, stop: Stop) {
        let id = run.id();
        let canceled_by = self.lock().remove(&id).and_then(|l| l.canceled_by);
        let stop = match stop {
            Stop::Canceled(_) => Stop::Canceled(canceled_by.unwrap_or_else(|| "the bot".into())),
            other => other,
        };
        let end = conductor::end(&run.def, &mut run.state, stop);
        for warning in &end.warnings {
            tracing::warn!(run = id, workflow = %run.def.name, "{warning}");
        }
        let kept = self
            .store
            .step(id, Some(end.doc.clone()), Vec::new(), end.status)
            .await;
        if let Err(StepError::Lost(_)) = kept {
            tracing::warn!(run = id, workflow = %run.def.name, "another host took this workflow run before it ended here");
            return;
        }
        // After the store has the end: a parent that looks after this finds it there.
        self.wake_waiters(id);
        let text = conductor::summary(&run.def, id, &end);
        let mut record = self.run_record(&run, &end);
        // A child's end is its parent task's result: the room hears the parent.
        let said = run
            .room
            .clone()
            .filter(|_| run.state.doc.parent.is_none())
            .map(|target| Response {
                target,
                body: ResponseBody::Text(text),
                in_reply_to: None,
            });
        record.responses.extend(said.clone());
        // Recorded before it is said: whoever hears the end finds the record.
        self.observe(&record);
        if let Some(response) = said
            && let Err(e) = self.responses.deliver(response).await
        {
            tracing::warn!("could not say how a workflow went: {e}");
        }
        tracing::info!(workflow = %run.def.name, run = id, status = end.status.as_str(), "workflow ended");
    }

    /// The run's own execution record (`wf-N`), from its end.
    fn run_record(&self, run: &Run, end: &conductor::End) -> crate::event::Execution {
        let doc = &run.state.doc;
        let parent = doc.parent.as_ref().map(|p| p.record.clone());
        let mut record = self.record_of(&run.event, doc.event_id, format!("wf-{}", run.id()));
        record.parent = parent;
        record.skill = run.def.name.clone();
        record.version = "workflow".into();
        record.sha256 = run.def.sha256.clone();
        record.matcher = "workflow".into();
        record.alias = doc.alias.clone();
        record.captures = doc
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), as_text(v)))
            .collect();
        record.started_at = doc.started_at;
        record.ended_at = now_ms();
        record.micros = record.ended_at.saturating_sub(record.started_at) * 1000;
        record.outcome = match end.status {
            RunStatus::Canceled => Outcome::Canceled,
            RunStatus::Failed if end.timed_out => Outcome::Timeout,
            RunStatus::Failed => Outcome::Error,
            RunStatus::Succeeded | RunStatus::Running => Outcome::Ok,
        };
        record.error = end.error.clone();
        record
    }
}

/// The child runs a task had started before a restart, by item.
fn resumed_children(doc: &super::store::TaskDoc) -> HashMap<Option<usize>, u64> {
    doc.child
        .map(|c| (None, c))
        .into_iter()
        .chain((doc.children.iter().enumerate()).filter_map(|(n, c)| Some((Some(n), (*c)?))))
        .collect()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
