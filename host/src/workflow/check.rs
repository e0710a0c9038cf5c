//! Checking a workflow file, in passes as Orquesta inspects its specs:
//! syntax (the YAML and its keys, by serde: a file that does not parse
//! says where and stops there), then semantics (actions, inputs, joins,
//! bounds, schedules), expressions (every template compiled into the
//! workflow's own environment) and references (`do:` targets, where the
//! run starts, joins that could never run). Every pass after the syntax
//! runs whole and every mistake is kept, each as `file:line:col: what is
//! wrong` placed at its task's own lines: a file with three mistakes is
//! answered with three errors.

use super::inputs::{Input, InputType, fits, typed_inputs};
use super::joins;
use super::spec::{
    Action, Alias, Cron, Next, Target, Task, WORKFLOW_ACTION, Webhook, When, Workflow, room,
};
use super::template::{Templates, Tpl};
use crate::config::{ConfigError, HumanDuration, yaml_error};
use crate::matching::crontab::CronSchedule;
use crate::permissions::Permissions;
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

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
    join: Option<serde_json::Value>,
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
    fn names(&self) -> Vec<&str> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The mistakes found so far, and where the file is.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    name: String,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    /// A mistake about `needle`, placed where it first appears in `task`'s
    /// lines (the whole file's for `None`).
    fn at(&mut self, task: Option<&str>, needle: &str, message: String) {
        let error = self.place(task, needle, message);
        self.errors.push(error);
    }

    fn place(&self, task: Option<&str>, needle: &str, message: String) -> ConfigError {
        let from = task.and_then(|t| self.task_line(t)).unwrap_or(0);
        self.place_from(from, needle, message)
    }

    /// A mistake about `needle` under the top-level `key:` (`inputs`,
    /// `output`), where a task's key of the same name does not catch it.
    fn at_section(&mut self, key: &str, needle: &str, message: String) {
        let head = format!("{key}:");
        let from = self.text.lines().position(|l| l.starts_with(&head));
        let error = self.place_from(from.unwrap_or(0), needle, message);
        self.errors.push(error);
    }

    /// Where `needle` first appears from line `from` (from 0) on, else
    /// before it.
    fn place_from(&self, from: usize, needle: &str, message: String) -> ConfigError {
        let lines = self.text.lines().enumerate().skip(from);
        for (n, line) in lines.chain(self.text.lines().enumerate().take(from)) {
            if let Some(col) = line.find(needle) {
                return ConfigError::at(self.file, n + 1, col + 1, message);
            }
        }
        ConfigError::whole_file(self.file, message)
    }

    /// The line (from 0) where task `name`'s key is, under `tasks:`.
    fn task_line(&self, name: &str) -> Option<usize> {
        let tasks = self.text.lines().position(|l| l.starts_with("tasks:"))?;
        let key = format!("{name}:");
        let quoted = [format!("\"{name}\":"), format!("'{name}':")];
        self.text
            .lines()
            .enumerate()
            .skip(tasks + 1)
            .find(|(_, l)| {
                let l = l.trim_start();
                l.starts_with(&key) || quoted.iter().any(|q| l.starts_with(q))
            })
            .map(|(n, _)| n)
    }
}

/// Reads and checks the workflow in `file` (named after the file).
pub(super) fn parse(file: &Path, text: &str) -> Result<Workflow, Vec<ConfigError>> {
    let name = file
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut c = Checker {
        file,
        text,
        name: name.clone(),
        errors: Vec::new(),
    };
    // Its name is shown in chat, logs and metrics, and typed in commands.
    if let Err(e) = crate::names::check(&name) {
        c.errors.push(ConfigError::whole_file(
            file,
            format!("the file's name is not a workflow name: {e}"),
        ));
    }
    // Syntax: the other passes need the whole file read.
    let spec: File = match serde_yaml_ng::from_str(text) {
        Ok(spec) => spec,
        Err(e) => {
            let first = yaml_error(file, &e);
            let others = syntax_in_other_tasks(&c, first.line);
            c.errors.push(first);
            c.errors.extend(others);
            return Err(c.errors);
        }
    };
    let shape = semantics(&mut c, &spec);
    let mut templates = Templates::new();
    let compiled = expressions(&mut c, &spec, &mut templates);
    let links = references(&mut c, &spec, &shape);
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    use sha2::Digest;
    let sha256 = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
    Ok(assemble(
        spec, shape, compiled, links, templates, name, sha256,
    ))
}

