//! sandbot: a ChatOps bot whose skills are sandboxed WebAssembly components.
//!
//! An event's path, front to back: `connectors` → `bot` (dispatcher) →
//! `matching` → `runtime` → a skill's `handle` → `runtime::host_api::chat` →
//! back out through the connector. `catalog` keeps the current skill set and
//! swaps it on reload; `memory` stores what skills remember.

pub mod app;
pub mod authoring;
pub mod bot;
pub mod catalog;
pub mod config;
pub mod connectors;
pub mod event;
pub mod logging;
pub mod manifest;
pub mod matching;
pub mod memory;
pub mod outbound;
pub mod runtime;
pub mod skilltest;
