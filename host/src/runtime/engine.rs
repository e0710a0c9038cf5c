//! The one wasmtime `Engine` of the process and the thread that ticks its epoch.

use anyhow::Result;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A running skill yields to tokio at each
/// tick, so this bounds both how long it can hold a worker thread and how
/// late a time budget can be noticed.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest linear memory any skill can have; per-skill limits are lower.
pub const MAX_MEMORY: usize = 256 << 20;

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// Sizes that fit every guest toolchain measured here (Rust, C, Python, JS;
/// see ../shared/notes/toolchains.md). Small guest stacks plus keep-resident
/// turn per-event page faults and madvise into a short memset.
fn pooling() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(1000)
        .total_core_instances(2000)
        .total_memories(400)
        .total_tables(2000)
        .total_stacks(1000)
        .max_memory_size(MAX_MEMORY)
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(4 << 20)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_core_instances_per_component(64)
        .table_elements(100_000)
        .linear_memory_keep_resident(256 << 10)
        .table_keep_resident(64 << 10);
    pool
}

/// Builds the engine: pooling allocation when the address space for it can
/// be reserved, on-demand allocation otherwise (a `ulimit -v`, say).
pub fn build() -> Result<Engine> {
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling()));
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
pub fn start_epoch_ticker(engine: &Engine) {
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
