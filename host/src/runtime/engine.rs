//! The one wasmtime `Engine` of the process, sized for what it must serve,
//! the thread that ticks its epoch, and `Runtime`: the engine, the linker,
//! the compile cache and the services, shared by every load and event.

use super::cache::CompileCache;
use super::host_api;
use super::shape;
use super::shared::SharedComponents;
use super::skill_host::Services;
use super::store::State;
use super::warm::MAX_IDLE_TOTAL;
use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

/// How often the epoch advances. A running skill yields to tokio at each
/// tick, so this bounds both how long it can hold a worker thread and how
/// late a time budget can be noticed.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Idle pool slots that keep their resident pages: enough for the skills
/// that are busy now, without one warm slot per loaded skill.
const MAX_WARM_SLOTS: u32 = 32;

/// The largest linear memory any skill can have; per-skill limits are lower.
pub const MAX_MEMORY: usize = 256 << 20;

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where compiled skills are cached; `None` turns the cache off.
    pub cache_dir: Option<PathBuf>,
    /// Skill executions (instances) alive at once; more wait for a place.
    /// The instance pool is sized from it, so no mix of skills can run it dry.
    pub max_in_flight: usize,
}

impl Options {
    /// As the configuration's `runtime:` section says.
    pub fn as_configured(config: &crate::config::Config) -> Options {
        Options {
            cache_dir: config.runtime.compile_cache.then(|| config.cache_dir()),
            max_in_flight: config.runtime.max_in_flight,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_dir: None,
            max_in_flight: 256,
        }
    }
}

pub struct Runtime {
    pub(super) engine: Engine,
    pub(super) linker: Linker<State>,
    pub(super) cache: Arc<CompileCache>,
    pub(super) services: Services,
    /// Compiled forms of the loaded skills, shared by identical bytes.
    pub(super) shared: SharedComponents,
    /// One compilation at a time (see `load::COMPILE_TIMEOUT`).
    pub(super) compiling: tokio::sync::Mutex<()>,
    /// A place in the instance pool per live store: every store takes one,
    /// so the pool, sized for all of them, never runs out.
    pub(super) slots: tokio::sync::Semaphore,
    /// Off only to measure what the limits cost (`make bench`).
    pub(super) enforce_limits: bool,
}

impl Runtime {
    pub fn new(options: Options, services: Services) -> Result<Self> {
        let slots = options.max_in_flight.max(1);
        let engine = build(slots)?;
        start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        host_api::add_to_linker(&mut linker)?;
        let cache = Arc::new(CompileCache::new(&engine, options.cache_dir.as_deref()));
        Ok(Runtime {
            engine,
            linker,
            cache,
            services,
            shared: SharedComponents::default(),
            compiling: tokio::sync::Mutex::new(()),
            slots: tokio::sync::Semaphore::new(slots),
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

    /// Bounds the compile cache now that `in_use` (sha256s) are the skills
    /// loaded; off the async workers, since it lists and removes files.
    pub async fn prune_cache(&self, in_use: std::collections::HashSet<String>) {
        let cache = self.cache.clone();
        let _ = tokio::task::spawn_blocking(move || cache.prune(&in_use)).await;
    }

    /// How many compiled skills the cache holds.
    pub fn cache_entries(&self) -> usize {
        self.cache.entries()
    }

    /// A store for one event: memory capped by the skill's limit, and an
    /// epoch deadline that yields to tokio at every tick so a busy skill
    /// never holds a worker thread (the time budget itself is a tokio timeout).
    pub(super) fn new_store(&self, state: State) -> Store<State> {
        let mut store = Store::new(&self.engine, state);
        if !self.enforce_limits {
            // Far enough never to arrive (not u64::MAX: it is added to the
            // current epoch).
            store.set_epoch_deadline(u64::MAX / 2);
            return store;
        }
        store.limiter(|state| &mut state.resources);
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

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// The instance pool, sized so that `slots` live stores plus the idle
/// reusable instances can each hold the largest skill the shape check lets
/// load. Small guest stacks plus keep-resident turn per-event page faults
/// and madvise into a short memset (see ../shared/notes/toolchains.md).
fn pooling(slots: usize) -> PoolingAllocationConfig {
    let places = (slots + MAX_IDLE_TOTAL + 2) as u32;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(places)
        .total_core_instances(places * shape::MAX_CORE_INSTANCES)
        .total_memories(places * shape::MAX_MEMORIES)
        .total_tables(places * shape::MAX_TABLES)
        .total_stacks(places)
        .max_memory_size(MAX_MEMORY)
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(4 << 20)
        .max_memories_per_component(shape::MAX_MEMORIES)
        .max_tables_per_component(shape::MAX_TABLES)
        .max_core_instances_per_component(shape::MAX_CORE_INSTANCES)
        .table_elements(100_000)
        // A used slot keeps its pages (and the skill's memory image) for the
        // next instance of the same skill; only this many idle ones stay so.
        .max_unused_warm_slots(MAX_WARM_SLOTS)
        .linear_memory_keep_resident(256 << 10)
        .table_keep_resident(64 << 10);
    pool
}

/// Builds the engine: pooling allocation when the address space for it can
/// be reserved, on-demand allocation otherwise (a `ulimit -v`, say).
fn build(slots: usize) -> Result<Engine> {
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(slots)));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::warn!(error = %e, "the pooling allocator is unavailable; allocating instances on demand");
            let mut config = base_config();
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config).map_err(|e| anyhow::anyhow!("creating the wasm engine: {e}"))
        }
    }
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("sandbot-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}
