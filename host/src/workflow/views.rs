//! What the operator's console shows of workflows, as data: each
//! definition (its file, how it starts, its tasks and where each leads)
//! and each run (its state, each task's, and the graph's edges, so a page
//! draws it), read from the loaded definitions and the store. The text a
//! task said is in it as text; the page shows it as text.

use super::Workflows;
use super::spec::{Action, Target, Task, When, Workflow};
use super::store::{RunStatus, Status, StoredRun, TaskDoc};
use serde::Serialize;

crate::with_schema! {
    /// A loaded workflow.
    #[derive(Debug, Serialize)]
    pub struct DefinitionView {
        pub name: String,
        pub description: String,
        /// Its file in the workflows folder.
        pub file: Option<String>,
        /// Each alias's help (how it is started in chat).
        pub aliases: Vec<String>,
        /// Its `crontab:` entries' schedules.
        pub crontab: Vec<String>,
        /// `POST /workflow/NAME` starts it.
        pub webhook: bool,
        pub inputs: Vec<String>,
        pub tasks: Vec<TaskView>,
    }
}

crate::with_schema! {
    /// A task of a definition, and where it leads.
    #[derive(Debug, Serialize)]
    pub struct TaskView {
        pub name: String,
        /// `skill.matcher`, `send`, `wait`, `approve`, or `workflow.NAME`.
        pub action: String,
        /// It waits for this many of the tasks that lead to it.
        pub join: Option<usize>,
        /// It starts the run (nothing leads to it).
        pub start: bool,
        pub next: Vec<Edge>,
    }
}

crate::with_schema! {
    /// Where a task leads, and when.
    #[derive(Debug, Clone, Serialize)]
    pub struct Edge {
        /// `succeeded`, `failed`, `always` or `a condition`.
        pub when: String,
        /// Task names; `fail` ends the run failed.
        pub to: Vec<String>,
    }
}

crate::with_schema! {
    /// A run, as a list shows it.
    #[derive(Debug, Serialize)]
    pub struct RunSummary {
        pub id: u64,
        pub workflow: String,
        /// `running`, `succeeded`, `failed`, `canceled`, or `unreadable`.
        pub status: String,
        pub started_at: u64,
        /// The approvals it waits for, by task.
        pub waiting: Vec<String>,
        /// The run whose task started it.
        pub parent: Option<u64>,
        pub error: Option<String>,
    }
}

crate::with_schema! {
    /// A run with its task graph: a [`RunSummary`]'s fields, and more.
    #[derive(Debug, Serialize)]
    pub struct RunView {
        pub id: u64,
        pub workflow: String,
        pub status: String,
        pub started_at: u64,
        pub waiting: Vec<String>,
        pub parent: Option<u64>,
        pub error: Option<String>,
        /// The host that drives it, on several hosts.
        pub owner: Option<String>,
        /// Its tasks in the definition's order, those not reached included.
        pub tasks: Vec<RunTask>,
    }
}

crate::with_schema! {
    /// A task of a run.
    #[derive(Debug, Serialize)]
    pub struct RunTask {
        pub name: String,
        /// `not reached`, `waiting`, `running`, `waiting for approval`,
        /// `succeeded` or `failed`.
        pub state: String,
        pub started_at: u64,
        pub ended_at: u64,
        /// What it said.
        pub answer: String,
        pub error: Option<String>,
        /// The runs it started (`action: workflow.NAME`).
        pub children: Vec<u64>,
        pub next: Vec<Edge>,
    }
}

fn action(a: &Action) -> String {
    match a {
        Action::Skill {
            skill,
            matcher: Some(m),
        } => format!("{skill}.{m}"),
        Action::Skill {
            skill,
            matcher: None,
        } => skill.clone(),
        Action::Send => "send".into(),
        Action::Wait => "wait".into(),
        Action::Approve => "approve".into(),
        Action::Workflow { name } => format!("workflow.{name}"),
    }
}

fn edges(def: &Workflow, task: &Task) -> Vec<Edge> {
    task.next
        .iter()
        .map(|n| Edge {
            when: match &n.when {
                When::Succeeded => "succeeded",
                When::Failed => "failed",
                When::Always => "always",
                When::Condition(_) => "a condition",
            }
            .into(),
            to: n
                .targets
                .iter()
                .map(|t| match t {
                    Target::Task(i) => def.tasks[*i].name.clone(),
                    Target::Fail => "fail".into(),
                })
                .collect(),
        })
        .collect()
}

/// A kept task's state as a person reads it: an approval that is asking
/// says so (here: it waits in this process; on another host: a running
/// task with a deadline).
pub(super) fn task_state(
    kept: &StoredRun,
    waiting: &[String],
    name: &str,
    doc: &TaskDoc,
) -> String {
    let asking = doc.deadline.is_some() && kept.status == RunStatus::Running;
    match doc.status {
        Status::Scheduled if waiting.iter().any(|w| w == name) || asking => {
            "waiting for approval".to_owned()
        }
        other => other.as_str().to_owned(),
    }
}

