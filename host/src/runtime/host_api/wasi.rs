//! WASI p2 and `wasi:http`: clocks, random numbers, a discarded stdout, a
//! captured and capped stderr, and outbound HTTP under the skill's
//! `allow.http` (`outbound_http`). No arguments, environment, preopened
//! folders or socket addresses (WasiCtx denies every address unless told
//! otherwise).
//!
//! The two share one resource table (HTTP bodies are WASI streams), so
//! they are one state. It is built on a store's first WASI call: many
//! events make none, and building it is a sizeable share of a fresh
//! instance's cost.

use crate::runtime::outbound_http::{HttpGrant, HttpHooks};
use crate::runtime::phase::Phase;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How much of a skill's stderr (panic messages, mostly) is kept per event.
const STDERR_CAPACITY: usize = 8 << 10;
/// Headers of one HTTP request or response, in memory.
const HTTP_HEADERS_LIMIT: usize = 64 << 10;

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

/// What a store's WASI calls reach, once built.
struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
    stderr: StderrTail,
    http: WasiHttpCtx,
    http_hooks: HttpHooks,
}

/// One store's WASI and `wasi:http`.
pub struct WasiState {
    grant: Arc<HttpGrant>,
    phase: Phase,
    built: Option<Wasi>,
}

impl WasiState {
    pub fn new(grant: Arc<HttpGrant>, phase: Phase) -> Self {
        WasiState {
            grant,
            phase,
            built: None,
        }
    }

    fn built(&mut self) -> &mut Wasi {
        let (grant, phase) = (&self.grant, self.phase);
        self.built.get_or_insert_with(|| {
            let stderr = StderrTail::default();
            let ctx = WasiCtx::builder().stderr(stderr.clone()).build();
            let mut http = WasiHttpCtx::new();
            http.set_field_size_limit(HTTP_HEADERS_LIMIT);
            Wasi {
                ctx,
                table: ResourceTable::new(),
                stderr,
                http,
                http_hooks: HttpHooks::new(grant.clone(), phase == Phase::Describe),
            }
        })
    }

    /// Requests refused so far.
    pub fn take_denials(&self) -> Vec<String> {
        self.built
            .as_ref()
            .map(|w| w.http_hooks.take_denials())
            .unwrap_or_default()
    }

    /// What the skill wrote to stderr, as text.
    pub fn stderr_text(&self) -> String {
        self.built
            .as_ref()
            .map(|w| w.stderr.text())
            .unwrap_or_default()
    }

    pub fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.built();
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }

    pub fn http(&mut self) -> WasiHttpCtxView<'_> {
        let wasi = self.built();
        WasiHttpCtxView {
            ctx: &mut wasi.http,
            table: &mut wasi.table,
            hooks: &mut wasi.http_hooks,
        }
    }
}

/// Links WASI p2 and `wasi:http` (whose use the skill's grants decide at
/// load and per request). The store's data reaches its [`WasiState`]
/// through its `WasiView` and `WasiHttpView`.
pub fn add_to_linker<T: WasiView + WasiHttpView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}
