//! Loading a skill: read, compile (or take from the cache), check its imports
//! against what the bot provides, find which world it implements, and ask it
//! to `describe` itself. All of it happens off the message path.

use super::bindings::{AsyncSkillPre, SkillSyncPre};
use super::convert;
use super::invoke::WarmPool;
use super::state::{SkillHost, State};
use super::{Compiled, Runtime};
use crate::config::Limits;
use crate::manifest::Manifest;
use crate::matching::SkillMatchers;
use crate::outbound::OutboundPolicy;
use anyhow::{Context, Result, anyhow, bail};
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
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
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Secrets the skill is granted, by name.
    pub secrets: IndexMap<String, String>,
    /// Secrets that exist but are not granted: asking for one is an error
    /// the operator hears about, not a quiet "no such key".
    pub withheld_secrets: Vec<String>,
    pub outbound: OutboundPolicy,
    /// Events one instance may serve before a fresh one is made; 0 or 1
    /// means a fresh instance for every event.
    pub instance_reuse: u32,
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
            secrets: Default::default(),
            withheld_secrets: Vec::new(),
            outbound: OutboundPolicy::default(),
            instance_reuse: 0,
        }
    }
}

/// Which of the two skill worlds a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `sandbot:skill/skill`, with an async `handle`.
    Async,
    /// `sandbot:skill/skill-sync`, with a plain `handle`.
    Sync,
}

pub(super) enum Pre {
    Async(AsyncSkillPre<State>),
    Sync(SkillSyncPre<State>),
}

/// A compiled, checked skill, ready to handle events. Cheap to share:
/// events in flight keep the version they started on alive.
pub struct LoadedSkill {
    pub name: String,
    pub manifest: Manifest,
    /// The manifest's matchers, compiled at load.
    pub matchers: SkillMatchers,
    pub path: PathBuf,
    pub sha256: String,
    pub world: World,
    pub compiled: Compiled,
    pub(super) pre: Pre,
    pub(super) host: Arc<SkillHost>,
    pub instance_reuse: u32,
    pub(super) warm: WarmPool,
}

impl LoadedSkill {
    pub fn limits(&self) -> Limits {
        self.host.limits
    }
}

