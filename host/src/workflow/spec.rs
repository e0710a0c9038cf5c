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

use super::template::{Templates, Tpl};
use crate::config::{ConfigError, HumanDuration, yaml_error};
use crate::matching::alias::AliasFormat;
use crate::permissions::Permissions;
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The longest a task over a list may be.
pub const MAX_ITEMS: usize = 10_000;
/// An approval nobody answers fails after this, unless its task says.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(3600);

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

/// What an input must be; text from chat is converted to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
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
}

pub struct Alias {
    pub format: AliasFormat,
    pub regex: regex::Regex,
    pub text: String,
    pub help: String,
    pub ack: Option<Tpl>,
}

pub struct Input {
    pub kind: InputType,
    pub default: Option<serde_json::Value>,
    pub description: String,
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
        for (name, input) in &self.inputs {
            if !out.contains_key(name) {
                match &input.default {
                    Some(d) => {
                        out.insert(name.clone(), d.clone());
                    }
                    None => return Err(format!("input `{name}` is needed")),
                }
            }
        }
        Ok(out)
    }
}

/// Text from chat as an input of type `kind`.
fn convert(name: &str, kind: InputType, text: &str) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    let bad = |what: &str| format!("input `{name}`: `{text}` is not {what}");
    Ok(match kind {
        InputType::String => Value::String(text.to_owned()),
        InputType::Integer => {
            Value::from(text.trim().parse::<i64>().map_err(|_| bad("an integer"))?)
        }
        InputType::Number => {
            let n: f64 = text.trim().parse().map_err(|_| bad("a number"))?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| bad("a number"))?
        }
        InputType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Value::Bool(true),
            "false" | "no" | "off" | "0" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        InputType::Array => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Array(_)) => v,
            // `a,b,c` is a list too.
            _ => Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
        },
        InputType::Object => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(bad("a JSON object")),
        },
    })
}

/// Reads and checks the workflow in `file` (named after the file).
pub fn parse(file: &Path, text: &str) -> Result<Workflow, ConfigError> {
    let name = file
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
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
        if let Some(d) = &i.default {
            let fits = matches!(
                (i.kind, d),
                (InputType::String, serde_json::Value::String(_))
                    | (InputType::Integer, serde_json::Value::Number(_))
                    | (InputType::Number, serde_json::Value::Number(_))
                    | (InputType::Boolean, serde_json::Value::Bool(_))
                    | (InputType::Array, serde_json::Value::Array(_))
                    | (InputType::Object, serde_json::Value::Object(_))
            );
            if !fits {
                return Err(at(
                    &format!("{n}:"),
                    format!("input `{n}`: the default is not of type {:?}", i.kind).to_lowercase(),
                ));
            }
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
            other => {
                let (skill, matcher) = match other.split_once('.') {
                    Some((s, m)) => (s.to_owned(), Some(m.to_owned())),
                    None => (other.to_owned(), None),
                };
                if skill.is_empty() || matcher.as_deref() == Some("") {
                    return Err(at(
                        &t.action,
                        format!(
                            "task `{task_name}`: action `{other}` is not `skill` or `skill.matcher`"
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
            Action::Skill { .. } => &[],
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
    })
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
