//! A workflow ready to run, and the shape of its file (StackStorm
//! Orquesta's, in this project's kebab-case). `check.rs` reads the file
//! with serde_yaml_ng and checks it in passes, making it ready to run:
//! every template compiled once into the workflow's own minijinja
//! environment, every `do:` naming a task, start tasks found.
//! Errors are `file:line:col: what is wrong`, as configuration errors are.
//!
//! ```yaml
//! description: Build, test in parallel, ask, deploy
//! aliases:
//!   - format: "deploy {{app}} to {{env=staging}}"
//! permissions: {allow-users: ["shell:alice"]}
//! inputs:
//!   app: {type: string}
//!   env: {type: string, default: staging}
//! timeout: 10m
//! tasks:
//!   build:
//!     action: ci.build            # skill `ci`, matcher `build`
//!     input: {app: "{{ inputs.app }}"}
//!     next:
//!       - when: succeeded
//!         publish: {version: "{{ result.version }}"}
//!         do: [test-a, test-b]    # in parallel
//! output:
//!   version: "{{ vars.version }}"
//! ```
//!
//! Besides its aliases, a workflow starts on a schedule, on a webhook, or
//! as another workflow's task (`action: workflow.<name>`, the task's input
//! as its inputs):
//!
//! ```yaml
//! crontab:                        # the skills' crontab syntax and zones
//!   - schedule: "0 3 * * *"       # five fields, or six with seconds first
//!     timezone: Europe/Paris      # UTC when absent
//!     inputs: {app: api}          # fixed, checked against `inputs:`
//!     room: slack:C0OPS           # connector:room where the run speaks
//! webhook:                        # POST /workflow/<name>, JSON body = inputs
//!   room: slack:C0OPS             # (secret, max-body: `workflows.<name>.webhook`
//!                                 #  in configuration.yaml, as for skills)
//! ```

pub use super::inputs::{Input, InputType};
use super::inputs::{convert, defaults, typed_inputs};
use super::template::{Templates, Tpl};
use crate::config::ConfigError;
use crate::event::Target as Room;
use crate::matching::alias::AliasFormat;
use crate::matching::crontab::CronSchedule;
use crate::permissions::Permissions;
use indexmap::IndexMap;
use std::time::Duration;

/// The longest a task over a list may be.
pub const MAX_ITEMS: usize = 10_000;
/// An approval nobody answers fails after this, unless its task says.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(3600);
/// How deep workflows may start one another (a run started by a task of a
/// run started by a task…): past it the task fails, whatever the files say.
pub const MAX_DEPTH: u32 = 8;
/// The action prefix that names a workflow instead of a skill.
pub const WORKFLOW_ACTION: &str = "workflow.";

/// A workflow ready to run.
pub struct Workflow {
    pub name: String,
    pub description: String,
    /// SHA-256 of the file, for the records.
    pub sha256: String,
    pub aliases: Vec<Alias>,
    pub permissions: Permissions,
    pub inputs: IndexMap<String, Input>,
    pub timeout: Option<Duration>,
    /// By position; `next` entries name tasks by position too.
    pub tasks: Vec<Task>,
    /// Tasks nothing leads to: they start the run.
    pub starts: Vec<usize>,
    pub output: Vec<(String, Tpl)>,
    pub templates: Templates,
    /// Its schedules, each with the inputs a tick starts it with.
    pub crontab: Vec<Cron>,
    /// `POST /workflow/<name>` starts it, when present.
    pub webhook: Option<Webhook>,
    /// The workflows its tasks start, each with where the file names it
    /// (for the load-time check that none leads back to itself).
    pub calls: Vec<(String, ConfigError)>,
}

/// One `crontab:` entry.
pub struct Cron {
    pub schedule: std::sync::Arc<CronSchedule>,
    pub expression: String,
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Where the run speaks (a tick has no room of its own).
    pub room: Option<Room>,
}

/// The `webhook:` entry.
pub struct Webhook {
    /// Where the run speaks (a request has no room of its own).
    pub room: Option<Room>,
}

pub struct Alias {
    pub format: AliasFormat,
    pub regex: regex::Regex,
    pub text: String,
    pub help: String,
    pub ack: Option<Tpl>,
}

