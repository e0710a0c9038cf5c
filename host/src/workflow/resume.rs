//! A restart picks up where the last process stopped: every run it left
//! unfinished starts again from what the store kept (finished tasks keep
//! their results; tasks that were running start afresh). With a shared
//! store this host also takes the runs of hosts no longer alive (the
//! hosts' `coordination` says which are).
//!
//! Nothing read back stops this: a run whose record cannot be read (a
//! damaged row, a document written by hand or by another version) fails
//! alone, marked failed in the store so it is never tried again, recorded
//! in the history as the run's end (`wf-N`, so the workflow's `notify:`
//! rules hear it) and logged as an error for the operator; every other
//! run resumes. Even the store failing outright is logged, not fatal: the
//! bot starts, and the runs resume on a later start (or, for a worker on a
//! shared store, at its next look for orphans).

use super::Workflows;
use super::store::{RunStatus, RunsToClaim, StoredRun, Unreadable};
use crate::event::{Event, EventId, Execution, Outcome, now_ms};
use std::sync::Arc;

impl Workflows {
    /// Starts again every run the last process left unfinished. With a
    /// shared store: the runs this host drove under its name, and in the
    /// `workers` role those of hosts not alive; then it hears requests
    /// from other hosts and (a worker) keeps taking the runs of hosts
    /// that stop. A connectors-only host drives only the runs it starts (a
    /// crontab tick, a webhook). The host beats before this (`app`), so
    /// no other host takes its runs meanwhile. Returns how many runs it
    /// resumed; what went wrong is logged, never returned.
    pub async fn resume(self: &Arc<Self>) -> usize {
        let worker = self.engine.config.roles.has(crate::config::Role::Workers);
        let n = match self.claim_and_resume(true, worker).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(
                    "cannot read the workflow runs to resume: {e:#}; they resume on a later start"
                );
                0
            }
        };
        if let Some(shared) = self.shared.clone() {
            let mut loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
            loops.push(tokio::spawn(super::sharing::serve(
                shared.clone(),
                self.engine.clone(),
            )));
            let me = Arc::downgrade(self);
            let every = shared.ttl() / 2;
            loops.extend(worker.then(|| {
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(every).await;
                        let Some(workflows) = me.upgrade() else {
                            return;
                        };
                        if let Err(e) = workflows.claim_and_resume(false, true).await {
                            tracing::warn!("cannot look for other hosts' workflow runs: {e:#}");
                        }
                    }
                })
            }));
        }
        n
    }

    /// Claims the runs to resume (this host's `own`, and the `orphans` of
    /// hosts not alive) and launches them; fails those that cannot be
    /// read. Returns how many it launched.
    async fn claim_and_resume(&self, own: bool, orphans: bool) -> anyhow::Result<usize> {
        let (orphans, alive) = match (&self.shared, orphans) {
            (Some(shared), true) => match crate::coordination::alive(&**shared).await {
                Ok(alive) => (true, alive),
                // Nobody's runs are taken on a guess.
                Err(e) if own => {
                    tracing::warn!(
                        "cannot tell which hosts are alive: {e:#}; taking only this host's runs"
                    );
                    (false, Vec::new())
                }
                Err(e) => return Err(e),
            },
            _ => (false, Vec::new()),
        };
        let which = RunsToClaim {
            own,
            orphans,
            alive,
        };
        let store = self.engine.store.clone();
        let claimed = tokio::task::spawn_blocking(move || store.resumable(which)).await??;
        let mut n = 0;
        for (run, before) in claimed {
            match run {
                Ok(run) => {
                    self.relaunch(run, before).await;
                    n += 1;
                }
                Err(unreadable) => self.fail_unreadable(unreadable).await,
            }
        }
        Ok(n)
    }

    /// Run `u` cannot be read: it fails alone (see the module's doc).
    async fn fail_unreadable(&self, u: Unreadable) {
        let workflow = crate::names::shown(&u.workflow);
        let error = format!(
            "its stored record cannot be read, so it cannot resume: {}",
            crate::text::for_log(&u.error)
        );
        tracing::error!(run = u.id, workflow = %workflow, "a workflow run fails: {error}");
        let store = self.engine.store.clone();
        let id = u.id;
        match tokio::task::spawn_blocking(move || store.fail_unread(id)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(run = id, "cannot mark the unreadable run failed: {e}")
            }
            Err(e) => tracing::error!(run = id, "cannot mark the unreadable run failed: {e}"),
        }
        // Its end, as a run's end is recorded: the history keeps it and the
        // workflow's `notify:` rules (on-failure) hear it.
        let now = now_ms();
        let event = Event::Schedule { fired_at: now };
        let mut record = Execution::for_event(format!("wf-{id}"), EventId::next(), &event, now);
        record.skill = workflow;
        record.version = "workflow".into();
        record.matcher = "workflow".into();
        record.ended_at = now;
        record.outcome = Outcome::Error;
        record.error = Some(error);
        self.engine.observe(&record);
        // A parent waiting for it hears that it ended.
        self.engine.wake_waiters(id);
    }

    /// Launches `run` again, kept by `before` (another host) or by the
    /// last process here.
    async fn relaunch(&self, run: StoredRun, before: Option<String>) {
        let set = self.defs.current();
        let Some(def) = set.by_name.get(&run.doc.workflow).cloned() else {
            tracing::warn!(run = run.id, workflow = %crate::names::shown(&run.doc.workflow), "cannot resume: no such workflow is loaded");
            let mut doc = run.doc.clone();
            doc.error = Some(format!(
                "no workflow `{}` is loaded to resume it",
                doc.workflow
            ));
            let _ = self
                .engine
                .store
                .step(run.id, Some(doc), Vec::new(), RunStatus::Failed)
                .await;
            // A parent waiting for it hears it ended.
            self.engine.wake_waiters(run.id);
            return;
        };
        if def.sha256 != run.doc.sha256 {
            tracing::warn!(run = run.id, workflow = %def.name, "the workflow's file changed since the run started: it resumes under the new one");
        }
        let here = self.shared.as_ref().map(|c| c.host());
        // Where each kept task stood: what an operator (or a test that
        // fails) needs to see why the run goes on as it does.
        let tasks: Vec<String> = run
            .tasks
            .iter()
            .map(|(name, t)| format!("{name}:{}", t.status.as_str()))
            .collect();
        let tasks = tasks.join(",");
        let text = match (before.as_deref(), here) {
            (Some(other), Some(here)) if other != here => {
                tracing::info!(run = run.id, workflow = %def.name, from = %other, tasks = %tasks, "resuming a workflow run of a host that stopped");
                format!(
                    "↻ {} #{} resumes on {here}: {other} stopped.",
                    def.name, run.id
                )
            }
            _ => {
                tracing::info!(run = run.id, workflow = %def.name, tasks = %tasks, "resuming a workflow run");
                format!("↻ {} #{} resumes after a restart.", def.name, run.id)
            }
        };
        let room = run
            .doc
            .room
            .clone()
            .or_else(|| run.doc.event.origin().map(|o| o.target));
        self.engine.say(room, text).await;
        self.engine.launch(def, run);
    }
}
