//! Rehearsals, after Orquesta's: each file in `host/tests/rehearsals/`
//! holds a workflow (the same text as a user's file), mocked ends of its
//! tasks and what must come of them. They run here, through the conductor
//! alone — no bot, no skill, no store, no clock: time is virtual (each
//! attempt takes its mock's `ms`, 10 by default), so branches interleave
//! as they would and a whole file runs in microseconds.
//!
//! ```yaml
//! what: a failing suite takes the rollback path     # shown when it fails
//! workflow: |                                       # as in workflows/
//!   tasks: ...
//! inputs: {app: web}                                # the run's inputs
//! mocks:                                            # by attempt id, else
//!   build: {result: {version: "1.2"}, ms: 5}        # by task (every attempt,
//!   test-a: [{error: flaky}, {result: 1}]           # or one per attempt)
//!   each[1]: {error: bad host}                      # one item
//! cancel-at: 30                                     # ms: cancel the run then
//! expect:
//!   sequence: [build, test-a, test-a~2, each[0]]    # attempts, as they start
//!   status: failed                                  # succeeded | failed | canceled
//!   error: "test-a failed: flaky"                   # the run's error, exactly
//!   output: {version: "1.2"}                        # the run's output, exactly
//!   vars: {version: "1.2"}                          # published, these at least
//!   tasks: {approval: waiting, deploy: absent}      # final states, these at least
//!   inputs: {deploy: {app: web}}                    # an attempt's rendered input
//!   most-at-once: {each: 2}                         # items in flight, at most
//!   load-errors: ["7:9: task `d`: ..."]             # or: refused at load
//! ```
//!
//! A mock is `{result, answer, error, ms}`; with `error` the attempt fails.
//! Without a mock an attempt succeeds with a null result, except the
//! built-ins: `wait` takes its `for:`, `send` succeeds with its text.

use super::conductor::{self, Attempt, State, Stop, TaskEnd};
use super::spec::{Action, Workflow};
use super::store::{ItemDoc, RunDoc, RunStatus, Status};
use super::template::as_text;
use crate::config::HumanDuration;
use crate::event::{Event, EventId};
use indexmap::IndexMap;
use serde::Deserialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Rehearsal {
    what: String,
    workflow: String,
    #[serde(default)]
    inputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    mocks: IndexMap<String, Mocks>,
    cancel_at: Option<u64>,
    expect: Expect,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Mocks {
    Every(Mock),
    ByAttempt(Vec<Mock>),
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Mock {
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default)]
    answer: String,
    error: Option<String>,
    ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Expect {
    sequence: Option<Vec<String>>,
    status: Option<String>,
    error: Option<String>,
    output: Option<serde_json::Value>,
    #[serde(default)]
    vars: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    tasks: BTreeMap<String, String>,
    #[serde(default)]
    inputs: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    most_at_once: BTreeMap<String, usize>,
    load_errors: Option<Vec<String>>,
}

/// What happens at a moment of virtual time.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    /// An attempt (of a task, or one item) starts: number `attempt`.
    Start {
        task: usize,
        item: Option<usize>,
        attempt: u32,
    },
    /// It ends.
    End {
        task: usize,
        item: Option<usize>,
        attempt: u32,
        ok: bool,
        result: String,
        answer: String,
        error: Option<String>,
    },
}

/// A task under way.
struct Running {
    values: minijinja::Value,
    items: Option<Vec<serde_json::Value>>,
    ends: Vec<Option<ItemDoc>>,
    next_item: usize,
    in_flight: usize,
    most: usize,
}

/// A run of one rehearsal: the conductor's state and the virtual clock.
struct Stage<'a> {
    def: &'a Workflow,
    mocks: &'a IndexMap<String, Mocks>,
    state: State,
    now: u64,
    order: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Happening)>>,
    running: BTreeMap<usize, Running>,
    launched: Vec<bool>,
    sequence: Vec<String>,
    inputs: BTreeMap<String, serde_json::Value>,
    most: BTreeMap<String, usize>,
}

