//! Approvals and cancels: what a person says to a run while it runs. An
//! `approve` task asks in the room and waits for `approve N` / `deny N`
//! from one of its approvers (admins when none are named) or its deadline,
//! kept across a restart; `workflow cancel N` stops a run and the children
//! its tasks started, down the chain.

use super::conductor::Attempt;
use super::engine::{Approval, Decision, Engine, TaskCx, fail, ok};
use super::spec::{APPROVAL_TIMEOUT, Task};
use super::store::RunStatus;
use super::template::as_text;
use crate::config::HumanDuration;
use crate::event::{Execution, Outcome, Response, ResponseBody, Target as Room, now_ms};
use crate::identity::IdentityPattern;
use std::time::Duration;
use tokio::sync::oneshot;

impl Engine {
    /// Asks in the room and waits for an allowed answer or the deadline.
    pub(super) async fn approve(
        &self,
        cx: &TaskCx,
        task: &Task,
        input: &serde_json::Map<String, serde_json::Value>,
        record: &mut Execution,
    ) -> (Outcome, Attempt) {
        let timeout = task.timeout.unwrap_or(APPROVAL_TIMEOUT);
        let deadline = match cx.doc.deadline {
            Some(d) => d,
            None => {
                let d = now_ms() + timeout.as_millis() as u64;
                let mut doc = cx.doc.clone();
                doc.deadline = Some(d);
                let tasks = vec![(task.name.clone(), doc)];
                let _ = self
                    .store
                    .step(cx.run, None, tasks, RunStatus::Running)
                    .await;
                d
            }
        };
        let approvers: Vec<IdentityPattern> = match input.get("approvers") {
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .map(|v| IdentityPattern::parse(&as_text(v)))
                .collect(),
            Some(v) => vec![IdentityPattern::parse(&as_text(v))],
            None => Vec::new(),
        };
        let (tx, rx) = oneshot::channel();
        let several = {
            let mut live = self.lock();
            let Some(run) = live.get_mut(&cx.run) else {
                return (Outcome::Interrupted, fail("the run is over".into()));
            };
            run.approvals.retain(|a| a.task != task.name);
            run.approvals.push(Approval {
                task: task.name.clone(),
                approvers,
                answer: Some(tx),
            });
            run.approvals.len() > 1
        };
        let question = input.get("question").map(as_text).unwrap_or_default();
        let which = if several {
            format!("{} {}", cx.run, task.name)
        } else {
            cx.run.to_string()
        };
        let text = format!("❓ {question} Say `approve {which}` or `deny {which}`.");
        let target = match input.get("room").map(as_text) {
            Some(room) => cx.room.clone().map(|home| Room {
                connector: home.connector,
                room,
                thread: None,
            }),
            None => cx.room.clone(),
        };
        if let Some(target) = target {
            let response = Response {
                target,
                body: ResponseBody::Text(text),
                in_reply_to: None,
            };
            if self.responses.deliver(response.clone()).await.is_ok() {
                record.responses.push(response);
            }
        }
        let left = Duration::from_millis(deadline.saturating_sub(now_ms()));
        let decision = tokio::time::timeout(left, rx).await;
        if let Some(run) = self.lock().get_mut(&cx.run) {
            run.approvals.retain(|a| a.task != task.name);
        }
        match decision {
            Ok(Ok(Decision::Approve(by))) => (
                Outcome::Ok,
                ok(
                    serde_json::json!({"approved": true, "by": by}),
                    format!("approved by {by}"),
                ),
            ),
            Ok(Ok(Decision::Deny(by))) => (
                Outcome::Error,
                Attempt {
                    ok: false,
                    result: serde_json::json!({"approved": false, "by": by}),
                    answer: format!("denied by {by}"),
                    error: Some(format!("denied by {by}")),
                },
            ),
            Ok(Err(_)) => (Outcome::Interrupted, fail("the run is over".into())),
            Err(_) => (
                Outcome::Timeout,
                fail(format!("no answer within {}", HumanDuration(timeout))),
            ),
        }
    }

