//! The one place that knows a skill comes in two worlds: `skill`, whose
//! `handle` is a component-model `async func`, and `skill-sync`, whose
//! `handle` is a plain func (for toolchains that cannot export async yet).
//! Everything else asks this module to instantiate, describe and handle.

use super::bindings::{AsyncSkill, AsyncSkillPre, SkillSync, SkillSyncPre, wit};
use super::convert::WitSetting;
use super::store::State;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::Store;
use wasmtime::component::TypedFunc;

/// Which of the two skill worlds a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `sandbot:skill/skill`, with an async `handle`.
    Async,
    /// `sandbot:skill/skill-sync`, with a plain `handle`.
    Sync,
}

/// A skill ready to instantiate: linked and type-checked once at load.
pub struct Pre {
    world: WorldPre,
    /// An instance's exports were typechecked: the same for every instance
    /// of this `InstancePre`, so later ones skip it (see
    /// `AsyncSkillPre::instantiate_checked_async`).
    checked: AtomicBool,
}

enum WorldPre {
    Async(AsyncSkillPre<State>),
    Sync(SkillSyncPre<State>),
}

/// One instance of a skill, living in one store.
pub enum Instance {
    Async(AsyncSkill),
    Sync(SkillSync),
}

impl Pre {
    /// Tells the worlds apart by the type of the `handle` export.
    pub fn new(
        pre: wasmtime::component::InstancePre<State>,
    ) -> Result<(Pre, World), wasmtime::Error> {
        let (world, kind) = match AsyncSkillPre::new(pre.clone()) {
            Ok(p) => (WorldPre::Async(p), World::Async),
            Err(async_err) => match SkillSyncPre::new(pre) {
                Ok(p) => (WorldPre::Sync(p), World::Sync),
                Err(_) => return Err(async_err),
            },
        };
        let checked = AtomicBool::new(false);
        Ok((Pre { world, checked }, kind))
    }

    pub async fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Instance> {
        if !self.checked.load(Ordering::Acquire) {
            let instance = match &self.world {
                WorldPre::Async(pre) => Instance::Async(pre.instantiate_async(store).await?),
                WorldPre::Sync(pre) => Instance::Sync(pre.instantiate_async(store).await?),
            };
            self.checked.store(true, Ordering::Release);
            return Ok(instance);
        }
        // SAFETY: `checked` is set only after `instantiate_async` (which
        // typechecks) succeeded on this same `InstancePre`.
        Ok(unsafe {
            match &self.world {
                WorldPre::Async(pre) => {
                    Instance::Async(pre.instantiate_checked_async(store).await?)
                }
                WorldPre::Sync(pre) => Instance::Sync(pre.instantiate_checked_async(store).await?),
            }
        })
    }

    /// Instantiates, keeping the component instance too: `describe` also
    /// looks up the exports the bound worlds do not require ([`Settings`]).
    pub async fn instantiate_open(
        &self,
        store: &mut Store<State>,
    ) -> wasmtime::Result<(Instance, wasmtime::component::Instance)> {
        let instance = match &self.world {
            WorldPre::Async(pre) => {
                let raw = pre.instance_pre().instantiate_async(&mut *store).await?;
                (Instance::Async(AsyncSkill::new(&mut *store, &raw)?), raw)
            }
            WorldPre::Sync(pre) => {
                let raw = pre.instance_pre().instantiate_async(&mut *store).await?;
                (Instance::Sync(SkillSync::new(&mut *store, &raw)?), raw)
            }
        };
        // `new` typechecked the exports.
        self.checked.store(true, Ordering::Release);
        Ok(instance)
    }
}

/// The `settings` export of worlds `skill-with-settings` and
/// `skill-sync-with-settings`. The bot binds `skill` and `skill-sync`,
/// which do not have it, so a skill built before it existed still loads;
/// it is looked up by name instead.
pub enum Settings {
    /// The skill does not export it: it declares nothing.
    Absent,
    Export(TypedFunc<(), (Option<Vec<WitSetting>>,)>),
    /// It exports something of that name that is not `func() ->
    /// option<list<setting>>`.
    WrongType(String),
}

impl Settings {
    pub fn find(raw: &wasmtime::component::Instance, store: &mut Store<State>) -> Settings {
        if raw
            .get_export_index(&mut *store, None, "settings")
            .is_none()
        {
            return Settings::Absent;
        }
        match raw.get_typed_func(&mut *store, "settings") {
            Ok(f) => Settings::Export(f),
            Err(e) => Settings::WrongType(format!("{e:#}")),
        }
    }
}

impl Instance {
    pub async fn describe(&self, store: &mut Store<State>) -> wasmtime::Result<wit::Manifest> {
        match self {
            Instance::Async(skill) => skill.call_describe(store).await,
            Instance::Sync(skill) => skill.call_describe(store).await,
        }
    }

    /// Calls `handle`; the outer error is a trap, the inner one the skill's own.
    pub async fn handle(
        &self,
        store: &mut Store<State>,
        event: wit::Event,
        matcher_id: &str,
        captures: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Instance::Async(skill) => {
                let (id, captures) = (matcher_id.to_owned(), captures.to_vec());
                store
                    .run_concurrent(async |accessor| {
                        skill.call_handle(accessor, event, id, captures).await
                    })
                    .await?
            }
            Instance::Sync(skill) => {
                skill
                    .call_handle(store, &event, matcher_id, &captures.to_vec())
                    .await
            }
        }
    }
}
