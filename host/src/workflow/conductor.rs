//! The conductor: what a run does next, as a pure function of its
//! workflow, its state and a task's end, after Orquesta's `conducting.py`
//! (the caller feeds task results in and asks for what is due). It holds
//! no store, no clock (the caller passes "now"), no I/O and no runtime:
//! the engine (`engine.rs`) stores each [`Step`] it returns and runs the
//! tasks it makes due; the rehearsals (`rehearsal.rs`) feed it mocked ends.
//!
//! The rules, in the order a task's end meets them:
//! - its `next:` entries are read in order; each whose `when` fits
//!   publishes its variables (all entries see the values from before the
//!   first publish) and leads to its `do:` tasks;
//! - a task runs at most once a run: a `do:` naming a task already led to
//!   adds nothing (but still counts as an arrival at a join that waits);
//! - a join (`join: all`, or `join: N`) is scheduled once that many of the
//!   distinct tasks leading to it have arrived; the others, when they
//!   come, add nothing. As in Orquesta, a join waits only while an arrival
//!   can still come: when nothing else runs and a join that some task
//!   reached is still waiting, no arrival can come any more and the run
//!   fails, naming the join and the tasks that did not lead to it. A join
//!   no task reached is not an error (its branches all went elsewhere);
//! - a failure no entry handles, or a `do: fail`, fails the run once
//!   nothing else runs; its error names the first unhandled failure (a
//!   handled one is the path the file chose, not the reason);
//! - with nothing left to run, the run succeeds unless one of the above
//!   failed it; its `output:` is rendered either way (a value published
//!   before `do: fail` is kept with it).

use super::spec::{MAX_ITEMS, Target, Task, When, Workflow};
use super::store::{ItemDoc, RunDoc, RunStatus, Status, TaskDoc};
use super::template::as_text;
use crate::config::HumanDuration;
use minijinja::{Value, context};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How one task (all its items and attempts) ended.
#[derive(Debug, Clone)]
pub struct TaskEnd {
    pub ok: bool,
    pub result: serde_json::Value,
    pub answer: String,
    pub error: Option<String>,
    pub items: Vec<Option<ItemDoc>>,
    pub started_at: u64,
}

/// One attempt's end (of a task, or of one item of it).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub ok: bool,
    pub result: serde_json::Value,
    pub answer: String,
    pub error: Option<String>,
}

impl Attempt {
    pub fn ok(result: serde_json::Value, answer: String) -> Attempt {
        Attempt {
            ok: true,
            result,
            answer,
            error: None,
        }
    }

    pub fn failed(error: String) -> Attempt {
        Attempt {
            ok: false,
            result: serde_json::Value::Null,
            answer: String::new(),
            error: Some(error),
        }
    }
}

/// A run as the conductor sees it: its document, its tasks by position,
/// and the values templates read (kept ready, rebuilt only when they
/// change).
pub struct State {
    pub id: u64,
    pub doc: RunDoc,
    pub tasks: Vec<Option<TaskDoc>>,
    /// `tasks.<name>` as templates see it.
    seen: Arc<BTreeMap<String, Value>>,
    inputs: Value,
    vars: Value,
}

/// What one task's end changed: to be stored, in one step, before
/// anything it led to starts.
#[derive(Debug, Default)]
pub struct Step {
    /// The tasks whose documents changed (the one that ended first).
    pub tasks: Vec<(String, TaskDoc)>,
    /// The run's document, when it changed (a publish, a failure).
    pub run: Option<RunDoc>,
    /// What could not be evaluated (counted as false, or published as
    /// null): for the caller's log.
    pub warnings: Vec<String>,
}

/// Why the caller stops asking for tasks.
#[derive(Debug, Clone)]
pub enum Stop {
    /// Nothing runs and nothing is due.
    Done,
    /// Canceled by whom (`parent #3`, `shell:alice`).
    Canceled(String),
    /// The run's `timeout:` passed.
    TimedOut(Duration),
}

/// How a run ended.
#[derive(Debug)]
pub struct End {
    pub status: RunStatus,
    pub error: Option<String>,
    pub output: serde_json::Map<String, serde_json::Value>,
    /// The run's document as it is to be stored: the output in
    /// `vars.output`, the error set.
    pub doc: RunDoc,
    /// It ended because its `timeout:` passed.
    pub timed_out: bool,
    pub warnings: Vec<String>,
}

/// The tasks a new run starts with.
pub fn first_tasks(def: &Workflow) -> Vec<(String, TaskDoc)> {
    def.starts
        .iter()
        .map(|&i| (def.tasks[i].name.clone(), TaskDoc::new(Status::Scheduled)))
        .collect()
}