/// After serde's first error (at `line`), the key mistakes of the other
/// tasks: each task is read alone, and its unknown or wrong key placed in
/// its own lines. A file that is not YAML at all has none to add.
fn syntax_in_other_tasks(c: &Checker, line: Option<usize>) -> Vec<ConfigError> {
    let Ok(serde_yaml_ng::Value::Mapping(file)) = serde_yaml_ng::from_str(c.text) else {
        return Vec::new();
    };
    let Some(serde_yaml_ng::Value::Mapping(tasks)) = file.get("tasks") else {
        return Vec::new();
    };
    let names: Vec<&str> = tasks.keys().filter_map(|k| k.as_str()).collect();
    // The task whose lines hold serde's error: it is already reported.
    let starts: Vec<(usize, &str)> = (names.iter())
        .filter_map(|n| Some((c.task_line(n)? + 1, *n)))
        .collect();
    let reported = line.and_then(|l| {
        let before = starts.iter().filter(|(at, _)| *at <= l);
        before.max_by_key(|(at, _)| *at).map(|(_, n)| *n)
    });
    let mut errors = Vec::new();
    for (name, task) in tasks.iter().filter_map(|(k, v)| Some((k.as_str()?, v))) {
        if Some(name) == reported {
            continue;
        }
        if let Err(e) = serde_yaml_ng::from_value::<TaskFile>(task.clone()) {
            let message = e.to_string();
            // `unknown field `retyr`, expected …`: placed at the field.
            let needle = message.split('`').nth(1).map(|f| format!("{f}:"));
            let needle = needle.unwrap_or_else(|| format!("{name}:"));
            errors.push(c.place(Some(name), &needle, format!("task `{name}`: {message}")));
        }
    }
    errors
}

/// What the semantic pass found right, to build the workflow from.
struct Shape {
    aliases: Vec<(crate::matching::alias::AliasFormat, regex::Regex)>,
    inputs: IndexMap<String, Input>,
    actions: Vec<Action>,
    /// By task: its join's count as written (`all`: `None` inside).
    joins: Vec<Option<Option<usize>>>,
    crontab: Vec<Cron>,
    webhook: Option<Webhook>,
    calls: Vec<(String, ConfigError)>,
}

/// The semantic pass: what serde cannot say about each part.
fn semantics(c: &mut Checker, spec: &File) -> Shape {
    let mut aliases = Vec::new();
    for a in &spec.aliases {
        let compiled = crate::matching::alias::compile(&a.format).and_then(|format| {
            let regex = regex::RegexBuilder::new(&format.regex)
                .case_insensitive(true)
                .build()
                .map_err(|e| e.to_string())?;
            Ok((format, regex))
        });
        match compiled {
            Ok(pair) => aliases.push(pair),
            Err(e) => c.at(None, &a.format, format!("alias `{}`: {e}", a.format)),
        }
    }
    let inputs = inputs(c, spec);
    if spec.tasks.is_empty() {
        c.at(None, "tasks:", "a workflow needs at least one task".into());
    }
    let mut actions = Vec::new();
    let mut joins = Vec::new();
    let mut calls = Vec::new();
    for (task_name, t) in &spec.tasks {
        actions.push(action(c, task_name, t, &mut calls));
        joins.push(join(c, task_name, t));
        if t.concurrency == Some(0) {
            c.at(
                Some(task_name),
                "concurrency:",
                format!("task `{task_name}`: concurrency must be at least 1"),
            );
        }
    }
    let crontab = crontab(c, spec, &inputs);
    let webhook = spec.webhook.as_ref().map(|w| Webhook {
        room: w.room.as_ref().and_then(|r| match room(r) {
            Ok(room) => Some(room),
            Err(e) => {
                c.at(None, r, format!("webhook: {e}"));
                None
            }
        }),
    });
    Shape {
        aliases,
        inputs,
        actions,
        joins,
        crontab,
        webhook,
        calls,
    }
}