pub struct Task {
    pub name: String,
    pub action: Action,
    pub input: Vec<(String, Tpl)>,
    pub next: Vec<Next>,
    /// A join: how many of the tasks that lead here must have arrived
    /// before it runs (`join: all`: every one; `join: N`: N). `None`: the
    /// first arrival starts it.
    pub join: Option<usize>,
    /// How many distinct tasks lead here.
    pub inbound: usize,
    /// The tasks that lead here, by position.
    pub sources: Vec<usize>,
    pub with_items: Option<Tpl>,
    pub concurrency: usize,
    pub retry: u32,
    pub retry_delay: Duration,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A skill's `handle`, as if matcher `matcher` (its first when `None`)
    /// had fired with the task's input as captures.
    Skill {
        skill: String,
        matcher: Option<String>,
    },
    /// Says `text` in `room` (the starting event's room by default).
    Send,
    /// Waits `for`.
    Wait,
    /// Asks `question` and waits for an allowed user's `approve <id>`.
    Approve,
    /// Starts workflow `name` with the task's input as its inputs and waits
    /// for it: its output is the task's result.
    Workflow { name: String },
}

pub struct Next {
    pub when: When,
    pub publish: Vec<(String, Tpl)>,
    pub targets: Vec<Target>,
}

pub enum When {
    Succeeded,
    Failed,
    Always,
    /// A condition over the same values as any template, plus `result`.
    Condition(Tpl),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Task(usize),
    /// Orquesta's `fail`: the run ends failed (once nothing else runs).
    Fail,
}

impl Workflow {
    pub fn task(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.name == name)
    }
}

impl Workflow {
    /// The inputs of a run: `given` (text from chat or `key=value`s)
    /// converted to each input's type, defaults filled in.
    pub fn inputs_from(
        &self,
        given: &[(String, String)],
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let mut out = serde_json::Map::new();
        for (name, text) in given {
            let Some(input) = self.inputs.get(name) else {
                return Err(format!("`{}` has no input `{name}`", self.name));
            };
            out.insert(name.clone(), convert(name, input.kind, text)?);
        }
        defaults(&self.inputs, &mut out)?;
        Ok(out)
    }

    /// The inputs of a run from JSON values (a webhook's body, a parent
    /// task's input, a crontab entry): each must be of its input's type
    /// (text from chat is converted instead, by [`Workflow::inputs_from`]);
    /// defaults filled in. The error names the field.
    pub fn inputs_from_json(
        &self,
        given: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        typed_inputs(&self.name, &self.inputs, given)
    }
}