    /// Answers approval `task` (the only one waiting when `None`) of run `id`
    /// for `connector:user_id`, if they may.
    pub fn decide(
        &self,
        id: u64,
        task: Option<&str>,
        connector: &str,
        user_id: &str,
        approve: bool,
    ) -> Result<String, String> {
        let mut live = self.lock();
        let Some(run) = live.get_mut(&id) else {
            return Err(format!("#{id} is not waiting for anyone."));
        };
        let waiting: Vec<usize> = (0..run.approvals.len())
            .filter(|&i| task.is_none_or(|t| run.approvals[i].task == t))
            .collect();
        let at = match waiting.as_slice() {
            [] => {
                return Err(format!(
                    "#{id} is not waiting for an approval{}.",
                    task.map(|t| format!(" in `{t}`")).unwrap_or_default()
                ));
            }
            [one] => *one,
            _ => {
                let names: Vec<&str> = waiting
                    .iter()
                    .map(|&i| run.approvals[i].task.as_str())
                    .collect();
                return Err(format!(
                    "#{id} waits for several approvals: say which ({}).",
                    names.join(", ")
                ));
            }
        };
        let approval = &mut run.approvals[at];
        let allowed = if approval.approvers.is_empty() {
            self.config.is_admin(connector, user_id)
        } else {
            approval
                .approvers
                .iter()
                .any(|p| p.fits(connector, user_id))
        };
        let who = format!("{connector}:{user_id}");
        if !allowed {
            tracing::warn!(run = id, task = %approval.task, user_id = %crate::text::for_log(&who), "denied: an approval from someone not among its approvers");
            // Say who may, so the person asking knows whom to ask.
            let may = if approval.approvers.is_empty() {
                "only the bot's admins may (`admins:` in the configuration)".to_owned()
            } else {
                let names: Vec<String> = approval.approvers.iter().map(|p| p.to_string()).collect();
                format!("only {} may", names.join(", "))
            };
            return Err(format!(
                "⛔ {who} may not answer #{id} ({}): {may}.",
                approval.task
            ));
        }
        let name = approval.task.clone();
        if let Some(tx) = approval.answer.take() {
            let _ = tx.send(if approve {
                Decision::Approve(who.clone())
            } else {
                Decision::Deny(who.clone())
            });
        }
        run.approvals.remove(at);
        Ok(if approve {
            format!("👍 {who} approved #{id} ({name}).")
        } else {
            format!("👎 {who} denied #{id} ({name}).")
        })
    }

    /// Stops run `id` for `who`, if it runs here, and the children it
    /// started.
    pub fn cancel(&self, id: u64, who: String) -> bool {
        let found = {
            let mut live = self.lock();
            match live.get_mut(&id) {
                Some(run) => {
                    run.canceled_by = Some(who);
                    run.cancel.cancel();
                    true
                }
                None => false,
            }
        };
        if found {
            self.cancel_children(id, &format!("parent #{id}"));
        }
        found
    }

    /// Cancels, for `who`, every run here whose task-starting parent is
    /// `id`, and so on down.
    pub(super) fn cancel_children(&self, id: u64, who: &str) {
        let children: Vec<u64> = self
            .lock()
            .iter()
            .filter(|(_, l)| l.parent == Some(id))
            .map(|(n, _)| *n)
            .collect();
        for child in children {
            tracing::info!(
                run = child,
                parent = id,
                "canceling a child run with its parent"
            );
            self.cancel(child, who.to_owned());
        }
    }

    /// The approvals run `id` waits for, by task.
    pub fn waiting_for(&self, id: u64) -> Vec<String> {
        self.lock()
            .get(&id)
            .map(|l| l.approvals.iter().map(|a| a.task.clone()).collect())
            .unwrap_or_default()
    }

    /// Who started run `id`, while it runs here.
    pub fn started_by(&self, id: u64) -> Option<Option<(String, String)>> {
        self.lock().get(&id).map(|l| l.started_by.clone())
    }
}