fn inputs(c: &mut Checker, spec: &File) -> IndexMap<String, Input> {
    let mut inputs = IndexMap::new();
    for (n, i) in &spec.inputs {
        if let Some(d) = &i.default {
            if !fits(i.kind, d) {
                let message =
                    format!("input `{n}`: the default is not of type {:?}", i.kind).to_lowercase();
                c.at_section("inputs", &format!("{n}:"), message);
            } else if let Err(e) = crate::stored::check_value(d) {
                let message = format!("input `{n}`: the default: {e}");
                c.at_section("inputs", &format!("{n}:"), message);
            }
        }
        inputs.insert(
            n.clone(),
            Input {
                kind: i.kind,
                default: i.default.clone(),
                description: i.description.clone(),
            },
        );
    }
    inputs
}

/// A task's action, checked; a bad one is reported and stands as `send`
/// (the workflow is not built when there are mistakes).
fn action(
    c: &mut Checker,
    task_name: &str,
    t: &TaskFile,
    calls: &mut Vec<(String, ConfigError)>,
) -> Action {
    let here = Some(task_name);
    if task_name == "fail" {
        let message = "`fail` is what `do: fail` means: name the task otherwise".into();
        c.at(here, "fail:", message);
    }
    let action = match t.action.as_str() {
        "send" => Action::Send,
        "wait" => Action::Wait,
        "approve" => Action::Approve,
        other if other.starts_with(WORKFLOW_ACTION) => {
            let called = &other[WORKFLOW_ACTION.len()..];
            if let Err(e) = crate::names::check(called) {
                let shown = crate::names::shown(other);
                c.at(
                    here,
                    &t.action,
                    format!("task `{task_name}`: `{shown}` names no workflow: {e}"),
                );
            } else if called == c.name {
                let message = format!(
                    "task `{task_name}`: workflow `{}` may not start itself",
                    c.name
                );
                c.at(here, &t.action, message);
            } else {
                let message = format!("task `{task_name}` starts `{called}`");
                calls.push((called.to_owned(), c.place(here, &t.action, message)));
            }
            Action::Workflow {
                name: called.to_owned(),
            }
        }
        other => skill_action(c, task_name, other),
    };
    let needed: &[&str] = match action {
        Action::Send => &["text"],
        Action::Wait => &["for"],
        Action::Approve => &["question"],
        Action::Skill { .. } | Action::Workflow { .. } => &[],
    };
    for n in needed {
        if !t.input.contains_key(*n) {
            let message = format!("task `{task_name}`: `{}` needs input `{n}`", t.action);
            c.at(here, &format!("{task_name}:"), message);
        }
    }
    if action == Action::Wait
        && let Some(serde_json::Value::String(s)) = t.input.get("for")
        && !s.contains("{{")
        && HumanDuration::parse(s).is_none()
    {
        let message =
            format!("task `{task_name}`: `for: {s}` is not a duration (like 500ms, 2s, 1m)");
        c.at(here, s, message);
    }
    action
}

fn skill_action(c: &mut Checker, task_name: &str, text: &str) -> Action {
    let (skill, matcher) = match text.split_once('.') {
        Some((s, m)) => (s.to_owned(), Some(m.to_owned())),
        None => (text.to_owned(), None),
    };
    let shown = crate::names::shown(text);
    if skill.is_empty() || matcher.as_deref() == Some("") {
        let message =
            format!("task `{task_name}`: action `{shown}` is not `skill` or `skill.matcher`");
        c.at(Some(task_name), text, message);
    } else if let Err(e) = crate::names::check(&skill) {
        let shown = crate::names::shown(&skill);
        c.at(
            Some(task_name),
            text,
            format!("task `{task_name}`: `{shown}` names no skill: {e}"),
        );
    }
    Action::Skill { skill, matcher }
}

/// `join: all` (`Some(None)`), `join: N` (`Some(Some(N))`), or none.
fn join(c: &mut Checker, task_name: &str, t: &TaskFile) -> Option<Option<usize>> {
    let value = t.join.as_ref()?;
    match value {
        serde_json::Value::String(s) if s == "all" => Some(None),
        serde_json::Value::Number(n) if n.as_u64().is_some_and(|n| n >= 1) => {
            Some(Some(n.as_u64().unwrap_or(1) as usize))
        }
        other => {
            let shown = super::template::as_text(other);
            let message = format!(
                "task `{task_name}`: `join: {shown}`: a join is `all` or how many of the tasks that lead here (1 or more)"
            );
            c.at(Some(task_name), "join:", message);
            None
        }
    }
}

