//! A workflow file: its YAML shape (StackStorm Orquesta's, in this
//! project's kebab-case), read with serde_yaml_ng, then checked and made
//! ready to run: every template compiled once into the workflow's own
//! minijinja environment, every `do:` naming a task, start tasks found.
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
use super::inputs::{convert, defaults, fits, typed_inputs};
use super::template::{Templates, Tpl};
use crate::config::{ConfigError, HumanDuration, yaml_error};
use crate::event::Target as Room;
use crate::matching::alias::AliasFormat;
use crate::matching::crontab::CronSchedule;
use crate::permissions::Permissions;
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::Path;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    description: String,
    #[serde(default)]
    aliases: Vec<AliasFile>,
    #[serde(default)]
    permissions: Permissions,
    #[serde(default)]
    inputs: IndexMap<String, InputFile>,
    timeout: Option<HumanDuration>,
    tasks: IndexMap<String, TaskFile>,
    #[serde(default)]
    output: IndexMap<String, serde_json::Value>,
    #[serde(default)]
    crontab: Vec<CronFile>,
    webhook: Option<WebhookFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CronFile {
    schedule: String,
    timezone: Option<String>,
    #[serde(default)]
    inputs: IndexMap<String, serde_json::Value>,
    room: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct WebhookFile {
    room: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AliasFile {
    format: String,
    help: Option<String>,
    ack: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct InputFile {
    #[serde(rename = "type", default)]
    kind: InputType,
    default: Option<serde_json::Value>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TaskFile {
    action: String,
    #[serde(default)]
    input: IndexMap<String, serde_json::Value>,
    #[serde(default)]
    next: Vec<NextFile>,
    join: Option<String>,
    with_items: Option<serde_json::Value>,
    concurrency: Option<usize>,
    retry: Option<RetryFile>,
    timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RetryFile {
    count: u32,
    #[serde(default)]
    delay: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct NextFile {
    #[serde(default = "always")]
    when: String,
    #[serde(default)]
    publish: IndexMap<String, serde_json::Value>,
    #[serde(default)]
    r#do: OneOrMany,
}

fn always() -> String {
    "always".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

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
    /// Waits for every task that leads here (`join: all`).
    pub join: bool,
    /// How many tasks lead here (what `join: all` waits for).
    pub inbound: usize,
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

/// Reads and checks the workflow in `file` (named after the file).
pub fn parse(file: &Path, text: &str) -> Result<Workflow, ConfigError> {
    let name = file
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    // Its name is shown in chat, logs and metrics, and typed in commands.
    crate::names::check(&name).map_err(|e| {
        ConfigError::whole_file(file, format!("the file's name is not a workflow name: {e}"))
    })?;
    let spec: File = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(file, &e))?;
    let at = |needle: &str, message: String| locate(file, text, needle, message);
    let mut templates = Templates::new();
    let tpl = |templates: &mut Templates,
               value: &serde_json::Value,
               needle: &str|
     -> Result<Tpl, ConfigError> {
        templates
            .add(value)
            .map_err(|e| at(needle, format!("not a valid template: {e}")))
    };

    let mut aliases = Vec::new();
    for a in spec.aliases {
        let format = crate::matching::alias::compile(&a.format)
            .map_err(|e| at(&a.format, format!("alias `{}`: {e}", a.format)))?;
        let regex = regex::RegexBuilder::new(&format.regex)
            .case_insensitive(true)
            .build()
            .map_err(|e| at(&a.format, format!("alias `{}`: {e}", a.format)))?;
        let ack = match &a.ack {
            Some(ack) => Some(tpl(
                &mut templates,
                &serde_json::Value::String(ack.clone()),
                ack,
            )?),
            None => None,
        };
        aliases.push(Alias {
            help: a.help.unwrap_or_else(|| a.format.clone()),
            text: a.format,
            format,
            regex,
            ack,
        });
    }
    let mut inputs = IndexMap::new();
    for (n, i) in spec.inputs {
        if let Some(d) = &i.default
            && !fits(i.kind, d)
        {
            return Err(at(
                &format!("{n}:"),
                format!("input `{n}`: the default is not of type {:?}", i.kind).to_lowercase(),
            ));
        }
        if let Some(d) = &i.default
            && let Err(e) = crate::stored::check_value(d)
        {
            return Err(at(
                &format!("{n}:"),
                format!("input `{n}`: the default: {e}"),
            ));
        }
        inputs.insert(
            n,
            Input {
                kind: i.kind,
                default: i.default,
                description: i.description,
            },
        );
    }
    if spec.tasks.is_empty() {
        return Err(at("tasks:", "a workflow needs at least one task".into()));
    }
    let names: Vec<String> = spec.tasks.keys().cloned().collect();
    let mut tasks = Vec::new();
    let mut calls = Vec::new();
    let mut inbound = vec![0usize; names.len()];
    for (task_name, t) in spec.tasks {
        let key = format!("{task_name}:");
        if task_name == "fail" {
            return Err(at(
                &key,
                "`fail` is what `do: fail` means: name the task otherwise".into(),
            ));
        }
        let action = match t.action.as_str() {
            "send" => Action::Send,
            "wait" => Action::Wait,
            "approve" => Action::Approve,
            other if other.starts_with(WORKFLOW_ACTION) => {
                let called = &other[WORKFLOW_ACTION.len()..];
                if let Err(e) = crate::names::check(called) {
                    return Err(at(
                        &t.action,
                        format!(
                            "task `{task_name}`: `{}` names no workflow: {e}",
                            crate::names::shown(other)
                        ),
                    ));
                }
                if called == name {
                    return Err(at(
                        &t.action,
                        format!("task `{task_name}`: workflow `{name}` may not start itself"),
                    ));
                }
                calls.push((
                    called.to_owned(),
                    at(&t.action, format!("task `{task_name}` starts `{called}`")),
                ));
                Action::Workflow {
                    name: called.to_owned(),
                }
            }
            other => {
                let (skill, matcher) = match other.split_once('.') {
                    Some((s, m)) => (s.to_owned(), Some(m.to_owned())),
                    None => (other.to_owned(), None),
                };
                if skill.is_empty() || matcher.as_deref() == Some("") {
                    return Err(at(
                        &t.action,
                        format!(
                            "task `{task_name}`: action `{}` is not `skill` or `skill.matcher`",
                            crate::names::shown(other)
                        ),
                    ));
                }
                if let Err(e) = crate::names::check(&skill) {
                    return Err(at(
                        &t.action,
                        format!(
                            "task `{task_name}`: `{}` names no skill: {e}",
                            crate::names::shown(&skill)
                        ),
                    ));
                }
                Action::Skill { skill, matcher }
            }
        };
        let needed: &[&str] = match action {
            Action::Send => &["text"],
            Action::Wait => &["for"],
            Action::Approve => &["question"],
            Action::Skill { .. } | Action::Workflow { .. } => &[],
        };
        for n in needed {
            if !t.input.contains_key(*n) {
                return Err(at(
                    &key,
                    format!("task `{task_name}`: `{}` needs input `{n}`", t.action),
                ));
            }
        }
        if action == Action::Wait
            && let Some(serde_json::Value::String(s)) = t.input.get("for")
            && !s.contains("{{")
            && HumanDuration::parse(s).is_none()
        {
            return Err(at(
                s,
                format!("task `{task_name}`: `for: {s}` is not a duration (like 500ms, 2s, 1m)"),
            ));
        }
        let mut input = Vec::new();
        for (k, v) in &t.input {
            input.push((k.clone(), tpl(&mut templates, v, &format!("{k}:"))?));
        }
        let mut next = Vec::new();
        for n in t.next {
            let when = match n.when.trim() {
                "succeeded" => When::Succeeded,
                "failed" => When::Failed,
                "always" => When::Always,
                cond => When::Condition(templates.add_condition(cond).map_err(|e| {
                    at(
                        cond,
                        format!("task `{task_name}`: the condition is not valid: {e}"),
                    )
                })?),
            };
            let mut publish = Vec::new();
            for (k, v) in &n.publish {
                publish.push((
                    k.clone(),
                    templates.add(v).map_err(|e| {
                        at(
                            &format!("{k}:"),
                            format!(
                                "task `{task_name}`: publish `{k}` is not a valid template: {e}"
                            ),
                        )
                    })?,
                ));
            }
            let mut targets = Vec::new();
            for target in n.r#do.into_vec() {
                if target == "fail" {
                    targets.push(Target::Fail);
                    continue;
                }
                let Some(i) = names.iter().position(|x| *x == target) else {
                    return Err(at(
                        &target,
                        format!(
                            "task `{task_name}`: `do: {target}` names no task of this workflow"
                        ),
                    ));
                };
                if i == tasks.len() {
                    return Err(at(&target, format!("task `{task_name}` leads to itself")));
                }
                inbound[i] += 1;
                targets.push(Target::Task(i));
            }
            next.push(Next {
                when,
                publish,
                targets,
            });
        }
        let join = match t.join.as_deref() {
            None => false,
            Some("all") => true,
            Some(other) => {
                return Err(at(
                    &key,
                    format!("task `{task_name}`: `join: {other}`: only `join: all` is known"),
                ));
            }
        };
        let with_items = match &t.with_items {
            Some(v) => Some(tpl(&mut templates, v, "with-items:")?),
            None => None,
        };
        if t.concurrency == Some(0) {
            return Err(at(
                "concurrency:",
                format!("task `{task_name}`: concurrency must be at least 1"),
            ));
        }
        tasks.push(Task {
            name: task_name,
            action,
            input,
            next,
            join,
            inbound: 0,
            with_items,
            concurrency: t.concurrency.unwrap_or(usize::MAX),
            retry: t.retry.as_ref().map_or(0, |r| r.count),
            retry_delay: t
                .retry
                .as_ref()
                .and_then(|r| r.delay)
                .map_or(Duration::ZERO, |d| d.0),
            timeout: t.timeout.map(|d| d.0),
        });
    }
    for (task, n) in tasks.iter_mut().zip(&inbound) {
        task.inbound = *n;
    }
    let starts: Vec<usize> = (0..tasks.len()).filter(|&i| inbound[i] == 0).collect();
    if starts.is_empty() {
        return Err(at(
            "tasks:",
            "every task is led to by another: none can start".into(),
        ));
    }
    let mut output = Vec::new();
    for (k, v) in &spec.output {
        output.push((k.clone(), tpl(&mut templates, v, &format!("{k}:"))?));
    }
    let mut crontab = Vec::new();
    for c in spec.crontab {
        let schedule = CronSchedule::parse(&c.schedule, c.timezone.as_deref())
            .map_err(|e| at(&c.schedule, format!("crontab: {e}")))?;
        let given: serde_json::Map<String, serde_json::Value> = c.inputs.into_iter().collect();
        let fixed = typed_inputs(&name, &inputs, &given)
            .map_err(|e| at(&c.schedule, format!("crontab `{}`: {e}", c.schedule)))?;
        let room = match &c.room {
            Some(r) => Some(room(r).map_err(|e| at(r, format!("crontab `{}`: {e}", c.schedule)))?),
            None => None,
        };
        crontab.push(Cron {
            schedule: std::sync::Arc::new(schedule),
            expression: c.schedule,
            inputs: fixed,
            room,
        });
    }
    let webhook = match spec.webhook {
        Some(w) => Some(Webhook {
            room: match &w.room {
                Some(r) => Some(room(r).map_err(|e| at(r, format!("webhook: {e}")))?),
                None => None,
            },
        }),
        None => None,
    };
    use sha2::Digest;
    let sha256 = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
    Ok(Workflow {
        name,
        description: spec.description,
        sha256,
        aliases,
        permissions: spec.permissions,
        inputs,
        timeout: spec.timeout.map(|d| d.0),
        tasks,
        starts,
        output,
        templates,
        crontab,
        webhook,
        calls,
    })
}

/// `connector:room` as a place to speak.
fn room(text: &str) -> Result<Room, String> {
    match text.split_once(':') {
        Some((connector, room)) if !connector.is_empty() && !room.is_empty() => Ok(Room {
            connector: connector.to_owned(),
            room: room.to_owned(),
            thread: None,
        }),
        _ => Err(format!("room `{text}` is not `connector:room`")),
    }
}

/// An error about `needle`, placed where it first appears in the file (a
/// check after parsing has no position of its own from serde).
fn locate(file: &Path, text: &str, needle: &str, message: String) -> ConfigError {
    for (n, line) in text.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return ConfigError::at(file, n + 1, col + 1, message);
        }
    }
    ConfigError::whole_file(file, message)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(w.tasks[3].join);
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
