//! The host side of the WIT imports, one file per interface. Each owns
//! what it is granted at load (`*Grant`, made once per skill from its
//! configuration, grants and limits), its state in one store (`*State`,
//! made per event from the grant) and its linking (`add_to_linker`, given
//! how to reach its state from the store's). `add_to_linker` here offers
//! them all, with WASI p2 and `wasi:http`, to every skill.

pub mod chat;
pub mod config;
pub mod log;
pub mod memory;
pub mod wasi;

use super::store::State;
use wasmtime::component::Linker;

/// Adds every interface a skill may import. Both skill worlds import the
/// same interfaces, so one linker serves both.
pub fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    let err = |e: wasmtime::Error| anyhow::anyhow!("{e:#}");
    wasi::add_to_linker(linker).map_err(err)?;
    chat::add_to_linker(linker, |state| &mut state.chat).map_err(err)?;
    memory::add_to_linker(linker, |state| &mut state.memory).map_err(err)?;
    config::add_to_linker(linker, |state| &mut state.config).map_err(err)?;
    log::add_to_linker(linker, |state| &mut state.log).map_err(err)
}