fn crontab(c: &mut Checker, spec: &File, inputs: &IndexMap<String, Input>) -> Vec<Cron> {
    let mut crontab = Vec::new();
    for entry in &spec.crontab {
        let expression = &entry.schedule;
        let schedule = match CronSchedule::parse(expression, entry.timezone.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                c.at(None, expression, format!("crontab: {e}"));
                continue;
            }
        };
        let given: serde_json::Map<String, serde_json::Value> =
            entry.inputs.clone().into_iter().collect();
        let fixed = match typed_inputs(&c.name, inputs, &given) {
            Ok(fixed) => fixed,
            Err(e) => {
                c.at(None, expression, format!("crontab `{expression}`: {e}"));
                continue;
            }
        };
        let room = match &entry.room {
            Some(r) => match room(r) {
                Ok(room) => Some(room),
                Err(e) => {
                    c.at(None, r, format!("crontab `{expression}`: {e}"));
                    continue;
                }
            },
            None => None,
        };
        crontab.push(Cron {
            schedule: std::sync::Arc::new(schedule),
            expression: expression.clone(),
            inputs: fixed,
            room,
        });
    }
    crontab
}

/// A `next:` entry's condition and what it publishes, compiled.
type NextCompiled = (When, Vec<(String, Tpl)>);

/// What the expression pass compiled, by task.
#[derive(Default)]
struct Compiled {
    acks: Vec<Option<Tpl>>,
    inputs: Vec<Vec<(String, Tpl)>>,
    /// By task, by `next:` entry: its condition and what it publishes.
    nexts: Vec<Vec<NextCompiled>>,
    with_items: Vec<Option<Tpl>>,
    output: Vec<(String, Tpl)>,
}

/// The expression pass: every template compiled once, each mistake kept.
fn expressions(c: &mut Checker, spec: &File, templates: &mut Templates) -> Compiled {
    let mut out = Compiled::default();
    let tpl = |templates: &mut Templates,
               c: &mut Checker,
               task: Option<&str>,
               value: &serde_json::Value,
               needle: &str,
               what: &str| {
        templates.add(value).unwrap_or_else(|e| {
            c.at(task, needle, format!("{what}not a valid template: {e}"));
            Tpl::Literal(serde_json::Value::Null)
        })
    };
    for a in &spec.aliases {
        let ack = a.ack.as_ref().map(|ack| {
            let what = format!("alias `{}`: the ack is ", a.format);
            tpl(
                templates,
                c,
                None,
                &serde_json::Value::String(ack.clone()),
                ack,
                &what,
            )
        });
        out.acks.push(ack);
    }
    for (task_name, t) in &spec.tasks {
        let here = Some(task_name.as_str());
        let mut input = Vec::new();
        for (k, v) in &t.input {
            let what = format!("task `{task_name}`: input `{k}` is ");
            input.push((
                k.clone(),
                tpl(templates, c, here, v, &format!("{k}:"), &what),
            ));
        }
        out.inputs.push(input);
        let mut nexts = Vec::new();
        for n in &t.next {
            let when = match n.when.trim() {
                "succeeded" => When::Succeeded,
                "failed" => When::Failed,
                "always" => When::Always,
                cond => When::Condition(templates.add_condition(cond).unwrap_or_else(|e| {
                    let message = format!("task `{task_name}`: the condition is not valid: {e}");
                    c.at(here, cond, message);
                    Tpl::Literal(serde_json::Value::Bool(false))
                })),
            };
            let mut publish = Vec::new();
            for (k, v) in &n.publish {
                let what = format!("task `{task_name}`: publish `{k}` is ");
                publish.push((
                    k.clone(),
                    tpl(templates, c, here, v, &format!("{k}:"), &what),
                ));
            }
            nexts.push((when, publish));
        }
        out.nexts.push(nexts);
        let what = format!("task `{task_name}`: with-items is ");
        let items =
            (t.with_items.as_ref()).map(|v| tpl(templates, c, here, v, "with-items:", &what));
        out.with_items.push(items);
    }
    for (k, v) in &spec.output {
        let compiled = templates.add(v).unwrap_or_else(|e| {
            let message = format!("output `{k}` is not a valid template: {e}");
            c.at_section("output", &format!("{k}:"), message);
            Tpl::Literal(serde_json::Value::Null)
        });
        out.output.push((k.clone(), compiled));
    }
    out
}