impl State {
    /// Run `id` from its document and its kept tasks; the second value
    /// names kept tasks the workflow no longer has (they are left out).
    pub fn new(
        def: &Workflow,
        id: u64,
        doc: RunDoc,
        kept: Vec<(String, TaskDoc)>,
    ) -> (State, Vec<String>) {
        let mut tasks: Vec<Option<TaskDoc>> = vec![None; def.tasks.len()];
        let mut unknown = Vec::new();
        for (name, task) in kept {
            match def.task(&name) {
                Some(i) => tasks[i] = Some(task),
                None => unknown.push(name),
            }
        }
        let mut state = State {
            id,
            inputs: Value::from_serialize(&doc.inputs),
            vars: Value::from_serialize(&doc.vars),
            doc,
            tasks,
            seen: Arc::new(BTreeMap::new()),
        };
        for i in 0..state.tasks.len() {
            if state.tasks[i].as_ref().is_some_and(|t| t.status.finished()) {
                state.show_to_templates(def, i);
            }
        }
        (state, unknown)
    }

    /// The tasks led to and not finished: to run (or running).
    pub fn due(&self) -> impl Iterator<Item = (usize, &TaskDoc)> {
        self.tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, t.as_ref()?)))
            .filter(|(_, t)| t.status == Status::Scheduled)
    }

    /// What every template of the run sees.
    pub fn values(&self, def: &Workflow) -> Value {
        context! {
            inputs => self.inputs.clone(),
            vars => self.vars.clone(),
            tasks => Value::from_dyn_object(self.seen.clone()),
            workflow => context! { id => self.id, name => def.name.clone() },
        }
    }

    /// `tasks.<name>` for a finished task `i`.
    fn show_to_templates(&mut self, def: &Workflow, i: usize) {
        let Some(doc) = &self.tasks[i] else { return };
        let value = Value::from_serialize(serde_json::json!({
            "status": doc.status.as_str(),
            "result": doc.result,
            "answer": doc.answer,
            "error": doc.error,
        }));
        Arc::make_mut(&mut self.seen).insert(def.tasks[i].name.clone(), value);
    }

    /// Fails the run for `why`, unless an earlier reason stands.
    fn fail(&mut self, why: String) {
        self.doc.failed = true;
        if self.doc.error.is_none() {
            self.doc.error = Some(why);
        }
    }

    /// The earliest failed task, as a reason.
    fn first_failure(&self, def: &Workflow) -> Option<String> {
        self.tasks
            .iter()
            .zip(&def.tasks)
            .filter_map(|(d, t)| Some((d.as_ref()?, t)))
            .filter(|(d, _)| d.status == Status::Failed)
            .min_by_key(|(d, _)| d.ended_at)
            .map(|(d, t)| failure(t, d.error.as_deref()))
    }
}

fn failure(task: &Task, error: Option<&str>) -> String {
    format!("{} failed: {}", task.name, error.unwrap_or_default())
}

/// Task `i` ended (`now` in ms since the epoch): its document, its
/// transitions, the run's failure if it is one. Returns what to store.
pub fn task_ended(def: &Workflow, state: &mut State, i: usize, end: TaskEnd, now: u64) -> Step {
    let task = &def.tasks[i];
    let mut doc = state.tasks[i]
        .take()
        .unwrap_or_else(|| TaskDoc::new(Status::Scheduled));
    doc.status = if end.ok {
        Status::Succeeded
    } else {
        Status::Failed
    };
    doc.result = end.result;
    doc.answer = end.answer;
    doc.error = end.error;
    doc.items = end.items;
    doc.started_at = end.started_at;
    doc.ended_at = now;
    state.tasks[i] = Some(doc);
    state.show_to_templates(def, i);
    let mut step = Step::default();
    let mut changed = vec![i];
    let mut run_changed = false;
    let mut handled = end.ok;
    let mine = {
        let done = state.tasks[i].as_ref().expect("just set");
        context! {
            result => Value::from_serialize(&done.result),
            answer => done.answer.clone(),
            succeeded => end.ok,
            failed => !end.ok,
            ..state.values(def)
        }
    };
    for next in &task.next {
        if !fits(def, task, &next.when, end.ok, &mine, &mut step.warnings) {
            continue;
        }
        handled = true;
        for (k, t) in &next.publish {
            let value = def.templates.render_kept(t, &mine).unwrap_or_else(|e| {
                step.warnings
                    .push(format!("task `{}`: cannot publish `{k}`: {e}", task.name));
                serde_json::Value::Null
            });
            state.doc.vars.insert(k.clone(), value);
            run_changed = true;
        }
        for target in &next.targets {
            match *target {
                Target::Fail => {
                    let why = state
                        .first_failure(def)
                        .unwrap_or_else(|| format!("{} led to `do: fail`", task.name));
                    state.fail(why);
                    run_changed = true;
                }
                Target::Task(j) => {
                    if arrive(def, state, i, j) && !changed.contains(&j) {
                        changed.push(j);
                    }
                }
            }
        }
    }
    if !handled {
        let error = state.tasks[i].as_ref().and_then(|d| d.error.clone());
        state.fail(failure(task, error.as_deref()));
        run_changed = true;
    }
    if run_changed {
        state.vars = Value::from_serialize(&state.doc.vars);
        step.run = Some(state.doc.clone());
    }
    step.tasks = changed
        .iter()
        .filter_map(|&j| Some((def.tasks[j].name.clone(), state.tasks[j].clone()?)))
        .collect();
    step
}