/// `connector:room` as a place to speak.
pub(super) fn room(text: &str) -> Result<Room, String> {
    match text.split_once(':') {
        Some((connector, room)) if !connector.is_empty() && !room.is_empty() => Ok(Room {
            connector: connector.to_owned(),
            room: room.to_owned(),
            thread: None,
        }),
        _ => Err(format!("room `{text}` is not `connector:room`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The first mistake, where one is expected.
    fn parse(file: &Path, text: &str) -> Result<Workflow, ConfigError> {
        crate::workflow::check::parse(file, text).map_err(|mut e| e.remove(0))
    }

    const GOOD: &str = "
inputs:
  app: {type: string}
  n: {type: integer, default: 2}
tasks:
  a:
    action: ci.build
    input: {app: '{{ inputs.app }}'}
    next:
      - when: succeeded
        publish: {v: '{{ result.version }}'}
        do: [b, c]
      - when: failed
        do: fail
  b: {action: wait, input: {for: 10ms}, next: [{do: d}]}
  c: {action: send, input: {text: hi}, next: [{do: d}]}
  d: {action: ci, join: all}
";

    #[test]
    fn a_good_file_is_ready_to_run() {
        let w = parse(Path::new("wf/deploy.yaml"), GOOD).unwrap();
        assert_eq!(w.name, "deploy");
        assert_eq!(w.starts, [0]);
        assert_eq!(w.tasks[3].inbound, 2);
        assert_eq!(w.tasks[3].join, Some(2));
        assert_eq!(
            w.tasks[0].action,
            Action::Skill {
                skill: "ci".into(),
                matcher: Some("build".into())
            }
        );
        let inputs = w.inputs_from(&[("app".into(), "web".into())]).unwrap();
        assert_eq!(inputs["n"], 2);
        assert!(
            w.inputs_from(&[("n".into(), "x".into())])
                .unwrap_err()
                .contains("integer")
        );
        assert!(w.inputs_from(&[]).unwrap_err().contains("`app` is needed"));
    }

    #[test]
    fn crontab_webhook_and_child_workflows_are_read_and_checked() {
        let text = format!(
            "crontab:\n  - schedule: '*/5 * * * *'\n    timezone: Europe/Paris\n    inputs: {{app: api}}\n    room: slack:C0OPS\nwebhook: {{room: shell:ops}}\n{}  e: {{action: workflow.ship, input: {{v: 1}}}}\n",
            GOOD.trim_start()
        );
        let w = parse(Path::new("deploy.yaml"), &text).unwrap();
        assert_eq!(w.crontab.len(), 1);
        assert_eq!(w.crontab[0].inputs["app"], "api");
        assert_eq!(w.crontab[0].inputs["n"], 2, "defaults filled in");
        assert_eq!(w.crontab[0].room.as_ref().unwrap().room, "C0OPS");
        assert_eq!(
            w.webhook.as_ref().unwrap().room.as_ref().unwrap().connector,
            "shell"
        );
        assert_eq!(
            w.tasks[4].action,
            Action::Workflow {
                name: "ship".into()
            }
        );
        assert_eq!(w.calls.len(), 1);
        assert_eq!(w.calls[0].1.line, Some(23));

        let fixed = |given: serde_json::Value| w.inputs_from_json(given.as_object().unwrap());
        assert!(fixed(serde_json::json!({"app": "x", "n": 3})).is_ok());
        let e = fixed(serde_json::json!({"app": "x", "n": 1.5})).unwrap_err();
        assert_eq!(e, "input `n`: 1.5 is not an integer");
        let e = fixed(serde_json::json!({"app": 7})).unwrap_err();
        assert_eq!(e, "input `app`: 7 is not a string");

        for (bad, line, expected) in [
            ("'*/5 * * *'", 2, "crontab: `*/5 * * *` has 4 fields"),
            (
                "'*/5 * * * *'\n    inputs: {n: x}",
                2,
                "input `n`: \"x\" is not an integer",
            ),
            (
                "'*/5 * * * *'\n    inputs: {app: a}\n    room: nowhere",
                4,
                "room `nowhere` is not `connector:room`",
            ),
        ] {
            let text = format!("crontab:\n  - schedule: {bad}\n{}", GOOD.trim_start());
            let e = parse(Path::new("deploy.yaml"), &text)
                .err()
                .expect("an error");
            assert_eq!(e.line, Some(line), "{e}");
            assert!(e.to_string().contains(expected), "{e}");
        }
        // A child workflow per item is allowed.
        parse(
            Path::new("deploy.yaml"),
            &GOOD.replace(
                "d: {action: ci, join: all}",
                "d: {action: workflow.x, join: all, with-items: [1]}",
            ),
        )
        .expect("with-items over a workflow loads");
    }

    #[test]
    fn mistakes_are_reported_with_their_line() {
        let bad = GOOD.replace("do: [b, c]", "do: [b, nope]");
        let e = parse(Path::new("deploy.yaml"), &bad)
            .err()
            .expect("an error");
        assert_eq!(e.line, Some(12), "{e}");
        assert!(e.to_string().contains("`do: nope` names no task"), "{e}");
        let bad = GOOD.replace("action: ci.build", "action: ci.build\n    colour: red");
        let e = parse(Path::new("deploy.yaml"), &bad)
            .err()
            .expect("an error");
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.to_string().starts_with("deploy.yaml:8:"), "{e}");
        let bad = GOOD.replace("'{{ inputs.app }}'", "'{{ inputs.app '");
        let e = parse(Path::new("deploy.yaml"), &bad)
            .err()
            .expect("an error");
        assert!(e.to_string().contains("template"), "{e}");
        let bad = GOOD.replace("for: 10ms", "for: soon");
        assert!(parse(Path::new("deploy.yaml"), &bad).is_err());
    }
}