/// What the reference pass resolved.
struct Links {
    /// By task, by `next:` entry.
    targets: Vec<Vec<Vec<Target>>>,
    /// By task: the distinct tasks that lead to it.
    sources: Vec<Vec<usize>>,
    starts: Vec<usize>,
}

/// The reference pass: every `do:` names a task, some task starts the
/// run, and every join could run.
fn references(c: &mut Checker, spec: &File, shape: &Shape) -> Links {
    let names: Vec<&String> = spec.tasks.keys().collect();
    let mut targets = Vec::new();
    let mut sources: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (i, (task_name, t)) in spec.tasks.iter().enumerate() {
        let here = Some(task_name.as_str());
        let mut by_entry = Vec::new();
        for n in &t.next {
            let mut entry = Vec::new();
            for target in n.r#do.names() {
                if target == "fail" {
                    entry.push(Target::Fail);
                    continue;
                }
                let Some(j) = names.iter().position(|x| *x == target) else {
                    let message = format!(
                        "task `{task_name}`: `do: {target}` names no task of this workflow"
                    );
                    c.at(here, target, message);
                    continue;
                };
                if i == j {
                    c.at(here, target, format!("task `{task_name}` leads to itself"));
                    continue;
                }
                if !sources[j].contains(&i) {
                    sources[j].push(i);
                }
                entry.push(Target::Task(j));
            }
            by_entry.push(entry);
        }
        targets.push(by_entry);
    }
    let starts: Vec<usize> = (0..names.len())
        .filter(|&i| sources[i].is_empty())
        .collect();
    if starts.is_empty() && !names.is_empty() {
        c.at(
            None,
            "tasks:",
            "every task is led to by another: none can start".into(),
        );
    }
    let links = Links {
        targets,
        sources,
        starts,
    };
    let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    let whens: Vec<Vec<&str>> = (spec.tasks.values())
        .map(|t| t.next.iter().map(|n| n.when.trim()).collect())
        .collect();
    for (i, name) in names.iter().enumerate() {
        if let Some(join) = shape.joins.get(i).copied().flatten() {
            let graph = joins::Graph {
                names: &names,
                targets: &links.targets,
                whens: &whens,
                sources: &links.sources,
                starts: &links.starts,
            };
            if let Some(why) = joins::never_runs(&graph, i, join) {
                c.at(Some(name), "join:", format!("task `{name}`: {why}"));
            }
        }
    }
    links
}

/// The workflow from a file every pass found right.
fn assemble(
    spec: File,
    shape: Shape,
    compiled: Compiled,
    links: Links,
    templates: Templates,
    name: String,
    sha256: String,
) -> Workflow {
    let aliases = spec
        .aliases
        .into_iter()
        .zip(shape.aliases)
        .zip(compiled.acks)
        .map(|((a, (format, regex)), ack)| Alias {
            help: a.help.unwrap_or_else(|| a.format.clone()),
            text: a.format,
            format,
            regex,
            ack,
        })
        .collect();
    let parts = shape
        .actions
        .into_iter()
        .zip(shape.joins)
        .zip(compiled.inputs)
        .zip(compiled.nexts)
        .zip(compiled.with_items)
        .zip(links.targets)
        .zip(links.sources);
    let mut tasks = Vec::new();
    for ((task_name, t), ((((((action, join), input), nexts), with_items), targets), sources)) in
        spec.tasks.into_iter().zip(parts)
    {
        let next = nexts
            .into_iter()
            .zip(targets)
            .map(|((when, publish), targets)| Next {
                when,
                publish,
                targets,
            })
            .collect();
        tasks.push(Task {
            name: task_name,
            action,
            input,
            next,
            join: join.map(|n| n.unwrap_or(sources.len())),
            inbound: sources.len(),
            sources,
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
    Workflow {
        name,
        description: spec.description,
        sha256,
        aliases,
        permissions: spec.permissions,
        inputs: shape.inputs,
        timeout: spec.timeout.map(|d| d.0),
        tasks,
        starts: links.starts,
        output: compiled.output,
        templates,
        crontab: shape.crontab,
        webhook: shape.webhook,
        calls: shape.calls,
    }
}
