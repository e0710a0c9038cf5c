//! The workflows folder: every `.yaml`/`.yml` in it is a workflow named
//! after its file (a name as `crate::names` says, or the file is refused). The set is behind one atomic pointer and replaced whole
//! (make-before-break), as skills are: a run keeps the definition it
//! started with, and a file that no longer parses is reported
//! (`file:line:col`) while its previous version keeps serving. A watcher
//! reloads the folder when a file in it changes; whoever follows the set
//! is told through [`Definitions::subscribe`]. Every swap first hands the
//! catalog the workflows' matchers (`matchers`), so a workflow logged as
//! loaded is already routed to, scheduled and served its webhook.
//!
//! A file that declares `webhook:` loads only when the configuration's
//! `workflows.<name>.webhook` has a `secret` or says `public: true`.
//!
//! A file whose tasks start workflows that lead back to it (`a` starts `b`,
//! which starts `a`) is refused at load, naming the task and the circle; a
//! depth bound at run time ([`spec::MAX_DEPTH`]) catches what a reload
//! sequence could still let through.

use super::spec::Workflow;
use crate::config::{Config, ConfigError};
use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long the folder must be quiet before it is read again.
const DEBOUNCE: Duration = Duration::from_millis(60);
/// A workflow file larger than this is refused.
const MAX_FILE: u64 = 1 << 20;

#[derive(Default)]
pub struct Set {
    pub by_name: BTreeMap<String, Arc<Workflow>>,
}

/// What a reload did, for the log and `workflow reload`.
#[derive(Default, Debug)]
pub struct Report {
    pub loaded: Vec<String>,
    pub removed: Vec<String>,
    /// Files that did not load (the old version, if any, kept serving).
    pub errors: Vec<ConfigError>,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.loaded.is_empty() {
            parts.push(format!("loaded {}", self.loaded.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", self.removed.join(", ")));
        }
        for e in &self.errors {
            parts.push(format!("⚠ {e}"));
        }
        if parts.is_empty() {
            "Workflows: nothing changed.".into()
        } else {
            format!("Workflows: {}", parts.join("; "))
        }
    }
}

pub struct Definitions {
    current: ArcSwap<Set>,
    dir: Option<PathBuf>,
    /// The workflows whose `workflows.<name>.webhook` has a secret or says
    /// `public: true`: only these may declare `webhook:`.
    guarded_hooks: BTreeSet<String>,
    /// One reload at a time.
    changing: std::sync::Mutex<()>,
    /// Bumped after every swap.
    changes: tokio::sync::watch::Sender<()>,
    /// Where the workflows' matchers go at every swap.
    catalog: Option<Arc<crate::catalog::Catalog>>,
}

impl Definitions {
    /// The workflows folder `config` names, with what it says of their
    /// webhooks.
    pub fn for_config(config: &Config) -> Definitions {
        let guarded = config
            .workflows
            .iter()
            .filter(|(_, entry)| entry.webhook.guarded())
            .map(|(name, _)| name.clone())
            .collect();
        Definitions::new(config.workflows_folder(), guarded)
    }

    pub fn new(dir: Option<PathBuf>, guarded_hooks: BTreeSet<String>) -> Definitions {
        Definitions {
            current: ArcSwap::from_pointee(Set::default()),
            dir,
            guarded_hooks,
            changing: std::sync::Mutex::new(()),
            changes: tokio::sync::watch::Sender::new(()),
            catalog: None,
        }
    }

    /// Hands every set's matchers to `catalog`, which routes by them.
    pub fn matched_by(mut self, catalog: Arc<crate::catalog::Catalog>) -> Definitions {
        self.catalog = Some(catalog);
        self
    }

    /// Changes when the set is swapped (a reload, even one that changed
    /// nothing).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<()> {
        self.changes.subscribe()
    }

