//! The set of loaded skills and how it changes. Readers take the current set
//! with one atomic load; a change builds a whole new set off the message path
//! and swaps it in (make-before-break). Events in flight keep the set they
//! started with, so none is dropped or answered twice across a reload.
//!
//! Skill files are untrusted: each is read (bounded, regular files only)
//! before the reload lock is taken, so a file that hangs or floods its
//! reader never holds up a reload or a message. The catalog compiles each
//! skill's matchers; a skill whose matchers break a bound does not load.
//!
//! The set holds the workflows' matchers too ([`Flow`], handed over by the
//! workflows whenever their folder is read): one index routes to skills
//! and workflows alike.

mod matchers;
mod policy;
mod preview;
pub mod progress;
mod report;
mod same_words;
pub mod watch;

pub use report::{Change, LoadFailure, ReloadReport};

use crate::config::Config;
use crate::manifest::{AliasSpec, Manifest, MatcherKind, MatcherSpec};
use crate::matching::{Index, Policy, SkillMatchers, Target};
use crate::runtime::{ConfigText, LoadError, LoadedSkill, Runtime, SkillSource};
use crate::skill_file::{FileStamp, ReadError, SkillFile};
use arc_swap::ArcSwap;
use futures::StreamExt;
use policy::DisabledList;
use std::collections::BTreeSet;
use std::collections::{HashMap, HashSet};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Skill files read at once during a reload.
const PARALLEL_READS: usize = 8;

/// A loaded skill with its compiled matchers.
pub struct Skill {
    pub loaded: LoadedSkill,
    pub matchers: SkillMatchers,
}

impl Deref for Skill {
    type Target = LoadedSkill;
    fn deref(&self) -> &LoadedSkill {
        &self.loaded
    }
}

/// A workflow as matching sees it: its aliases, `crontab:` entries and
/// `webhook:` as a manifest of matchers (named `version: workflow`), and
/// who may start it as their policy. Built by `workflow`.
pub struct Flow {
    pub manifest: Manifest,
    pub matchers: SkillMatchers,
    pub policy: Policy,
}

/// An immutable snapshot: skills in priority order, the workflows, and
/// their one matching index.
pub struct SkillSet {
    pub skills: Vec<Arc<Skill>>,
    /// What the configuration says of each skill's matchers, by position.
    pub policies: Vec<Policy>,
    /// The workflows, by name.
    pub workflows: Arc<Vec<Arc<Flow>>>,
    pub index: Index,
    by_name: HashMap<String, usize>,
}

impl SkillSet {
    fn new(
        skills: Vec<Arc<Skill>>,
        config: &Config,
        disabled: &BTreeSet<String>,
        workflows: Arc<Vec<Arc<Flow>>>,
    ) -> SkillSet {
        let policies: Vec<Policy> = skills
            .iter()
            .map(|s| policy::policy(config, &s.name, &s.manifest, disabled.contains(&s.name)))
            .collect();
        let set = SkillSet::with(skills, policies, workflows);
        same_words::warn(&set, config);
        set
    }

