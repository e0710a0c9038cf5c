//! What one store (one event, or one `describe`) carries: each WIT
//! interface's own state (`host_api`), made from the grants the skill got
//! at load, and the memory and table bounds of the event. Making one is a
//! handful of reference-count increments; WASI's state is built only on the
//! store's first WASI call.

use super::host_api::chat::{ChatState, Reword};
use super::host_api::config::ConfigState;
use super::host_api::log::LogState;
use super::host_api::memory::MemoryState;
use super::host_api::wasi::WasiState;
use super::phase::Phase;
use super::skill_host::SkillHost;
use crate::event::{EventId, Origin};
use crate::limits::ByteSize;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

pub struct State {
    pub(super) chat: ChatState,
    pub(super) memory: MemoryState,
    pub(super) config: ConfigState,
    pub(super) log: LogState,
    pub(super) wasi: WasiState,
    pub(super) resources: ResourceCap,
}

impl State {
    pub fn new(skill: &SkillHost, phase: Phase) -> Self {
        State {
            chat: ChatState::new(skill.chat.clone(), phase),
            memory: MemoryState::new(skill.memory.clone(), phase),
            config: ConfigState::new(skill.config.clone()),
            log: LogState::new(skill.log.clone()),
            wasi: WasiState::new(skill.http.clone(), phase),
            resources: ResourceCap::new(skill.limits.memory),
        }
    }

    /// The grants refused so far in this event, by every interface.
    pub fn take_denials(&mut self) -> Vec<String> {
        let mut all = self.chat.take_denials();
        all.extend(self.config.take_denials());
        all.extend(self.wasi.take_denials());
        all
    }

    /// Readies a store (fresh or reused) for one event. `keep_answers`:
    /// what `respond` says is kept for the record, not delivered.
    pub fn begin_event(
        &mut self,
        id: Option<EventId>,
        origin: Option<Origin>,
        reword: Option<Reword>,
        keep_answers: bool,
    ) {
        self.chat.begin_event(id, origin, reword, keep_answers);
        self.memory.begin_event();
        self.take_denials();
    }

    /// What the skill wrote to stderr, as text.
    pub fn stderr_text(&self) -> String {
        self.wasi.stderr_text()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.wasi.http()
    }
}

/// What one event may allocate: the skill's memory limit holds for the sum
/// of all its instances' linear memories, not for each (a component of
/// sixteen instances would otherwise get sixteen times the limit), and table
/// elements are bounded the same way. It records that the limit was hit, so
/// the failure reads "out of memory" rather than a bare trap.
pub struct ResourceCap {
    limit: ByteSize,
    /// Bytes of linear memory all instances of this store hold now.
    memory: usize,
    /// Table elements all instances of this store hold now.
    table_elements: usize,
    pub exceeded: bool,
}

/// Table elements one event may hold across all its tables.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Memories, tables and core instances one store may create: what the
/// load-time shape check allows, and a backstop if it were wrong.
pub const MAX_MEMORIES: usize = super::shape::MAX_MEMORIES as usize;
pub const MAX_TABLES: usize = super::shape::MAX_TABLES as usize;
pub const MAX_INSTANCES: usize = super::shape::MAX_CORE_INSTANCES as usize;

impl ResourceCap {
    fn new(limit: ByteSize) -> Self {
        ResourceCap {
            limit,
            memory: 0,
            table_elements: 0,
            exceeded: false,
        }
    }

    /// `Some(limit)` once a growth was refused.
    pub fn exceeded(&self) -> Option<ByteSize> {
        self.exceeded.then_some(self.limit)
    }
}

impl ResourceLimiter for ResourceCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Called with `current == 0` when a memory is created, so the sum
        // counts every memory from its first page.
        let total = (self.memory - current.min(self.memory)).saturating_add(desired);
        if total as u64 > self.limit.0 {
            self.exceeded = true;
            wasmtime::bail!(
                "memory limit of {} bytes reached: this event's memories would hold {total}",
                self.limit.0
            );
        }
        self.memory = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total =
            (self.table_elements - current.min(self.table_elements)).saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
