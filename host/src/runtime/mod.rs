//! Running skills: the engine, loading and checking components, and one
//! fresh store and instance per event.

pub mod bindings;
mod cache;
mod convert;
mod engine;
mod host_api;
mod invoke;
mod skill;
mod state;

pub use cache::Compiled;
pub use engine::EPOCH_TICK;
pub use invoke::Failure;
pub use skill::{LoadedSkill, SkillSource, World};
pub use state::SkillHost;

use crate::connectors::Outboxes;
use crate::memory::MemoryStore;
use anyhow::Result;
use cache::CompileCache;
use state::State;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, UpdateDeadline};

/// What host calls reach outside the store.
#[derive(Clone)]
pub struct Services {
    pub memory: Arc<dyn MemoryStore>,
    pub outboxes: Arc<Outboxes>,
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    cache: Arc<CompileCache>,
    services: Services,
    /// One compilation at a time (see `skill::COMPILE_TIMEOUT`).
    compiling: tokio::sync::Mutex<()>,
    /// Off only to measure what the limits cost (`make bench`).
    enforce_limits: bool,
}

impl Runtime {
    /// `cache_dir: None` turns the compilation cache off.
    pub fn new(cache_dir: Option<&Path>, services: Services) -> Result<Self> {
        let engine = engine::build()?;
        engine::start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        host_api::add_to_linker(&mut linker)?;
        let cache = Arc::new(CompileCache::new(&engine, cache_dir));
        Ok(Runtime {
            engine,
            linker,
            cache,
            services,
            compiling: tokio::sync::Mutex::new(()),
            enforce_limits: true,
        })
    }

    /// Runs events with no time budget, memory cap or epoch yields: for
    /// benchmarks that measure what the limits cost, never for skills.
    #[doc(hidden)]
    pub fn without_limits_for_benchmarks(mut self) -> Self {
        self.enforce_limits = false;
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A store for one event: memory capped by the skill's limit, and an
    /// epoch deadline that yields to tokio at every tick so a busy skill
    /// never holds a worker thread (the time budget itself is a tokio timeout).
    fn new_store(&self, state: State) -> Store<State> {
        let mut store = Store::new(&self.engine, state);
        if !self.enforce_limits {
            // Far enough never to arrive (not u64::MAX: it is added to the
            // current epoch).
            store.set_epoch_deadline(u64::MAX / 2);
            return store;
        }
        store.limiter(|state| &mut state.memory_cap);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| {
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        store
    }
}