    fn with(
        skills: Vec<Arc<Skill>>,
        policies: Vec<Policy>,
        workflows: Arc<Vec<Arc<Flow>>>,
    ) -> SkillSet {
        let index = Index::build_with(
            skills
                .iter()
                .zip(&policies)
                .map(|(s, p)| (&s.manifest, &s.matchers, p)),
            workflows
                .iter()
                .map(|w| (&w.manifest, &w.matchers, &w.policy)),
        );
        let by_name = skills
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        SkillSet {
            skills,
            policies,
            workflows,
            index,
            by_name,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Skill>> {
        self.by_name.get(name).map(|&i| &self.skills[i])
    }

    /// The workflow named `name`, as a target.
    pub fn workflow(&self, name: &str) -> Option<Target> {
        self.workflows
            .iter()
            .position(|w| w.manifest.name == name)
            .map(Target::Workflow)
    }

    /// A target's manifest: a skill's, or a workflow's matchers.
    pub fn manifest(&self, target: Target) -> &Manifest {
        match target {
            Target::Skill(skill) => &self.skills[skill].manifest,
            Target::Workflow(workflow) => &self.workflows[workflow].manifest,
        }
    }

    /// A target's name: the skill's or the workflow's.
    pub fn name(&self, target: Target) -> &str {
        &self.manifest(target).name
    }

    /// What the configuration (or a workflow's file) says of a target's
    /// matchers.
    pub fn policy(&self, target: Target) -> &Policy {
        match target {
            Target::Skill(skill) => &self.policies[skill],
            Target::Workflow(workflow) => &self.workflows[workflow].policy,
        }
    }

    /// Every target with its manifest and policy: skills in priority
    /// order, then workflows.
    pub fn targets(&self) -> impl Iterator<Item = (Target, &Manifest, &SkillMatchers, &Policy)> {
        let skills = self.skills.iter().zip(&self.policies).enumerate();
        let skills = skills.map(|(i, (s, p))| (Target::Skill(i), &s.manifest, &s.matchers, p));
        let flows = self.workflows.iter().enumerate();
        let flows = flows.map(|(i, w)| (Target::Workflow(i), &w.manifest, &w.matchers, &w.policy));
        skills.chain(flows)
    }
}

pub struct Catalog {
    current: ArcSwap<SkillSet>,
    runtime: Arc<Runtime>,
    /// configuration.yaml as last read: at start, then by each `reload`
    /// that found it changed and valid.
    config: ArcSwap<Config>,
    /// One change at a time; readers never take it, and it is never held
    /// while a file is read. It guards the disabled skills' names too.
    changing: tokio::sync::Mutex<BTreeSet<String>>,
    disabled_list: DisabledList,
    /// Told after every swap, for those that follow the set (the scheduler).
    changes: tokio::sync::watch::Sender<()>,
    /// Held while a new set is built from the current one and stored: a
    /// skill change and a workflow change never undo each other.
    publishing: std::sync::Mutex<()>,
    /// Skills loaded (new or changed) and loads that failed, since start:
    /// read by `/metrics`.
    loads: std::sync::atomic::AtomicU64,
    load_failures: std::sync::atomic::AtomicU64,
    /// Skills compiling now, and new files that failed to load.
    progress: Arc<progress::Progress>,
}

/// A source and what reading its file gave.
type Read = (SkillSource, Result<SkillFile, ReadError>);

impl Catalog {
    pub fn new(runtime: Arc<Runtime>, config: Arc<Config>) -> Self {
        let disabled_list = DisabledList::new(&config.data_dir());
        let disabled = disabled_list.read();
        Catalog {
            current: ArcSwap::from_pointee(SkillSet::new(
                Vec::new(),
                &config,
                &disabled,
                Arc::default(),
            )),
            publishing: std::sync::Mutex::new(()),
            runtime,
            config: ArcSwap::new(config),
            changing: tokio::sync::Mutex::new(disabled),
            disabled_list,
            changes: tokio::sync::watch::Sender::new(()),
            loads: Default::default(),
            load_failures: Default::default(),
            progress: Default::default(),
        }
    }

    /// Skills loaded (added or updated) and loads that failed, since start.
    pub fn load_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.loads.load(Relaxed), self.load_failures.load(Relaxed))
    }

    /// Skills compiling now, and new files that failed to load.
    pub fn progress(&self) -> progress::Inner {
        self.progress.now()
    }

    fn count(&self, change: &Change) {
        use std::sync::atomic::Ordering::Relaxed;
        self.progress.settle(change);
        match change {
            Change::Added { .. } | Change::Updated { .. } | Change::Reconfigured { .. } => {
                self.loads.fetch_add(1, Relaxed);
            }
            Change::Failed { .. } => {
                self.load_failures.fetch_add(1, Relaxed);
            }
            Change::Unchanged { .. } | Change::Removed { .. } => {}
        }
    }