    pub fn current(&self) -> Arc<Set> {
        self.current.load_full()
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Reads the folder and swaps in the new set; blocking (small files).
    pub fn reload(&self) -> Report {
        let _one = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current();
        let mut report = Report::default();
        let mut next = BTreeMap::new();
        let files = self.dir.as_deref().map(files).unwrap_or_default();
        for file in files {
            let name = file
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match read(&file, self.guarded_hooks.contains(&name)) {
                Ok(w) => {
                    let changed = old.by_name.get(&name).is_none_or(|o| o.sha256 != w.sha256);
                    if changed {
                        report.loaded.push(name.clone());
                        next.insert(name, Arc::new(w));
                    } else {
                        let kept = old.by_name[&name].clone();
                        next.insert(name, kept);
                    }
                }
                Err(errors) => {
                    let serving = if old.by_name.contains_key(&name) {
                        " (the previous version keeps serving)"
                    } else {
                        ""
                    };
                    for e in &errors {
                        tracing::warn!(workflow = %crate::names::shown(&name), "{e}{serving}");
                    }
                    if let Some(prev) = old.by_name.get(&name) {
                        next.insert(name, prev.clone());
                    }
                    report.errors.extend(errors);
                }
            }
        }
        refuse_circles(&mut next, &old, &mut report);
        for name in old.by_name.keys() {
            if !next.contains_key(name) {
                report.removed.push(name.clone());
            }
        }
        if let Some(catalog) = &self.catalog {
            catalog.set_workflows(super::matchers::flows(next.values()));
        }
        for name in &report.loaded {
            tracing::info!(workflow = %name, "workflow loaded");
        }
        for name in &report.removed {
            tracing::info!(workflow = %name, "workflow removed");
        }
        self.current.store(Arc::new(Set { by_name: next }));
        self.changes.send_replace(());
        report
    }
}

/// Refuses every newly loaded workflow that starts itself through others:
/// its previous version (if any) stays, and the error names the task and
/// the circle.
fn refuse_circles(next: &mut BTreeMap<String, Arc<Workflow>>, old: &Set, report: &mut Report) {
    // Each pass removes at least one new workflow, so this ends.
    while let Some(circle) = find_circle(next) {
        let fresh = circle
            .iter()
            .find(|n| report.loaded.contains(n))
            .cloned()
            // A circle among versions that were already serving: the
            // depth bound at run time stops it; report it once here.
            .unwrap_or_else(|| circle[0].clone());
        let w = next[&fresh].clone();
        let at = circle.iter().position(|n| *n == fresh).unwrap_or(0);
        let callee = &circle[(at + 1) % circle.len()];
        let mut path: Vec<&str> = circle[at..].iter().map(String::as_str).collect();
        path.extend(circle[..at].iter().map(String::as_str));
        path.push(&fresh);
        let mut error = w
            .calls
            .iter()
            .find(|(c, _)| c == callee)
            .map(|(_, e)| e.clone())
            .unwrap_or_else(|| ConfigError::whole_file(Path::new(&fresh), String::new()));
        error.message = format!(
            "{}, which leads back to it ({}): a workflow may not start itself",
            error.message,
            path.join(" → ")
        );
        tracing::warn!(workflow = %fresh, "{error}");
        report.loaded.retain(|n| *n != fresh);
        report.errors.push(error);
        match old.by_name.get(&fresh) {
            Some(prev) if !Arc::ptr_eq(prev, &w) => {
                next.insert(fresh, prev.clone());
            }
            _ => {
                next.remove(&fresh);
            }
        }
    }
}

/// A circle of workflows starting one another, in order, if there is one.
fn find_circle(set: &BTreeMap<String, Arc<Workflow>>) -> Option<Vec<String>> {
    fn visit(
        name: &str,
        set: &BTreeMap<String, Arc<Workflow>>,
        done: &mut std::collections::BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == name) {
            return Some(stack[at..].to_vec());
        }
        if done.contains(name) {
            return None;
        }
        let w = set.get(name)?;
        stack.push(name.to_owned());
        for (callee, _) in &w.calls {
            if let Some(c) = visit(callee, set, done, stack) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(name.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    set.keys()
        .find_map(|name| visit(name, set, &mut done, &mut Vec::new()))
}

/// What a workflow file's name ends with.
const WORKFLOW_FILES: &[&str] = &["yaml", "yml"];

fn files(dir: &Path) -> Vec<PathBuf> {
    crate::folder::files(dir, WORKFLOW_FILES)
}

fn is_workflow_file(p: &Path) -> bool {
    crate::folder::holds(p, WORKFLOW_FILES)
}

/// Reads one workflow file; `hook_guarded`: may it declare `webhook:` (the
/// configuration has a secret or `public: true` for it)? Every mistake
/// found is returned, each with its place.
fn read(file: &Path, hook_guarded: bool) -> Result<Workflow, Vec<ConfigError>> {
    let whole = |message: String| vec![ConfigError::whole_file(file, message)];
    let meta = std::fs::metadata(file).map_err(|e| whole(format!("cannot read it: {e}")))?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(whole(format!(
            "not a regular file of at most {MAX_FILE} bytes"
        )));
    }
    let text = std::fs::read_to_string(file).map_err(|e| whole(format!("cannot read it: {e}")))?;
    let workflow = super::check::parse(file, &text)?;
    if workflow.webhook.is_some() && !hook_guarded {
        let name = &workflow.name;
        let message = format!(
            "webhook: workflows.{name}.webhook in the configuration has no `secret`: anyone who can reach the server could start this workflow; give it `secret: ${{SOME_VAR}}`, or `public: true` if that is what you want"
        );
        // The top-level key, where the file declares it.
        let line = text.lines().position(|l| l.starts_with("webhook:"));
        return Err(vec![match line {
            Some(i) => ConfigError::at(file, i + 1, 1, message),
            None => ConfigError::whole_file(file, message),
        }]);
    }
    Ok(workflow)
}

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchHandle {
    _watcher: Option<notify::RecommendedWatcher>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Reloads `defs` whenever a workflow file in its folder changes.
pub fn watch(defs: Arc<Definitions>) -> Result<WatchHandle> {
    let Some(dir) = defs.dir().map(Path::to_path_buf) else {
        return Ok(WatchHandle {
            _watcher: None,
            task: None,
        });
    };
    // Made when missing, as the skills folder is: a folder a person creates
    // after the start would otherwise never be watched.
    if !dir.is_dir() {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(folder = %dir.display(), error = %e, "cannot create the workflows folder: not watching");
            return Ok(WatchHandle {
                _watcher: None,
                task: None,
            });
        }
        tracing::info!(folder = %dir.display(), "created the workflows folder");
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let content = !matches!(
                event.kind,
                notify::EventKind::Access(_)
                    | notify::EventKind::Modify(notify::event::ModifyKind::Metadata(_))
            );
            if content && event.paths.iter().any(|p| is_workflow_file(p)) {
                let _ = tx.send(());
            }
        }
    })
    .context("starting the workflow watcher")?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Quiet for a moment: a file being written is read once.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let defs = defs.clone();
            let _ = tokio::task::spawn_blocking(move || defs.reload()).await;
        }
    });
    Ok(WatchHandle {
        _watcher: Some(watcher),
        task: Some(task),
    })
}