/// Does `when` fit the end of `task`? A condition that cannot be
/// evaluated counts as false (and says why).
fn fits(
    def: &Workflow,
    task: &Task,
    when: &When,
    ok: bool,
    mine: &Value,
    warnings: &mut Vec<String>,
) -> bool {
    match when {
        When::Succeeded => ok,
        When::Failed => !ok,
        When::Always => true,
        When::Condition(t) => match def.templates.render(t, mine) {
            Ok(v) => v == serde_json::Value::Bool(true),
            Err(e) => {
                warnings.push(format!(
                    "task `{}`: a `when` that cannot be evaluated counts as false: {e}",
                    task.name
                ));
                false
            }
        },
    }
}

/// Task `from` leads to task `to`: it arrives there, and `to` is
/// scheduled once enough have (one, or its join's count). False when
/// nothing changed (`to` already ran or runs).
fn arrive(def: &Workflow, state: &mut State, from: usize, to: usize) -> bool {
    let doc = state.tasks[to].get_or_insert_with(|| TaskDoc::new(Status::Waiting));
    if doc.status != Status::Waiting {
        return false; // at most once a run
    }
    let name = &def.tasks[from].name;
    if !doc.arrived.contains(name) {
        doc.arrived.push(name.clone());
    }
    if doc.arrived.len() >= def.tasks[to].join.unwrap_or(1) {
        doc.status = Status::Scheduled;
    }
    true
}

/// Joins that tasks reached and that still wait, as reasons: once
/// nothing runs, no arrival can come any more.
fn stranded_joins(def: &Workflow, state: &State) -> Vec<String> {
    state
        .tasks
        .iter()
        .zip(&def.tasks)
        .filter_map(|(d, t)| Some((d.as_ref()?, t)))
        .filter(|(d, _)| d.status == Status::Waiting)
        .map(|(d, t)| {
            let missing: Vec<String> = t
                .sources
                .iter()
                .map(|&s| def.tasks[s].name.as_str())
                .filter(|s| !d.arrived.iter().any(|a| a == s))
                .map(|s| format!("`{s}`"))
                .collect();
            let needs = match t.join {
                Some(n) if n < t.sources.len() => {
                    format!("{n} of the {} tasks that lead to it", t.sources.len())
                }
                _ => "every task that leads to it".into(),
            };
            format!(
                "join `{}` can never run: it waits for {needs}, and {} did not lead to it",
                t.name,
                missing.join(", ")
            )
        })
        .collect()
}

/// The run ends (`stop` says why): its status, error and output, and the
/// document to store.
pub fn end(def: &Workflow, state: &mut State, stop: Stop) -> End {
    let mut warnings = Vec::new();
    let timed_out = matches!(stop, Stop::TimedOut(_));
    if let Stop::Done = stop {
        for why in stranded_joins(def, state) {
            state.fail(why);
        }
    }
    let (status, error) = match stop {
        Stop::Canceled(by) => (RunStatus::Canceled, Some(format!("canceled by {by}"))),
        Stop::TimedOut(t) => (
            RunStatus::Failed,
            Some(format!(
                "the workflow took longer than {}",
                HumanDuration(t)
            )),
        ),
        Stop::Done if state.doc.failed => (
            RunStatus::Failed,
            Some(
                state
                    .doc
                    .error
                    .clone()
                    .or_else(|| state.first_failure(def))
                    .unwrap_or_else(|| "it failed".into()),
            ),
        ),
        Stop::Done => (RunStatus::Succeeded, None),
    };
    let values = state.values(def);
    let mut output = serde_json::Map::new();
    for (k, t) in &def.output {
        match def.templates.render_kept(t, &values) {
            Ok(v) => {
                output.insert(k.clone(), v);
            }
            Err(e) => warnings.push(format!("output `{k}`: cannot render: {e}")),
        }
    }
    let mut doc = state.doc.clone();
    doc.vars
        .insert("output".into(), serde_json::Value::Object(output.clone()));
    doc.error = error.clone();
    End {
        status,
        error,
        output,
        doc,
        timed_out,
        warnings,
    }
}

