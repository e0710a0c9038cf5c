//! What one store (one event, or one `describe`) carries for the host calls.

use super::Services;
use super::host_api::{HttpHooks, LogLimiter};
use super::skill::SkillSource;
use crate::config::Limits;
use crate::connectors::Outboxes;
use crate::event::Origin;
use crate::memory::MemoryStore;
use crate::outbound::OutboundPolicy;
use indexmap::IndexMap;
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

/// What a skill can reach, shared by all its events.
pub struct SkillHost {
    pub name: String,
    pub memory: Arc<dyn MemoryStore>,
    pub outboxes: Arc<Outboxes>,
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub secrets: IndexMap<String, String>,
    pub withheld_secrets: Vec<String>,
    pub outbound: OutboundPolicy,
    pub limits: Limits,
    /// Shared by the skill's events: the rate is per skill, not per event.
    pub(super) log_limiter: LogLimiter,
}

impl SkillHost {
    pub(super) fn new(source: &SkillSource, services: &Services) -> Self {
        SkillHost {
            name: source.name.clone(),
            memory: services.memory.clone(),
            outboxes: services.outboxes.clone(),
            settings: source.settings.clone(),
            secrets: source.secrets.clone(),
            withheld_secrets: source.withheld_secrets.clone(),
            outbound: source.outbound.clone(),
            limits: source.limits,
            log_limiter: LogLimiter::default(),
        }
    }
}

pub struct State {
    pub(super) skill: Arc<SkillHost>,
    /// Where `respond` and `react` go; `None` during `describe` and for
    /// events that did not come from a room.
    pub(super) origin: Option<Origin>,
    pub(super) memory_cap: MemoryCap,
    /// Messages sent so far in this event (capped by `limits.responses`).
    pub(super) messages_sent: u32,
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
    fn new(skill: &Arc<SkillHost>) -> Self {
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
            http_hooks: HttpHooks::new(skill.clone()),
        }
    }
}

/// Headers of one HTTP request or response, in memory.
const HTTP_HEADERS_LIMIT: usize = 64 << 10;

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
            messages_sent: 0,
            wasi: None,
        }
    }

    /// What the skill wrote to stderr, as text.
    pub fn stderr_text(&self) -> String {
        self.wasi
            .as_ref()
            .map(|w| w.stderr.text())
            .unwrap_or_default()
    }
}

impl State {
    fn wasi(&mut self) -> &mut Wasi {
        let skill = &self.skill;
        self.wasi.get_or_insert_with(|| Wasi::new(skill))
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