/// The largest `.wasm` the bot will compile (Python components are ~40 MiB).
const MAX_COMPONENT_BYTES: u64 = 128 << 20;
/// The longest the bot waits for one compilation. Cranelift cannot be
/// stopped midway, so a file past this is refused and its compile thread is
/// left to finish in the background; one compilation runs at a time, so a
/// stream of hostile files cannot pile up threads.
const COMPILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl Runtime {
    pub async fn load(&self, source: SkillSource) -> Result<LoadedSkill> {
        let path = source.path.clone();
        self.load_inner(source)
            .await
            .with_context(|| format!("cannot load {}", path.display()))
    }

    async fn load_inner(&self, source: SkillSource) -> Result<LoadedSkill> {
        let size = tokio::fs::metadata(&source.path).await?.len();
        if size > MAX_COMPONENT_BYTES {
            bail!("it is {size} bytes; skills may be at most {MAX_COMPONENT_BYTES}");
        }
        let wasm = tokio::fs::read(&source.path).await?;
        let sha256 = hex(&Sha256::digest(&wasm));
        if let Some(pin) = &source.sha256
            && *pin != sha256
        {
            bail!(
                "its sha256 is {sha256}, but skills.{}.sha256 pins {pin}: refusing a file the configuration did not approve",
                source.name
            );
        }
        if !wasm.starts_with(b"\0asm") {
            bail!("it is not a WebAssembly file");
        }
        if wasmparser::Parser::is_core_wasm(&wasm) {
            bail!(
                "it is a core WebAssembly module, not a component: build it for wasm32-wasip2 or run `wasm-tools component new`"
            );
        }

        let (engine, cache, hash) = (self.engine.clone(), self.cache.clone(), sha256.clone());
        let use_cache = !source.no_cache;
        let (component, compiled) = {
            let _one_at_a_time = self.compiling.lock().await;
            let compile = tokio::task::spawn_blocking(move || {
                cache.component(&engine, &wasm, &hash, use_cache)
            });
            tokio::time::timeout(COMPILE_TIMEOUT, compile)
                .await
                .map_err(|_| anyhow!("compiling it took longer than {COMPILE_TIMEOUT:?}"))?
                .context("the compiler thread panicked")?
                .context("it does not compile")?
        };
        check_grants(&self.engine, &component, &source)?;

        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("it needs something the bot does not provide: {e}"))?;
        let (pre, world) = match AsyncSkillPre::new(instance_pre.clone()) {
            Ok(pre) => (Pre::Async(pre), World::Async),
            Err(async_err) => match SkillSyncPre::new(instance_pre) {
                Ok(pre) => (Pre::Sync(pre), World::Sync),
                Err(_) => {
                    let exports: Vec<String> = component
                        .component_type()
                        .exports(&self.engine)
                        .map(|(name, _)| format!("`{name}`"))
                        .collect();
                    bail!(
                        "it is not a sandbot skill: a skill exports `describe` and `handle` of world sandbot:skill/skill (or skill-sync); this one exports {} ({async_err})",
                        if exports.is_empty() {
                            "nothing".into()
                        } else {
                            exports.join(", ")
                        }
                    );
                }
            },
        };

        let host = Arc::new(SkillHost::new(&source, &self.services));
        let manifest = self.describe(&pre, &host).await?;
        manifest.validate().map_err(|e| anyhow!("{e}"))?;
        let matchers = crate::matching::compile(&manifest).map_err(|e| anyhow!("{e}"))?;
        if manifest.name != source.name {
            tracing::debug!(skill = %source.name, calls_itself = %manifest.name, "a skill's file name and manifest name differ; the file name is what counts");
        }
        Ok(LoadedSkill {
            name: source.name,
            manifest,
            matchers,
            path: source.path,
            sha256,
            world,
            compiled,
            pre,
            host,
            instance_reuse: source.instance_reuse,
            warm: WarmPool::default(),
        })
    }

    /// Calls `describe` in a fresh store, under the skill's time budget.
    async fn describe(&self, pre: &Pre, host: &Arc<SkillHost>) -> Result<Manifest> {
        let mut store = self.new_store(State::new(host.clone(), None));
        let call = async {
            match pre {
                Pre::Async(pre) => {
                    let skill = pre.instantiate_async(&mut store).await?;
                    skill.call_describe(&mut store).await
                }
                Pre::Sync(pre) => {
                    let skill = pre.instantiate_async(&mut store).await?;
                    skill.call_describe(&mut store).await
                }
            }
        };
        let budget = host.limits.time;
        match tokio::time::timeout(budget.0, call).await {
            Ok(Ok(manifest)) => Ok(convert::manifest_from_wit(manifest)),
            Ok(Err(e)) => {
                let failure = super::invoke::classify_error(e, &store, host);
                Err(anyhow!("`describe` failed: {failure}"))
            }
            Err(_) => Err(anyhow!(
                "`describe` did not answer within its time budget of {budget}"
            )),
        }
    }
}

/// A component's imports must fit its grants: the configuration, not the
/// file, decides what a skill may do. WASI's filesystem, environment and
/// sockets are linked for every skill (Rust's std imports them) but give
/// nothing: no preopened folders, no variables, no addresses.
fn check_grants(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    source: &SkillSource,
) -> Result<()> {
    for (import, _) in component.component_type().imports(engine) {
        if import.starts_with("wasi:http/") && source.outbound.is_empty() {
            bail!(
                "it imports `{import}` (outbound HTTP), but skills.{}.allow.http grants no hosts: add the hosts it may call to configuration.yaml",
                source.name
            );
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