/// How a run's end reads in its room.
pub fn summary(def: &Workflow, id: u64, end: &End) -> String {
    let name = &def.name;
    match (end.status, &end.error) {
        (RunStatus::Succeeded, _) | (RunStatus::Running, None) => {
            // In the file's order.
            let shown: Vec<String> = def
                .output
                .iter()
                .filter_map(|(k, _)| Some(format!("{k}={}", as_text(end.output.get(k)?))))
                .collect();
            if shown.is_empty() {
                format!("✅ {name} #{id} succeeded")
            } else {
                format!("✅ {name} #{id} succeeded: {}", shown.join(", "))
            }
        }
        (RunStatus::Canceled, Some(e)) => format!("⏹ {name} #{id} {e}"),
        (_, Some(e)) => format!("❌ {name} #{id} failed: {e}"),
        (_, None) => format!("❌ {name} #{id} failed"),
    }
}

/// The list a `with-items` task runs over, rendered over `values`.
pub fn items(
    def: &Workflow,
    task: &Task,
    values: &Value,
) -> Result<Option<Vec<serde_json::Value>>, String> {
    let Some(items) = &task.with_items else {
        return Ok(None);
    };
    match def.templates.render(items, values) {
        Ok(serde_json::Value::Array(list)) if list.len() <= MAX_ITEMS => Ok(Some(list)),
        Ok(serde_json::Value::Array(list)) => Err(format!(
            "with-items gave {} items, over {MAX_ITEMS}",
            list.len()
        )),
        Ok(other) => Err(format!("with-items is not a list: {other}")),
        Err(e) => Err(format!("with-items: {e}")),
    }
}

/// The values an item's templates see: the run's, and `item`.
pub fn with_item(values: &Value, item: Option<&serde_json::Value>) -> Value {
    match item {
        Some(v) => context! { item => Value::from_serialize(v), ..values.clone() },
        None => values.clone(),
    }
}

/// A task's input rendered over `values`; the error names the input.
pub fn input(
    def: &Workflow,
    task: &Task,
    values: &Value,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut input = serde_json::Map::new();
    for (k, t) in &task.input {
        let v = def
            .templates
            .render(t, values)
            .map_err(|e| format!("input `{k}`: {e}"))?;
        input.insert(k.clone(), v);
    }
    Ok(input)
}

/// After attempt number `attempt` (from 1) ended as `a`: how long to wait
/// before the next, or `None` when this one is the task's (or item's) end.
pub fn retry_after(task: &Task, attempt: u32, a: &Attempt) -> Option<Duration> {
    (!a.ok && attempt <= task.retry).then_some(task.retry_delay)
}

/// The execution record id of an attempt: `wf-1.build`, `wf-1.each[3]`,
/// `wf-1.build~2` for a retry.
pub fn attempt_id(run: u64, task: &Task, item: Option<usize>, attempt: u32) -> String {
    let mut id = format!("wf-{run}.{}", task.name);
    if let Some(n) = item {
        id.push_str(&format!("[{n}]"));
    }
    if attempt > 1 {
        id.push_str(&format!("~{attempt}"));
    }
    id
}

/// A `with-items` task's end from its items' ends: it succeeds when every
/// item did; its result is the items' results in order.
pub fn items_end(items: Vec<Option<ItemDoc>>, started_at: u64) -> TaskEnd {
    let done: Vec<&ItemDoc> = items.iter().flatten().collect();
    TaskEnd {
        ok: done.iter().all(|i| i.ok),
        result: serde_json::Value::Array(done.iter().map(|i| i.result.clone()).collect()),
        answer: done
            .iter()
            .map(|i| i.answer.as_str())
            .filter(|a| !a.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        error: done.iter().find_map(|i| i.error.clone()),
        items,
        started_at,
    }
}

/// A task's end from one attempt (a task without `with-items`).
pub fn single_end(a: Attempt, started_at: u64) -> TaskEnd {
    TaskEnd {
        ok: a.ok,
        result: a.result,
        answer: a.answer,
        error: a.error,
        items: Vec::new(),
        started_at,
    }
}
