//! Loading a skill: check the file's bytes, compile (or take from the cache),
//! check its imports against its grants, find which world it implements, and
//! ask it to `describe` itself. All of it happens off the message path, and
//! every refusal is a typed [`LoadError`] with the reason in words.

use super::Compiled;
use super::convert;
use super::engine::Runtime;
use super::failure::{self, Failure, FailureContext};
use super::gate::Gate;
use super::instance::{Pre, Settings, World};
use super::phase::Phase;
use super::settings::{self, ConfigText};
use super::shape;
use super::shared::Shared;
use super::skill_host::SkillHost;
use super::store::State;
use super::warm::WarmPool;
use crate::grants::Grants;
use crate::limits::{HumanDuration, Limits};
use crate::manifest::{Manifest, MatcherKind, MatcherSpec};
use crate::skill_file::{ReadError, SkillFile};
use std::path::PathBuf;
use std::sync::Arc;

/// Everything needed to load one skill.
#[derive(Debug, Clone)]
pub struct SkillSource {
    /// The skill's identity: its config key or file stem. Memory is
    /// namespaced by it.
    pub name: String,
    pub path: PathBuf,
    pub no_cache: bool,
    /// Load only a file with this SHA-256 (lower-case hex).
    pub sha256: Option<String>,
    pub limits: Limits,
    /// The skill's own section of configuration.yaml.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The configuration it came from, to place a setting's mistake at its
    /// line; `None` for a skill the configuration does not name.
    pub config_text: Option<ConfigText>,
    pub grants: Grants,
    /// Events one instance may serve before a fresh one is made; 0 or 1
    /// means a fresh instance for every event.
    pub instance_reuse: u32,
    /// Matchers the configuration adds (operators' aliases): each reuses
    /// the id of a matcher the skill declares.
    pub extra_matchers: Vec<MatcherSpec>,
    /// Matcher ids the configuration gives settings to
    /// (`skills.<name>.matchers`): each must be one the skill declares.
    pub configured_matchers: Vec<String>,
    /// Does `skills.<name>.webhook` stand behind the skill's webhook
    /// matchers (a `secret`, or `public: true`)? A skill that declares one
    /// without is refused: a file dropped in the folder opens no endpoint
    /// to anyone on its own.
    pub webhook_guarded: bool,
}

impl SkillSource {
    /// A skill with default limits and no grants.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        SkillSource {
            name: name.into(),
            path: path.into(),
            no_cache: false,
            sha256: None,
            limits: Limits::default(),
            settings: Default::default(),
            config_text: None,
            grants: Grants::default(),
            instance_reuse: 0,
            extra_matchers: Vec::new(),
            configured_matchers: Vec::new(),
            webhook_guarded: false,
        }
    }
}

/// Why a skill did not load. The previous version, if any, keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The configuration does not say where the file is.
    #[error("{0}")]
    NoFile(String),
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error(
        "its sha256 is {found}, but skills.{skill}.sha256 pins {pinned}: refusing a file the configuration did not approve"
    )]
    NotPinned {
        skill: String,
        found: String,
        pinned: String,
    },
    #[error("it is not a WebAssembly file")]
    NotWasm,
    #[error(
        "it is a core WebAssembly module, not a component: build it for wasm32-wasip2 or run `wasm-tools component new`"
    )]
    CoreModule,
    #[error("{0}")]
    Shape(String),
    #[error("compiling it took longer than {0:?}")]
    CompileTimeout(std::time::Duration),
    #[error("it does not compile: {0}")]
    Compile(String),
    #[error(
        "it imports `{import}` (outbound HTTP), but skills.{skill}.allow.http grants no hosts: add the hosts it may call to configuration.yaml"
    )]
    NotGranted { skill: String, import: String },
    #[error("it needs something the bot does not provide: {0}")]
    Imports(String),
    #[error(
        "it is not a sandbot skill: a skill exports `describe` and `handle` of world sandbot:skill/skill (or skill-sync); this one exports {exports} ({reason})"
    )]
    NotASkill { exports: String, reason: String },
    #[error("`describe` failed: {0}")]
    Describe(Failure),
    #[error("`describe` did not answer within its time budget of {0}")]
    DescribeTimeout(HumanDuration),
    #[error("its manifest is not acceptable: {0}")]
    Manifest(String),
    /// Its section of configuration.yaml does not fit the settings it
    /// declares: each mistake, `file:line:column: what`.
    #[error("its configuration does not fit the settings it declares: {}", .0.join("; "))]
    Settings(Vec<String>),
    #[error("its matchers are not acceptable: {0}")]
    Matchers(String),
    #[error(
        "it has webhook matcher `{matcher}` (POST /skill/{skill}/…), but skills.{skill}.webhook has no `secret`: give `webhook: {{secret: ${{SOME_VAR}}}}`, or `webhook: {{public: true}}` if anyone may call it"
    )]
    UnguardedWebhook { skill: String, matcher: String },
}

