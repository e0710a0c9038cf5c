//! The set of loaded skills and how it changes. Readers take the current set
//! with one atomic load; a change builds a whole new set off the message path
//! and swaps it in (make-before-break). Events in flight keep the set they
//! started with, so none is dropped or answered twice across a reload.

mod report;
pub mod watch;

pub use report::{Change, ReloadReport};

use crate::config::Config;
use crate::matching::Index;
use crate::outbound::OutboundPolicy;
use crate::runtime::{LoadedSkill, Runtime, SkillSource};
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An immutable snapshot: skills in priority order and their matching index.
pub struct SkillSet {
    pub skills: Vec<Arc<LoadedSkill>>,
    pub index: Index,
}

impl SkillSet {
    fn new(skills: Vec<Arc<LoadedSkill>>) -> SkillSet {
        let index = Index::build(skills.iter().map(|s| (&s.manifest, &s.matchers)));
        SkillSet { skills, index }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<LoadedSkill>> {
        self.skills.iter().find(|s| s.name == name)
    }
}

pub struct Catalog {
    current: ArcSwap<SkillSet>,
    runtime: Arc<Runtime>,
    config: Arc<Config>,
    /// One change at a time; readers never take it.
    changing: tokio::sync::Mutex<()>,
}

impl Catalog {
    pub fn new(runtime: Arc<Runtime>, config: Arc<Config>) -> Self {
        Catalog {
            current: ArcSwap::from_pointee(SkillSet::new(Vec::new())),
            runtime,
            config,
            changing: tokio::sync::Mutex::new(()),
        }
    }

    /// The skills serving now.
    pub fn current(&self) -> Arc<SkillSet> {
        self.current.load_full()
    }

    pub fn skills_dir(&self) -> Option<&Path> {
        self.config.skills_dir.as_deref()
    }

    /// The paths whose changes matter: the skills folder and the files named
    /// by `path:` in the configuration.
    pub fn watched_paths(&self) -> (Option<PathBuf>, Vec<PathBuf>) {
        let files = self
            .config
            .skills
            .values()
            .filter_map(|e| e.path.clone())
            .collect();
        (self.config.skills_dir.clone(), files)
    }

    /// What should be loaded, in priority order: configured skills in file
    /// order, then the rest of the skills folder by file name.
    pub fn sources(&self) -> Vec<Result<SkillSource, (String, String)>> {
        let config = &self.config;
        let mut out = Vec::new();
        let mut claimed: Vec<PathBuf> = Vec::new();
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
            claimed.push(path.clone());
            out.push(Ok(SkillSource {
                name: name.clone(),
                path,
                no_cache: entry.no_cache,
                sha256: entry.sha256.clone(),
                limits: entry.limits.unwrap_or(config.runtime.default_limits),
                settings: entry.settings.clone(),
                secrets: config.granted_secrets(name),
                withheld_secrets: config
                    .secrets
                    .keys()
                    .filter(|k| !entry.allow.secrets.contains(k))
                    .cloned()
                    .collect(),
                outbound: OutboundPolicy::new(entry.allow.http.clone()),
                instance_reuse: entry.instance_reuse,
            }));
        }
        if let Some(dir) = &config.skills_dir {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| is_skill_file(p) && !claimed.contains(p))
                .collect();
            found.sort();
            for path in found {
                let name = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                if config.skills.contains_key(&name) {
                    tracing::warn!(file = %path.display(), "ignored: the configuration gives skill `{name}` another path");
                    continue;
                }
                out.push(Ok(SkillSource {
                    limits: config.runtime.default_limits,
                    withheld_secrets: config.secrets.keys().cloned().collect(),
                    ..SkillSource::new(name, path)
                }));
            }
        }
        out
    }

    /// Brings every skill in line with the disk: loads new and changed
    /// files, unloads vanished ones, and keeps the old version of any that
    /// fails. Used at start and by the `reload` command.
    pub async fn reload_all(&self) -> ReloadReport {
        let _guard = self.changing.lock().await;
        let old = self.current();
        let mut report = ReloadReport::default();
        let mut next = Vec::new();
        for source in self.sources() {
            let source = match source {
                Ok(s) => s,
                Err((name, error)) => {
                    report.push(Change::Failed {
                        name,
                        error,
                        kept: None,
                    });
                    continue;
                }
            };
            let previous = old.get(&source.name).cloned();
            if !source.path.exists() {
                // A configured skill whose file is gone: unloaded, like a file
                // deleted from the skills folder.
                if previous.is_none() {
                    let error = format!("{} does not exist", source.path.display());
                    report.push(Change::Failed {
                        name: source.name,
                        error,
                        kept: None,
                    });
                }
                continue;
            }
            let (skill, change) = self.load_or_keep(source, previous).await;
            next.extend(skill);
            report.push(change);
        }
        for gone in old
            .skills
            .iter()
            .filter(|s| !next.iter().any(|n| n.name == s.name))
        {
            report.push(Change::Removed {
                name: gone.name.clone(),
                version: gone.manifest.version.clone(),
            });
        }
        self.swap(next).await;
        report
    }

    /// Reacts to a change of one file (from the watcher).
    pub async fn reload_path(&self, path: &Path) -> Option<Change> {
        let _guard = self.changing.lock().await;
        let old = self.current();
        let source = self
            .sources()
            .into_iter()
            .flatten()
            .find(|s| s.path == path)
            .filter(|s| s.path.exists());
        let previous = match &source {
            Some(s) => old.get(&s.name).cloned(),
            None => old.skills.iter().find(|s| s.path == path).cloned(),
        };
        let (loaded, change) = match source {
            Some(source) => self.load_or_keep(source, previous.clone()).await,
            None => {
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
        let mut next: Vec<Arc<LoadedSkill>> = old.skills.clone();
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
                let order: Vec<String> = self
                    .sources()
                    .into_iter()
                    .flatten()
                    .map(|s| s.name)
                    .collect();
                next.sort_by_key(|s| {
                    order
                        .iter()
                        .position(|n| *n == s.name)
                        .unwrap_or(usize::MAX)
                });
            }
            _ => {}
        }
        self.swap(next).await;
        Some(change)
    }

    /// Loads `source` unless `previous` already runs the same bytes.
    async fn load_or_keep(
        &self,
        source: SkillSource,
        previous: Option<Arc<LoadedSkill>>,
    ) -> (Option<Arc<LoadedSkill>>, Change) {
        let name = source.name.clone();
        if let Some(prev) = &previous
            && file_sha256(&source.path).as_deref() == Some(prev.sha256.as_str())
        {
            let version = prev.manifest.version.clone();
            return (Some(prev.clone()), Change::Unchanged { name, version });
        }
        match self.runtime.load(source).await {
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
                    Some(prev) => Change::Updated {
                        name,
                        from: prev.manifest.version.clone(),
                        to,
                    },
                    None => Change::Added { name, version: to },
                };
                (Some(skill), change)
            }
            Err(e) => {
                let error = format!("{e:#}");
                let kept = previous.as_ref().map(|p| p.manifest.version.clone());
                (previous, Change::Failed { name, error, kept })
            }
        }
    }

    async fn swap(&self, skills: Vec<Arc<LoadedSkill>>) {
        // Building the index compiles regexes: keep it off the async workers.
        let set = tokio::task::spawn_blocking(move || SkillSet::new(skills))
            .await
            .expect("building the matching index panicked");
        self.current.store(Arc::new(set));
    }
}

fn is_skill_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn file_sha256(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}