impl Stage<'_> {
    fn at(&mut self, delay: u64, what: Happening) {
        self.order += 1;
        self.queue
            .push(Reverse((self.now + delay, self.order, what)));
    }

    fn start_due(&mut self) {
        let due: Vec<usize> = self.state.due().map(|(i, _)| i).collect();
        for i in due {
            if std::mem::replace(&mut self.launched[i], true) {
                continue;
            }
            let task = &self.def.tasks[i];
            let values = self.state.values(self.def);
            let items = match conductor::items(self.def, task, &values) {
                Ok(items) => items,
                Err(e) => {
                    self.task_ended(i, conductor::single_end(Attempt::failed(e), self.now));
                    continue;
                }
            };
            let count = items.as_ref().map(Vec::len);
            self.running.insert(
                i,
                Running {
                    values,
                    ends: vec![None; count.unwrap_or(0)],
                    items,
                    next_item: 0,
                    in_flight: 0,
                    most: 0,
                },
            );
            match count {
                None => self.at(
                    0,
                    Happening::Start {
                        task: i,
                        item: None,
                        attempt: 1,
                    },
                ),
                Some(0) => {
                    self.running.remove(&i);
                    self.task_ended(i, conductor::items_end(Vec::new(), self.now));
                }
                Some(_) => {
                    for _ in 0..task.concurrency {
                        if !self.next_item(i) {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Starts task `i`'s next item, if one is left.
    fn next_item(&mut self, i: usize) -> bool {
        let r = self.running.get_mut(&i).expect("running");
        let len = r.items.as_ref().map_or(0, Vec::len);
        if r.next_item >= len {
            return false;
        }
        let item = r.next_item;
        r.next_item += 1;
        r.in_flight += 1;
        r.most = r.most.max(r.in_flight);
        self.at(
            0,
            Happening::Start {
                task: i,
                item: Some(item),
                attempt: 1,
            },
        );
        true
    }

    fn start(&mut self, i: usize, item: Option<usize>, attempt: u32) {
        let task = &self.def.tasks[i];
        let id = conductor::attempt_id(1, task, item, attempt);
        let id = id.trim_start_matches("wf-1.").to_owned();
        self.sequence.push(id.clone());
        let r = &self.running[&i];
        let the_item = item.and_then(|n| r.items.as_ref()?.get(n));
        let values = conductor::with_item(&r.values, the_item);
        let (a, ms) = match conductor::input(self.def, task, &values) {
            Err(e) => (Attempt::failed(e), 0),
            Ok(input) => {
                self.inputs
                    .insert(id.clone(), serde_json::Value::Object(input.clone()));
                self.mocked(&id, i, attempt, &input)
            }
        };
        let (a, ms) = match task.timeout {
            Some(limit) if ms > limit.as_millis() as u64 => (
                Attempt::failed(format!(
                    "took longer than its timeout of {}",
                    HumanDuration(limit)
                )),
                limit.as_millis() as u64,
            ),
            _ => (a, ms),
        };
        let end = Happening::End {
            task: i,
            item,
            attempt,
            ok: a.ok,
            result: a.result.to_string(),
            answer: a.answer,
            error: a.error,
        };
        self.at(ms, end);
    }

    /// The mocked end of attempt `id`, and how long it takes.
    fn mocked(
        &self,
        id: &str,
        i: usize,
        attempt: u32,
        input: &serde_json::Map<String, serde_json::Value>,
    ) -> (Attempt, u64) {
        let task = &self.def.tasks[i];
        let item_key = id.split('~').next().unwrap_or(id);
        let found = [id, item_key, task.name.as_str()]
            .iter()
            .find_map(|k| self.mocks.get(*k))
            .map(|m| match m {
                Mocks::Every(m) => m.clone(),
                Mocks::ByAttempt(list) => list
                    .get(attempt as usize - 1)
                    .or(list.last())
                    .cloned()
                    .unwrap_or_default(),
            });
        let text = |k: &str| input.get(k).map(as_text).unwrap_or_default();
        let Some(m) = found else {
            return match task.action {
                Action::Wait => {
                    let d = HumanDuration::parse(&text("for")).map_or(0, |d| d.0.as_millis());
                    (
                        Attempt::ok(serde_json::Value::Null, String::new()),
                        d as u64,
                    )
                }
                Action::Send => (
                    Attempt::ok(serde_json::json!({"text": text("text")}), text("text")),
                    10,
                ),
                _ => (Attempt::ok(serde_json::Value::Null, String::new()), 10),
            };
        };
        let a = match m.error {
            Some(e) => Attempt {
                ok: false,
                result: m.result,
                answer: m.answer,
                error: Some(e),
            },
            None => Attempt::ok(m.result, m.answer),
        };
        (a, m.ms.unwrap_or(10))
    }

    fn ended(&mut self, i: usize, item: Option<usize>, attempt: u32, a: Attempt) {
        let task = &self.def.tasks[i];
        if let Some(delay) = conductor::retry_after(task, attempt, &a) {
            let next = Happening::Start {
                task: i,
                item,
                attempt: attempt + 1,
            };
            return self.at(delay.as_millis() as u64, next);
        }
        let Some(n) = item else {
            self.running.remove(&i);
            return self.task_ended(i, conductor::single_end(a, 0));
        };
        let r = self.running.get_mut(&i).expect("running");
        r.ends[n] = Some(ItemDoc {
            ok: a.ok,
            result: a.result,
            answer: a.answer,
            error: a.error,
        });
        r.in_flight -= 1;
        if self.next_item(i) {
            return;
        }
        let r = &self.running[&i];
        if r.in_flight == 0 {
            let r = self.running.remove(&i).expect("running");
            self.most.insert(task.name.clone(), r.most);
            self.task_ended(i, conductor::items_end(r.ends, 0));
        }
    }

    fn task_ended(&mut self, i: usize, end: TaskEnd) {
        conductor::task_ended(self.def, &mut self.state, i, end, self.now);
        self.start_due();
    }

    /// Runs until nothing is left, the cancel, or the run's timeout.
    fn play(&mut self, cancel_at: Option<u64>) -> Stop {
        self.start_due();
        let timeout = self.def.timeout.map(|t| t.as_millis() as u64);
        while let Some(Reverse((when, _, _))) = self.queue.peek() {
            let when = *when;
            if let Some(c) = cancel_at.filter(|c| *c <= when) {
                self.now = c;
                return Stop::Canceled("shell:tester".into());
            }
            if let Some(t) = timeout.filter(|t| *t <= when) {
                self.now = t;
                return Stop::TimedOut(self.def.timeout.unwrap_or_default());
            }
            let Some(Reverse((when, _, what))) = self.queue.pop() else {
                break;
            };
            self.now = when;
            match what {
                Happening::Start {
                    task,
                    item,
                    attempt,
                } => self.start(task, item, attempt),
                Happening::End {
                    task,
                    item,
                    attempt,
                    ok,
                    result,
                    answer,
                    error,
                } => {
                    let result = serde_json::from_str(&result).unwrap_or_default();
                    let a = Attempt {
                        ok,
                        result,
                        answer,
                        error,
                    };
                    self.ended(task, item, attempt, a);
                }
            }
        }
        Stop::Done
    }
}

/// Runs rehearsal `text` (from `file`); the mismatches, if any.
fn rehearse(file: &Path, text: &str) -> Vec<String> {
    let r: Rehearsal = match serde_yaml_ng::from_str(text) {
        Ok(r) => r,
        Err(e) => return vec![format!("the rehearsal does not parse: {e}")],
    };
    let mut wrong = play(file, &r);
    if !wrong.is_empty() {
        wrong.insert(0, format!("({})", r.what));
    }
    wrong
}

fn play(file: &Path, r: &Rehearsal) -> Vec<String> {
    let mut wrong = Vec::new();
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let parsed = super::check::parse(Path::new(&format!("{stem}.yaml")), &r.workflow);
    let def = match (parsed, &r.expect.load_errors) {
        (Ok(def), None) => def,
        (Ok(_), Some(_)) => return vec!["it loaded, and errors were expected".into()],
        (Err(errors), expected) => {
            let got: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            let expected = expected.clone().unwrap_or_default();
            let fits = got.len() == expected.len()
                && got
                    .iter()
                    .zip(&expected)
                    .all(|(g, e)| g.contains(e.as_str()));
            if !fits {
                wrong.push(format!("load errors: got {got:#?}, expected {expected:#?}"));
            }
            return wrong;
        }
    };
    let inputs = match def.inputs_from_json(&r.inputs) {
        Ok(inputs) => inputs,
        Err(e) => return vec![format!("inputs: {e}")],
    };
    let doc = RunDoc {
        workflow: def.name.clone(),
        sha256: def.sha256.clone(),
        inputs,
        event: Event::Schedule { fired_at: 0 },
        event_id: EventId(0),
        alias: None,
        started_at: 0,
        vars: serde_json::Map::new(),
        failed: false,
        room: None,
        parent: None,
        depth: 0,
        error: None,
    };
    let (state, _) = State::new(&def, 1, doc, conductor::first_tasks(&def));
    let mut stage = Stage {
        def: &def,
        mocks: &r.mocks,
        state,
        now: 0,
        order: 0,
        queue: BinaryHeap::new(),
        running: BTreeMap::new(),
        launched: vec![false; def.tasks.len()],
        sequence: Vec::new(),
        inputs: BTreeMap::new(),
        most: BTreeMap::new(),
    };
    let stop = stage.play(r.cancel_at);
    let end = conductor::end(&def, &mut stage.state, stop);
    compare(&r.expect, &stage, &end, &mut wrong);
    wrong
}

fn compare(expect: &Expect, stage: &Stage, end: &conductor::End, wrong: &mut Vec<String>) {
    let mut check = |what: &str, got: String, expected: String| {
        if got != expected {
            wrong.push(format!("{what}: got {got}, expected {expected}"));
        }
    };
    if let Some(s) = &expect.sequence {
        check(
            "sequence",
            format!("{:?}", stage.sequence),
            format!("{s:?}"),
        );
    }
    let status = match end.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Canceled => "canceled",
        RunStatus::Running => "running",
    };
    let wanted = expect.status.as_deref().unwrap_or("succeeded");
    check("status", status.into(), wanted.into());
    if expect.error.is_some() || end.error.is_some() {
        check(
            "error",
            format!("{:?}", end.error),
            format!("{:?}", expect.error),
        );
    }
    if let Some(o) = &expect.output {
        let got = serde_json::Value::Object(end.output.clone());
        check("output", got.to_string(), o.to_string());
    }
    for (k, v) in &expect.vars {
        let got = stage.state.doc.vars.get(k).cloned().unwrap_or_default();
        check(&format!("vars.{k}"), got.to_string(), v.to_string());
    }
    for (name, wanted) in &expect.tasks {
        let got = match stage
            .def
            .task(name)
            .and_then(|i| stage.state.tasks[i].as_ref())
        {
            None => "absent",
            Some(t) if t.status == Status::Waiting => "waiting",
            Some(t) => t.status.as_str(),
        };
        check(&format!("task {name}"), got.into(), wanted.clone());
    }
    for (id, v) in &expect.inputs {
        let got = stage.inputs.get(id).cloned().unwrap_or_default();
        check(&format!("input of {id}"), got.to_string(), v.to_string());
    }
    for (task, n) in &expect.most_at_once {
        let got = stage.most.get(task).copied().unwrap_or_default();
        check(
            &format!("most at once in {task}"),
            got.to_string(),
            n.to_string(),
        );
    }
}

#[test]
fn every_rehearsal_plays_as_written() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rehearsals");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the rehearsals folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let clock = std::time::Instant::now();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        let wrong = rehearse(file, &text);
        if !wrong.is_empty() {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            failures.push(format!("{name}:\n  {}", wrong.join("\n  ")));
        }
    }
    let took = clock.elapsed();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(files.len() >= 25, "only {} rehearsals", files.len());
    // The promise in the README: the rehearsals run in well under 5 s.
    assert!(took.as_secs_f64() < 5.0, "the rehearsals took {took:?}");
    eprintln!("{} rehearsals in {took:?}", files.len());
}

/// A rehearsal that expects what does not happen fails, and says what
/// differed: the runner can fail.
#[test]
fn a_wrong_expectation_is_reported() {
    let text = "what: wrong\nworkflow: |\n  tasks:\n    a: {action: ci}\nmocks: {a: {error: boom}}\nexpect: {sequence: [b], status: succeeded}\n";
    let wrong = rehearse(Path::new("wrong.yaml"), text);
    assert_eq!(wrong.len(), 4, "{wrong:#?}");
    assert_eq!(wrong[0], "(wrong)");
    assert!(
        wrong[1].contains(r#"got ["a"], expected ["b"]"#),
        "{wrong:#?}"
    );
    assert!(
        wrong[2].contains("got failed, expected succeeded"),
        "{wrong:#?}"
    );
    assert!(wrong[3].contains("a failed: boom"), "{wrong:#?}");
}