/// A compiled, checked skill, ready to handle events. Cheap to share:
/// events in flight keep the version they started on alive.
pub struct LoadedSkill {
    pub name: String,
    pub manifest: Manifest,
    pub path: PathBuf,
    pub sha256: String,
    pub world: World,
    pub compiled: Compiled,
    pub instance_reuse: u32,
    pub(super) shared: Arc<Shared>,
    pub(super) host: Arc<SkillHost>,
    pub(super) warm: WarmPool,
    pub(super) gate: Gate,
}

impl LoadedSkill {
    pub fn limits(&self) -> Limits {
        self.host.limits
    }
}

/// What [`Runtime::described`] found.
struct Described {
    shared: Arc<Shared>,
    compiled: Compiled,
    host: Arc<SkillHost>,
    manifest: Manifest,
    sha256: String,
    /// The settings the configuration gives and the secrets it grants, by name.
    given: Vec<String>,
    granted: Vec<String>,
}

/// The longest the bot waits for one compilation. Cranelift cannot be
/// stopped midway, so a file past this is refused and its compile thread is
/// left to finish in the background; one compilation runs at a time, so a
/// stream of hostile files cannot pile up threads.
const COMPILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl Runtime {
    /// Reads `source.path` (bounded; regular files only) and loads it.
    pub async fn load(&self, source: SkillSource) -> Result<LoadedSkill, LoadError> {
        let file = SkillFile::read(&source.path).await?;
        self.load_file(source, file).await
    }

    /// What the skill in `file` says of itself (`describe`, validated),
    /// loaded as `source` would be up to there: for a push, which records
    /// the skill's own version. Its configuration is not checked.
    pub async fn manifest_of(
        &self,
        mut source: SkillSource,
        file: SkillFile,
    ) -> Result<Manifest, LoadError> {
        Ok(self.described(&mut source, file).await?.manifest)
    }

    /// The first half of a load: the bytes checked and compiled (or
    /// reused), the imports checked against the grants (which move into
    /// the skill's host), and `describe` called and validated.
    async fn described(
        &self,
        source: &mut SkillSource,
        file: SkillFile,
    ) -> Result<Described, LoadError> {
        let SkillFile { bytes, sha256, .. } = file;
        if let Some(pin) = &source.sha256
            && *pin != sha256
        {
            return Err(LoadError::NotPinned {
                skill: source.name.clone(),
                found: sha256,
                pinned: pin.clone(),
            });
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm);
        }
        if wasmparser::Parser::is_core_wasm(&bytes) {
            return Err(LoadError::CoreModule);
        }
        let use_cache = !source.no_cache;
        let reused = use_cache.then(|| self.shared.get(&sha256)).flatten();
        let (shared, compiled) = match reused {
            Some(hit) => hit,
            None => self.compile(bytes, &sha256, use_cache).await?,
        };
        // What the configuration gives, by name, for the settings the
        // skill declares (checked once it has said them).
        let given: Vec<String> = source.settings.keys().cloned().collect();
        let granted: Vec<String> = source.grants.secrets.keys().cloned().collect();
        // Each interface takes its part of the grants, once; the imports
        // must fit them (the configuration, not the file, decides what a
        // skill may do).
        let host = Arc::new(SkillHost::new(
            source.name.clone(),
            std::mem::take(&mut source.grants),
            source.limits,
            std::mem::take(&mut source.settings),
            &self.services,
        ));
        if let Some(import) = host.refused_import(&self.engine, &shared.component) {
            return Err(LoadError::NotGranted {
                skill: source.name.clone(),
                import,
            });
        }
        let manifest = self.describe(&shared.pre, &host).await?;
        manifest.validate().map_err(LoadError::Manifest)?;
        Ok(Described {
            shared,
            compiled,
            host,
            manifest,
            sha256,
            given,
            granted,
        })
    }

    /// Loads a skill from bytes already read.
    pub async fn load_file(
        &self,
        mut source: SkillSource,
        file: SkillFile,
    ) -> Result<LoadedSkill, LoadError> {
        let Described {
            shared,
            compiled,
            host,
            mut manifest,
            sha256,
            given,
            granted,
        } = self.described(&mut source, file).await?;
        // A key the skill does not declare, or a required one absent, is a
        // mistake in the configuration, found before the skill runs.
        let mistakes = settings::mistakes(
            &source.name,
            manifest.settings.as_deref(),
            &given,
            &granted,
            source.config_text.as_ref(),
        );
        if !mistakes.is_empty() {
            return Err(LoadError::Settings(mistakes));
        }
        for extra in source.extra_matchers {
            if !manifest.matchers.iter().any(|m| m.id == extra.id) {
                let ids: Vec<&str> = manifest.matchers.iter().map(|m| m.id.as_str()).collect();
                return Err(LoadError::Manifest(format!(
                    "an alias in the configuration names matcher `{}`, which the skill does not declare (it has: {})",
                    extra.id,
                    ids.join(", ")
                )));
            }
            manifest.matchers.push(extra);
        }
        // A typo here would silently restrict nothing.
        let unknown: Vec<&str> = source
            .configured_matchers
            .iter()
            .filter(|id| !manifest.matchers.iter().any(|m| &m.id == *id))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let ids: Vec<&str> = manifest.matchers.iter().map(|m| m.id.as_str()).collect();
            return Err(LoadError::Manifest(format!(
                "the configuration's `matchers:` names {}, which the skill does not declare (it has: {})",
                unknown.join(", "),
                ids.join(", ")
            )));
        }
        if !source.webhook_guarded
            && let Some(hook) = manifest
                .matchers
                .iter()
                .find(|m| matches!(m.kind, MatcherKind::Webhook(_)))
        {
            return Err(LoadError::UnguardedWebhook {
                skill: source.name.clone(),
                matcher: hook.id.clone(),
            });
        }
        if manifest.name != source.name {
            tracing::debug!(skill = %source.name, calls_itself = %manifest.name, "a skill's file name and manifest name differ; the file name is what counts");
        }
        Ok(LoadedSkill {
            name: source.name,
            manifest,
            path: source.path,
            sha256,
            world: shared.world,
            compiled,
            instance_reuse: source.instance_reuse,
            shared,
            gate: Gate::new(&host.limits),
            host,
            warm: WarmPool::default(),
        })
    }

    /// Checks the shape, compiles (or reads the compile cache), links and
    /// type-checks `bytes`, and offers the result to later loads of the
    /// same bytes.
    async fn compile(
        &self,
        bytes: Arc<[u8]>,
        sha256: &str,
        use_cache: bool,
    ) -> Result<(Arc<Shared>, Compiled), LoadError> {
        shape::check(&bytes).map_err(|refused| match refused {
            shape::Refused::Malformed(why) => LoadError::Compile(why),
            shape::Refused::OverBound(why) => LoadError::Shape(why),
        })?;
        let (engine, cache, hash) = (self.engine.clone(), self.cache.clone(), sha256.to_owned());
        let cached = tokio::task::spawn_blocking(move || cache.cached(&engine, &hash, use_cache))
            .await
            .ok()
            .flatten();
        let (component, compiled) = match cached {
            Some(hit) => hit,
            None => {
                let (engine, cache, hash) =
                    (self.engine.clone(), self.cache.clone(), sha256.to_owned());
                let _one_at_a_time = self.compiling.lock().await;
                let compile = tokio::task::spawn_blocking(move || {
                    cache.compile(&engine, &bytes, &hash, use_cache)
                });
                tokio::time::timeout(COMPILE_TIMEOUT, compile)
                    .await
                    .map_err(|_| LoadError::CompileTimeout(COMPILE_TIMEOUT))?
                    .map_err(|e| LoadError::Compile(format!("the compiler thread failed: {e}")))?
                    .map_err(|e| LoadError::Compile(format!("{e:#}")))?
            }
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports(e.to_string()))?;
        let (pre, world) = Pre::new(instance_pre).map_err(|reason| {
            let exports: Vec<String> = component
                .component_type()
                .exports(&self.engine)
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            LoadError::NotASkill {
                exports: if exports.is_empty() {
                    "nothing".into()
                } else {
                    exports.join(", ")
                },
                reason: reason.to_string(),
            }
        })?;
        let shared = Arc::new(Shared {
            component,
            pre,
            world,
        });
        if use_cache {
            self.shared.offer(sha256, &shared);
        }
        Ok((shared, compiled))
    }

    /// Calls `describe`, then `settings` if the skill exports it, in a fresh
    /// store, under the skill's time budget, with no chat, no outbound
    /// calls and no memory writes.
    async fn describe(&self, pre: &Pre, host: &Arc<SkillHost>) -> Result<Manifest, LoadError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the slots are never closed");
        let mut store = self.new_store(State::new(host, Phase::Describe));
        let call = async {
            let (instance, raw) = pre.instantiate_open(&mut store).await?;
            let manifest = instance.describe(&mut store).await?;
            let declared = match Settings::find(&raw, &mut store) {
                Settings::Absent => None,
                Settings::Export(settings) => settings.call_async(&mut store, ()).await?.0,
                Settings::WrongType(why) => return Ok(Err(why)),
            };
            wasmtime::Result::Ok(Ok(convert::manifest_from_wit(manifest, declared)))
        };
        let budget = host.limits.time;
        match tokio::time::timeout(budget.0, call).await {
            Ok(Ok(Ok(manifest))) => Ok(manifest),
            Ok(Ok(Err(why))) => Err(LoadError::Manifest(format!(
                "its `settings` export is not `func() -> option<list<setting>>`: {why}"
            ))),
            Ok(Err(e)) => {
                let state = store.data();
                let after = FailureContext {
                    skill: &host.name,
                    memory_exceeded: state.resources.exceeded(),
                    stderr: state.stderr_text(),
                };
                Err(LoadError::Describe(failure::classify(e, after)))
            }
            Err(_) => Err(LoadError::DescribeTimeout(budget)),
        }
    }
}
