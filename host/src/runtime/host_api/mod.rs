//! The host side of the WIT imports, one file per interface, and the linker
//! that offers them (with WASI p2 and `wasi:http`) to every skill.

mod chat;
mod config;
mod log;
mod memory;

use super::bindings::{AsyncSkill, wit};
use super::store::State;
use wasmtime::component::{HasSelf, Linker};

impl wit::Host for State {}

/// Adds every interface a skill may import: sandbot's own, WASI p2 and
/// `wasi:http` (whose use the skill's grants decide at load and per request).
pub fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    let err = |e: wasmtime::Error| anyhow::anyhow!("{e:#}");
    wasmtime_wasi::p2::add_to_linker_async(linker).map_err(err)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker).map_err(err)?;
    // Both skill worlds import the same interfaces, so one call serves both.
    AsyncSkill::add_to_linker::<State, HasSelf<State>>(linker, |state| state).map_err(err)
}