impl Workflows {
    /// The loaded workflows, by name.
    pub fn definition_views(&self) -> Vec<DefinitionView> {
        let dir = self.defs.dir().map(|d| d.to_path_buf());
        self.defs
            .current()
            .by_name
            .values()
            .map(|w| DefinitionView {
                name: w.name.clone(),
                description: w.description.clone(),
                file: dir.as_ref().and_then(|d| {
                    ["yaml", "yml"]
                        .iter()
                        .map(|ext| d.join(format!("{}.{ext}", w.name)))
                        .find(|p| p.is_file())
                        .map(|p| p.display().to_string())
                }),
                aliases: w.aliases.iter().map(|a| a.help.clone()).collect(),
                crontab: w.crontab.iter().map(|c| c.expression.clone()).collect(),
                webhook: w.webhook.is_some(),
                inputs: w.inputs.keys().cloned().collect(),
                tasks: w
                    .tasks
                    .iter()
                    .enumerate()
                    .map(|(i, t)| TaskView {
                        name: t.name.clone(),
                        action: action(&t.action),
                        join: t.join,
                        start: w.starts.contains(&i),
                        next: edges(w, t),
                    })
                    .collect(),
            })
            .collect()
    }

    /// The last `limit` runs, newest first.
    pub async fn run_summaries(&self, limit: usize) -> anyhow::Result<Vec<RunSummary>> {
        let store = self.engine.store.clone();
        let runs = tokio::task::spawn_blocking(move || store.recent(limit)).await??;
        Ok(runs
            .into_iter()
            .map(|run| match run {
                Ok(kept) => self.summary(&kept),
                Err(unreadable) => RunSummary {
                    id: unreadable.id,
                    workflow: unreadable.workflow,
                    status: "unreadable".into(),
                    started_at: 0,
                    waiting: Vec::new(),
                    parent: None,
                    error: Some(unreadable.error),
                },
            })
            .collect())
    }

    fn summary(&self, kept: &StoredRun) -> RunSummary {
        let waiting = self.engine.waiting_for(kept.id);
        let mut asking: Vec<String> = kept
            .tasks
            .iter()
            .filter(|(name, doc)| task_state(kept, &waiting, name, doc) == "waiting for approval")
            .map(|(name, _)| name.clone())
            .collect();
        asking.sort();
        RunSummary {
            id: kept.id,
            workflow: kept.doc.workflow.clone(),
            status: kept.status.as_str().into(),
            started_at: kept.doc.started_at,
            waiting: asking,
            parent: kept.doc.parent.as_ref().map(|p| p.run),
            error: kept.doc.error.clone(),
        }
    }

    /// Run `n` with its tasks, in its definition's order (those not reached
    /// too, when the definition is loaded), each with where it leads.
    pub async fn run_view(&self, n: u64) -> anyhow::Result<Option<RunView>> {
        let store = self.engine.store.clone();
        let Some(kept) = tokio::task::spawn_blocking(move || store.get(n)).await?? else {
            return Ok(None);
        };
        let waiting = self.engine.waiting_for(n);
        let def = self.defs.current().by_name.get(&kept.doc.workflow).cloned();
        let mut names: Vec<String> = match &def {
            Some(def) => def.tasks.iter().map(|t| t.name.clone()).collect(),
            None => Vec::new(),
        };
        for (name, _) in &kept.tasks {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let tasks = names
            .into_iter()
            .map(|name| {
                let next = def
                    .as_ref()
                    .and_then(|d| d.task(&name).map(|i| edges(d, &d.tasks[i])))
                    .unwrap_or_default();
                match kept.tasks.iter().find(|(t, _)| *t == name) {
                    Some((_, doc)) => RunTask {
                        state: task_state(&kept, &waiting, &name, doc),
                        started_at: doc.started_at,
                        ended_at: doc.ended_at,
                        answer: doc.answer.clone(),
                        error: doc.error.clone(),
                        children: doc
                            .child
                            .into_iter()
                            .chain(doc.children.iter().flatten().copied())
                            .collect(),
                        name,
                        next,
                    },
                    None => RunTask {
                        name,
                        state: "not reached".into(),
                        started_at: 0,
                        ended_at: 0,
                        answer: String::new(),
                        error: None,
                        children: Vec::new(),
                        next,
                    },
                }
            })
            .collect();
        let summary = self.summary(&kept);
        Ok(Some(RunView {
            id: summary.id,
            workflow: summary.workflow,
            status: summary.status,
            started_at: summary.started_at,
            waiting: summary.waiting,
            parent: summary.parent,
            error: summary.error,
            owner: kept.owner.clone(),
            tasks,
        }))
    }
}
