//! What one store (one event, or one `describe`) carries for the host calls.

use crate::config::Limits;
use crate::connectors::Outboxes;
use crate::event::Origin;
use crate::memory::MemoryStore;
use std::sync::Arc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// How much of a skill's stderr (panic messages, mostly) is kept per event.
const STDERR_CAPACITY: usize = 8 << 10;

/// What a skill can reach, shared by all its events.
pub struct SkillHost {
    pub name: String,
    pub memory: Arc<dyn MemoryStore>,
    pub outboxes: Arc<Outboxes>,
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub limits: Limits,
}

pub struct State {
    pub(super) skill: Arc<SkillHost>,
    /// Where `respond` and `react` go; `None` during `describe` and for
    /// events that did not come from a room.
    pub(super) origin: Option<Origin>,
    pub(super) memory_cap: MemoryCap,
    /// WASI state, built on the first WASI call: many events make none,
    /// and building it is a sizeable share of a fresh instance's cost.
    wasi: Option<Wasi>,
}

struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
}

impl Wasi {
    fn new() -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // No arguments, environment, preopened folders or sockets: only
        // clocks, random numbers and a captured stderr.
        let ctx = WasiCtx::builder().stderr(stderr.clone()).build();
        Wasi {
            ctx,
            table: ResourceTable::new(),
            stderr,
        }
    }
}

impl State {
    pub fn new(skill: Arc<SkillHost>, origin: Option<Origin>) -> Self {
        let memory_cap = MemoryCap {
            max: skill.limits.memory.0 as usize,
            exceeded: false,
        };
        State {
            skill,
            origin,
            memory_cap,
            wasi: None,
        }
    }

    /// What the skill wrote to stderr, as text.
    pub fn stderr_text(&self) -> String {
        self.wasi
            .as_ref()
            .map(|w| String::from_utf8_lossy(&w.stderr.contents()).into_owned())
            .unwrap_or_default()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.wasi.get_or_insert_with(Wasi::new);
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

/// The per-skill memory limit. It records that the limit was hit, so the
/// failure can be reported as "out of memory" rather than a bare trap.
pub struct MemoryCap {
    max: usize,
    pub exceeded: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.exceeded = true;
            wasmtime::bail!(
                "memory limit of {} bytes reached (asked for {desired})",
                self.max
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