    /// Turns a loaded skill off or on for everyone, at once and across
    /// restarts (admins' `skill disable NAME`). Returns whether it was in
    /// that state already.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<bool, String> {
        let mut disabled = self.changing.lock().await;
        let old = self.current();
        if old.get(name).is_none() && !disabled.contains(name) {
            return Err(format!("no skill is named `{name}`"));
        }
        let already = disabled.contains(name) != enabled;
        if already {
            return Ok(true);
        }
        let mut next = disabled.clone();
        if enabled {
            next.remove(name);
        } else {
            next.insert(name.to_owned());
        }
        self.disabled_list
            .write(&next)
            .map_err(|e| format!("cannot save the list of disabled skills: {e}"))?;
        *disabled = next;
        self.swap(old.skills.clone(), &disabled).await;
        Ok(false)
    }

    /// Is the skill turned off by an admin?
    pub fn is_disabled(&self, set: &SkillSet, name: &str) -> bool {
        set.by_name
            .get(name)
            .is_some_and(|&i| set.policies[i].disabled)
    }

    /// The skills serving now.
    pub fn current(&self) -> Arc<SkillSet> {
        self.current.load_full()
    }

    /// Changes (`changed()`) after each swap of the skill set.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<()> {
        self.changes.subscribe()
    }

    pub fn skills_dir(&self) -> Option<PathBuf> {
        self.config.load().skills_dir.clone()
    }

    /// configuration.yaml as the skills were last loaded with it.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The paths whose changes matter: the skills folder and the files named
    /// by `path:` in the configuration.
    pub fn watched_paths(&self) -> (Option<PathBuf>, Vec<PathBuf>) {
        let files = self
            .config
            .load()
            .skills
            .values()
            .filter_map(|e| e.path.clone())
            .collect();
        (self.config.load().skills_dir.clone(), files)
    }

    /// What should be loaded, in priority order: configured skills in file
    /// order, then the rest of the skills folder by file name.
    pub fn sources(&self) -> Vec<Result<SkillSource, (String, String)>> {
        let config = self.config.load_full();
        let config_text = ConfigText::of(&config);
        let mut out = Vec::new();
        let mut claimed: HashSet<PathBuf> = HashSet::new();
        for (name, entry) in &config.skills {
            let path = match (&entry.path, &config.skills_dir) {
                (Some(p), _) => p.clone(),
                (None, Some(dir)) => dir.join(format!("{name}.wasm")),
                (None, None) => {
                    out.push(Err((
                        name.clone(),
                        "it has no `path:` and the configuration sets no `skills-dir:`".to_string(),
                    )));
                    continue;
                }
            };
            claimed.insert(path.clone());
            out.push(Ok(SkillSource {
                name: name.clone(),
                path,
                no_cache: entry.no_cache,
                sha256: entry.sha256.clone(),
                limits: entry.limits.unwrap_or(config.runtime.default_limits),
                settings: entry.settings.clone(),
                config_text: config_text.clone(),
                grants: config.grants(name),
                instance_reuse: entry.instance_reuse,
                extra_matchers: entry
                    .aliases
                    .iter()
                    .map(|a| MatcherSpec {
                        id: a.matcher.clone(),
                        kind: MatcherKind::ActionAlias(AliasSpec {
                            format: a.format.clone(),
                            parameters: a.fixed(),
                            ack: a.ack.clone(),
                            multiple: a.match_multiple,
                        }),
                        help: a.help.clone().unwrap_or_else(|| a.format.clone()),
                    })
                    .collect(),
                configured_matchers: entry.matchers.keys().cloned().collect(),
                webhook_guarded: entry.webhook.guarded(),
            }));
        }
        if let Some(dir) = &config.skills_dir {
            let found = crate::folder::files(dir, SKILL_FILES);
            for path in found.into_iter().filter(|p| !claimed.contains(p)) {
                let name = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                // A file's name becomes the skill's: refused unless it is
                // a name (it reaches logs, chat, metrics and commands).
                if let Err(why) = crate::names::check(&name) {
                    out.push(Err(bad_name(&path, &name, &why)));
                    continue;
                }
                if config.skills.contains_key(&name) {
                    tracing::warn!(file = %path.display(), "ignored: the configuration gives skill `{name}` another path");
                    continue;
                }
                out.push(Ok(SkillSource {
                    limits: config.runtime.default_limits,
                    grants: config.grants(&name),
                    config_text: config_text.clone(),
                    ..SkillSource::new(name, path)
                }));
            }
        }
        out
    }

    /// Brings every skill in line with the disk: loads new and changed
    /// files, unloads vanished ones, and keeps the old version of any that
    /// fails. Used at start and by the `reload` command.
    ///
    /// configuration.yaml is read again first: when it changed and is
    /// valid, the skills whose sections changed load afresh (their aliases,
    /// permissions, limits and grants are the new ones) and the report says
    /// what changed; when it is not valid, the report says why and the
    /// configuration in use stays (make-before-break).
    pub async fn reload_all(&self) -> ReloadReport {
        let mut report = ReloadReport::default();
        let forced = self.reread_config(&mut report).await;
        let mut sources = Vec::new();
        for source in self.sources() {
            match source {
                Ok(source) => sources.push(source),
                Err((name, error)) => report.push(Change::Failed {
                    name,
                    error: LoadFailure {
                        path: None,
                        error: LoadError::NoFile(error),
                    },
                    kept: None,
                }),
            }
        }
        // Every file is read before the lock is taken, several at a time,
        // and once however many skills it is configured as.
        let mut paths: Vec<PathBuf> = sources.iter().map(|s| s.path.clone()).collect();
        paths.sort();
        paths.dedup();
        let files: HashMap<PathBuf, Result<SkillFile, ReadError>> = futures::stream::iter(paths)
            .map(|path| async move {
                let file = SkillFile::read(&path).await;
                (path, file)
            })
            .buffer_unordered(PARALLEL_READS)
            .collect()
            .await;
        let reads: Vec<Read> = sources
            .into_iter()
            .map(|source| {
                let file = files[&source.path].clone();
                (source, file)
            })
            .collect();

        let guard = self.changing.lock().await;
        let old = self.current();
        // Loads run on all cores, their results kept in priority order.
        let loads = reads.into_iter().map(|(source, file)| {
            let previous = old.get(&source.name).cloned();
            let forced = forced.contains(&source.name);
            let runtime = self.runtime.clone();
            let progress = self.progress.clone();
            tokio::spawn(async move {
                let file = match file {
                    // A configured skill whose file is gone: unloaded, like a
                    // file deleted from the skills folder.
                    Err(ReadError::NotFound) => {
                        let change = previous
                            .is_none()
                            .then(|| failed(&source, LoadError::Read(ReadError::NotFound), None));
                        return (None, change);
                    }
                    Err(e) => {
                        let kept = previous.as_ref().map(|p| p.manifest.version.clone());
                        return (previous, Some(failed(&source, LoadError::Read(e), kept)));
                    }
                    Ok(file) => file,
                };
                if FileStamp::now(&source.path).as_ref() != Some(&file.stamp) {
                    // Changed since it was read: the watcher loads the newer file.
                    return (previous, None);
                }
                // A skill whose section changed loads afresh: its aliases
                // and settings are part of what is loaded.
                let (skill, change) =
                    load_or_keep(&runtime, &progress, source, file, previous, forced).await;
                (skill, Some(change))
            })
        });
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        let loaded: Vec<_> = futures::stream::iter(loads)
            .buffered(parallel)
            .collect()
            .await;
        let mut next = Vec::new();
        for result in loaded {
            match result {
                Ok((skill, change)) => {
                    next.extend(skill);
                    report.changes.extend(change);
                }
                Err(e) => tracing::error!("loading a skill panicked: {e}"),
            }
        }
        let serving: HashSet<&str> = next.iter().map(|s| s.name.as_str()).collect();
        for gone in old
            .skills
            .iter()
            .filter(|s| !serving.contains(s.name.as_str()))
        {
            report.push(Change::Removed {
                name: gone.name.clone(),
                version: gone.manifest.version.clone(),
            });
        }
        self.swap(next, &guard).await;
        report.changes.iter().for_each(|c| self.count(c));
        report
    }

    /// Reads configuration.yaml again; keeps it when it changed and is
    /// valid, noting in `report` what changed. Returns the skills whose
    /// sections changed (to load afresh even if their file did not).
    async fn reread_config(&self, report: &mut ReloadReport) -> HashSet<String> {
        let old = self.config.load_full();
        let Some(path) = old.source.clone() else {
            return HashSet::new();
        };
        let read = tokio::task::spawn_blocking(move || crate::config::load(&path)).await;
        let new = match read {
            Ok(Ok(new)) => new,
            Ok(Err(e)) => {
                tracing::warn!("configuration not reloaded, the one in use stays: {e}");
                report.config_refused = Some(e.to_string());
                return HashSet::new();
            }
            Err(e) => {
                report.config_refused = Some(format!("reading it failed: {e}"));
                return HashSet::new();
            }
        };
        if new.text == old.text {
            return HashSet::new();
        }
        let changes = crate::config::changes(&old, &new);
        for line in &changes.lines {
            tracing::info!("configuration reloaded: {line}");
        }
        if !changes.need_restart.is_empty() {
            tracing::warn!(sections = %changes.need_restart.join(", "), "configuration changed where a reload does not apply it: restart to apply");
        }
        self.config.store(Arc::new(new));
        let forced = changes.skills.iter().cloned().collect();
        report.config = Some(changes);
        forced
    }

    /// Reads the file at `path`, then [`Catalog::reload_file`].
    pub async fn reload_path(&self, path: &Path) -> Option<Change> {
        let read = SkillFile::read(path).await;
        self.reload_file(path, read).await
    }

    /// Reacts to a change of the file at `path` (from the watcher), `read`
    /// before the reload lock as [`Catalog::reload_all`] reads: loads it if
    /// it is a skill's, unloads the skill whose file it was if it is gone.
    pub async fn reload_file(
        &self,
        path: &Path,
        read: Result<SkillFile, ReadError>,
    ) -> Option<Change> {
        let in_folder = self.config.load().skills_dir.as_deref() == path.parent();
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        if in_folder
            && is_skill_file(path)
            && path.exists()
            && let Err(why) = crate::names::check(&stem)
        {
            let (name, error) = bad_name(path, &stem, &why);
            let change = Change::Failed {
                name,
                error: LoadFailure {
                    path: None,
                    error: LoadError::NoFile(error),
                },
                kept: None,
            };
            self.count(&change);
            return Some(change);
        }
        let source = self
            .sources()
            .into_iter()
            .flatten()
            .find(|s| s.path == path);
        let read = source.map(|source| (source, read));

        let guard = self.changing.lock().await;
        let old = self.current();
        let previous = match &read {
            Some((s, _)) => old.get(&s.name).cloned(),
            None => old.skills.iter().find(|s| s.path == path).cloned(),
        };
        let (loaded, change) = match read {
            Some((source, Err(e))) if e != ReadError::NotFound => {
                let kept = previous.as_ref().map(|p| p.manifest.version.clone());
                (previous.clone(), failed(&source, LoadError::Read(e), kept))
            }
            Some((source, Ok(file))) => {
                if FileStamp::now(&source.path).as_ref() != Some(&file.stamp) {
                    // Changed again since it was read: a later event loads it.
                    return None;
                }
                load_or_keep(
                    &self.runtime,
                    &self.progress,
                    source,
                    file,
                    previous.clone(),
                    false,
                )
                .await
            }
            _ => {
                let gone = previous.clone()?;
                (
                    None,
                    Change::Removed {
                        name: gone.name.clone(),
                        version: gone.manifest.version.clone(),
                    },
                )
            }
        };
        if matches!(change, Change::Unchanged { .. }) {
            return None;
        }
        let mut next: Vec<Arc<Skill>> = old.skills.clone();
        match (previous, loaded) {
            (Some(prev), Some(new)) => {
                if let Some(slot) = next.iter_mut().find(|s| Arc::ptr_eq(s, &prev)) {
                    *slot = new;
                }
            }
            (Some(prev), None) if matches!(change, Change::Removed { .. }) => {
                next.retain(|s| !Arc::ptr_eq(s, &prev));
            }
            (None, Some(new)) => {
                next.push(new);
                let order: HashMap<String, usize> = self
                    .sources()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, s)| (s.name, i))
                    .collect();
                next.sort_by_key(|s| order.get(&s.name).copied().unwrap_or(usize::MAX));
            }
            _ => {}
        }
        self.swap(next, &guard).await;
        self.count(&change);
        Some(change)
    }

    async fn swap(&self, skills: Vec<Arc<Skill>>, disabled: &BTreeSet<String>) {
        let in_use: HashSet<String> = skills.iter().map(|s| s.sha256.clone()).collect();
        let config = self.config.load_full();
        let disabled = disabled.clone();
        // Building the index compiles regexes: keep it off the async
        // workers. Stored only if the workflows did not change meanwhile
        // (else built again with theirs).
        loop {
            let workflows = self.current().workflows.clone();
            let (skills, config, disabled) = (skills.clone(), config.clone(), disabled.clone());
            let set = tokio::task::spawn_blocking(move || {
                SkillSet::new(skills, &config, &disabled, workflows)
            })
            .await
            .expect("building the matching index panicked");
            let _one = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
            if Arc::ptr_eq(&self.current().workflows, &set.workflows) {
                self.current.store(Arc::new(set));
                break;
            }
        }
        self.changes.send_replace(());
        self.runtime.prune_cache(in_use).await;
    }

    /// Puts the workflows' matchers in the set (blocking: it builds the
    /// index), beside the same skills.
    pub fn set_workflows(&self, workflows: Vec<Arc<Flow>>) {
        let _one = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current();
        let set = SkillSet::with(
            old.skills.clone(),
            old.policies.clone(),
            Arc::new(workflows),
        );
        same_words::warn(&set, &self.config());
        self.current.store(Arc::new(set));
        self.changes.send_replace(());
    }
}

