//! What one store (one event, or one `describe`) carries for the host calls:
//! the skill's shared context, where answers go, what this event has used so
//! far (messages, memory), and WASI state built lazily on the first WASI call.

use super::outbound_http::HttpHooks;
use super::skill_host::SkillHost;
use crate::event::{EventId, Origin, Response};
use crate::limits::ByteSize;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How much of a skill's stderr (panic messages, mostly) is kept per event.
const STDERR_CAPACITY: usize = 8 << 10;

/// A skill's stderr: every write succeeds, and only the last
/// `STDERR_CAPACITY` bytes are kept, so a flood costs the host nothing and a
/// panic message printed after it is still there to report.
#[derive(Clone, Default)]
struct StderrTail {
    buf: Arc<Mutex<VecDeque<u8>>>,
}

impl StderrTail {
    fn text(&self) -> String {
        let buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = buf.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).into_owned()
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        let keep = &bytes[bytes.len().saturating_sub(STDERR_CAPACITY)..];
        let overflow = (buf.len() + keep.len()).saturating_sub(STDERR_CAPACITY);
        buf.drain(..overflow);
        buf.extend(keep);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What the store is running: `describe` at load gets no chat, no outbound
/// calls and no memory writes (it must not act before anyone asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Describe,
    Handle,
}

/// Rewrites each answer `respond` gives (an operator alias's `result`
/// template; see `invoke::Call::reword`).
pub type Reword = std::sync::Arc<dyn Fn(String) -> String + Send + Sync>;

pub struct State {
    pub(super) skill: Arc<SkillHost>,
    pub(super) phase: Phase,
    /// Where `respond` and `react` go; `None` during `describe` and for
    /// events that did not come from a room.
    pub(super) origin: Option<Origin>,
    /// The event is a webhook request: `respond` answers its HTTP caller.
    pub(super) answers_http: bool,
    /// The event being handled, which answers name.
    pub(super) event_id: Option<EventId>,
    /// Rewrites what `respond` says, for this event (`Call::reword`).
    pub(super) reword: Option<Reword>,
    pub(super) resources: ResourceCap,
    /// Messages sent so far in this event (capped by `limits.responses`).
    pub(super) messages_sent: u32,
    /// The messages this event sent, for its execution record.
    pub(super) sent: Vec<Response>,
    /// Grants refused during this event, for its execution record.
    pub(super) denials: Vec<String>,
    /// What the skill gave `chat.set-result` in this event, parsed.
    pub(super) structured: Option<serde_json::Value>,
    /// WASI state, built on the first WASI call: many events make none,
    /// and building it is a sizeable share of a fresh instance's cost.
    wasi: Option<Wasi>,
}

struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
    stderr: StderrTail,
    http: WasiHttpCtx,
    http_hooks: HttpHooks,
}

impl Wasi {
    fn new(skill: &Arc<SkillHost>, phase: Phase) -> Self {
        let stderr = StderrTail::default();
        // No arguments, environment, preopened folders or socket addresses
        // (WasiCtx denies every address unless told otherwise): only clocks,
        // random numbers, a discarded stdout and a captured, capped stderr.
        let ctx = WasiCtx::builder().stderr(stderr.clone()).build();
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(HTTP_HEADERS_LIMIT);
        Wasi {
            ctx,
            table: ResourceTable::new(),
            stderr,
            http,
            http_hooks: HttpHooks::new(skill.clone(), phase == Phase::Describe),
        }
    }
}

/// Headers of one HTTP request or response, in memory.
const HTTP_HEADERS_LIMIT: usize = 64 << 10;

impl State {
    pub fn new(skill: Arc<SkillHost>, phase: Phase) -> Self {
        let resources = ResourceCap::new(skill.limits.memory);
        State {
            skill,
            phase,
            origin: None,
            answers_http: false,
            event_id: None,
            reword: None,
            resources,
            messages_sent: 0,
            sent: Vec::new(),
            denials: Vec::new(),
            structured: None,
            wasi: None,
        }
    }

    /// Records a refused grant for the execution record (and returns it).
    pub(super) fn deny(&mut self, what: String) -> String {
        self.denials.push(what.clone());
        what
    }

    /// The grants refused so far, the HTTP ones included.
    pub fn take_denials(&mut self) -> Vec<String> {
        let mut all = std::mem::take(&mut self.denials);
        if let Some(wasi) = &self.wasi {
            all.extend(wasi.http_hooks.take_denials());
        }
        all
    }

    /// Readies a store (fresh or reused) for one event.
    pub fn begin_event(
        &mut self,
        id: Option<EventId>,
        origin: Option<Origin>,
        reword: Option<Reword>,
    ) {
        self.phase = Phase::Handle;
        self.event_id = id;
        self.reword = reword;
        self.origin = origin;
        self.messages_sent = 0;
        self.sent.clear();
        self.structured = None;
        self.take_denials();
    }

    /// What the skill wrote to stderr, as text.
    pub fn stderr_text(&self) -> String {
        self.wasi
            .as_ref()
            .map(|w| w.stderr.text())
            .unwrap_or_default()
    }

    fn wasi(&mut self) -> &mut Wasi {
        let (skill, phase) = (&self.skill, self.phase);
        self.wasi.get_or_insert_with(|| Wasi::new(skill, phase))
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.wasi();
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let wasi = self.wasi();
        WasiHttpCtxView {
            ctx: &mut wasi.http,
            table: &mut wasi.table,
            hooks: &mut wasi.http_hooks,
        }
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