/// Loads `source` unless `previous` already runs the same bytes (and is
/// not `forced` to load afresh: its configuration changed).
async fn load_or_keep(
    runtime: &Runtime,
    progress: &Arc<progress::Progress>,
    source: SkillSource,
    file: SkillFile,
    previous: Option<Arc<Skill>>,
    forced: bool,
) -> (Option<Arc<Skill>>, Change) {
    let name = source.name.clone();
    if let Some(prev) = &previous
        && file.sha256 == prev.sha256
        && !forced
    {
        let version = prev.manifest.version.clone();
        return (Some(prev.clone()), Change::Unchanged { name, version });
    }
    let _compiling = progress.compiling(&name);
    if previous.is_some() {
        // Compiling a large skill takes seconds: say why the old one answers.
        tracing::info!(skill = %crate::text::for_log(&name), "compiling its new file; the old version serves meanwhile");
    }
    let path = source.path.clone();
    let loaded = match runtime.load_file(source, file).await {
        Ok(loaded) => matchers::compile(loaded).await,
        Err(e) => Err(e),
    };
    match loaded {
        Ok(skill) => {
            let skill = Arc::new(skill);
            let to = skill.manifest.version.clone();
            tracing::debug!(
                skill = %name,
                from_cache = skill.compiled.from_cache,
                took_ms = skill.compiled.took.as_secs_f64() * 1e3,
                "compiled"
            );
            let change = match previous {
                Some(prev) if prev.sha256 == skill.sha256 => {
                    Change::Reconfigured { name, version: to }
                }
                Some(prev) => Change::Updated {
                    name,
                    from: prev.manifest.version.clone(),
                    to,
                },
                None => Change::Added { name, version: to },
            };
            (Some(skill), change)
        }
        Err(error) => {
            let kept = previous.as_ref().map(|p| p.manifest.version.clone());
            let change = Change::Failed {
                name,
                error: LoadFailure {
                    path: Some(path),
                    error,
                },
                kept,
            };
            (previous, change)
        }
    }
}

fn failed(source: &SkillSource, error: LoadError, kept: Option<String>) -> Change {
    Change::Failed {
        name: source.name.clone(),
        error: LoadFailure {
            path: Some(source.path.clone()),
            error,
        },
        kept,
    }
}

/// A file in the skills folder whose name is not a skill name: its name
/// and why, both as they may be shown (escaped, on one line).
fn bad_name(path: &Path, stem: &str, why: &str) -> (String, String) {
    let folder = path.parent().unwrap_or(Path::new("")).display().to_string();
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    (
        crate::names::shown(stem),
        format!(
            "{}/{}: its file name is not a skill name: {why}",
            crate::text::for_log(&folder),
            crate::names::shown(&file)
        ),
    )
}

/// What a skill file's name ends with.
const SKILL_FILES: &[&str] = &["wasm"];

fn is_skill_file(path: &Path) -> bool {
    crate::folder::holds(path, SKILL_FILES)
}
