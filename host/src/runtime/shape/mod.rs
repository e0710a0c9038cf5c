//! Static "shape" of a WebAssembly component: how many core instances, linear
//! memories, tables and nested component instances ONE instantiation creates,
//! computed from the binary alone so a skill can be refused (with the count in
//! the reason) before it is compiled or wasmtime allocates anything for it.
//! [`check`] applies the bounds every skill must fit; the instance pool is
//! sized from the same bounds, so no skill can take more of it than planned.
//!
//! # How it works
//!
//! The binary is parsed once (with [`wasmparser::Parser::parse_all`], which
//! yields nested modules' and components' payloads inline between their
//! `ModuleSection`/`ComponentSection` and `End`) into a small tree: for every
//! component, the ordered list of definitions that touch the three index
//! spaces that matter here (core modules, components, component instances).
//! That tree is then *interpreted*: instantiating a component walks its
//! definitions in order, exactly as the component model's index spaces grow,
//! so that
//!
//! * core modules from a module section, an import, `alias outer`, an alias of
//!   an instance's export, or an `export` all take the next core module index;
//! * components likewise (component section, import, `alias outer`, alias of
//!   an instance export, `export`);
//! * a nested component's imports are bound to the arguments its parent
//!   instantiates it `with`, so a module handed down to a child is known there;
//! * `alias outer` sees only what the enclosing component had defined *before*
//!   the nested component (the spec's rule), via a captured `ScopeRef`.
//!
//! What is counted: each core `instantiate` (not `from exports` bags) adds one
//! core instance plus the memories and tables that module *defines* (imported
//! ones belong to another instance and are counted there, or are host-owned);
//! each component `instantiate` adds one nested component instance plus
//! everything that instantiation creates, recursively. The top-level component
//! itself is not included in `components`. A component or module that is
//! defined but never instantiated counts 0.
//!
//! # Unknown shapes are errors
//!
//! If a core module or component whose contents cannot be known is
//! instantiated — one imported by the top-level component (the host could
//! supply anything), or aliased from an imported instance — [`shape`] returns
//! `Err`. This fails closed: a caller enforcing limits refuses such a skill
//! rather than trusting a guess. Merely importing one without instantiating it
//! is fine.
//!
//! # Hostile input
//!
//! Nothing here panics, recurses unboundedly or loops on untrusted bytes:
//! nesting deeper than [`MAX_NESTING`] is refused (both lexically and for
//! instantiation chains), counts are `u64` with saturating arithmetic and are
//! clamped to `u32::MAX` ("at least this many") on the way out, repeated
//! instantiation of a child whose result cannot depend on its arguments is
//! memoised (so a 2×2×…×2 fan-out 32 levels deep costs 32 steps, not 2^32),
//! and all interpretation draws on a fixed work budget ([`WORK_BUDGET`]) so a
//! fan-out that defeats the memo ends in `Err`, not a hang. The input is not
//! validated: on a valid component the counts are exact; on an invalid one
//! the result is either an `Err` or some finite numbers, and wasmtime will
//! reject the binary anyway.

//! The parts: `parse` (bytes to a tree of definitions), `interpret`
//! (instantiating the tree, counting), `tests`.

mod interpret;
mod parse;
#[cfg(test)]
mod tests;

use interpret::{Closure, Evaluator};
use parse::parse;
use std::collections::HashMap;

/// Core module instances one skill may create per event. Real skills here
/// create 3 (Rust), 4 (C, JavaScript) or 14 (Python: its dynamically
/// linked libraries).
pub const MAX_CORE_INSTANCES: u32 = 32;
/// Linear memories one skill may create per event (every real skill: 1).
pub const MAX_MEMORIES: u32 = 4;
/// Tables one skill may create per event (every real skill: 2).
pub const MAX_TABLES: u32 = 8;

/// Why a component failed [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The binary is broken: it would not compile either.
    Malformed(String),
    /// It creates more than a skill may, or more than can be counted.
    OverBound(String),
}

/// Checks `component` against the bounds above.
pub fn check(component: &[u8]) -> Result<(), Refused> {
    let s = shape(component).map_err(|e| {
        if e.starts_with("malformed") || e.starts_with("not a component") {
            Refused::Malformed(e)
        } else {
            Refused::OverBound(format!(
                "its structure is beyond what a skill may have: {e}"
            ))
        }
    })?;
    let over = |what: &str, n: u32, max: u32| {
        (n > max).then(|| {
            format!("it would create {n} {what} per event; a skill may have at most {max}")
        })
    };
    match over("core instances", s.core_instances, MAX_CORE_INSTANCES)
        .or_else(|| over("linear memories", s.memories, MAX_MEMORIES))
        .or_else(|| over("tables", s.tables, MAX_TABLES))
    {
        Some(reason) => Err(Refused::OverBound(reason)),
        None => Ok(()),
    }
}

/// Deepest nesting of modules/components inside the top-level component, and
/// longest chain of component instantiations, that [`shape`] accepts. Real
/// toolchains nest one or two levels.
pub const MAX_NESTING: usize = 32;

/// Upper bound on interpretation steps (one per definition visited, per
/// instantiation argument and per export). Real skills need a few hundred.
pub const WORK_BUDGET: u64 = 1_000_000;

/// What one instantiation of a component creates. Every field saturates at
/// `u32::MAX`, which then means "at least this many".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComponentShape {
    /// Core module instances created by `instantiate` (not `from exports`).
    pub core_instances: u32,
    /// Linear memories defined (not imported) by those instances.
    pub memories: u32,
    /// Tables defined (not imported) by those instances.
    pub tables: u32,
    /// Nested component instances created (the top-level one not included).
    pub components: u32,
}

/// Computes the [`ComponentShape`] of one instantiation of the component in
/// `bytes`. Errors for anything that is not a component binary, for malformed
/// or too deeply nested input, and when a module or component of unknown
/// contents (e.g. imported) would be instantiated.
pub fn shape(bytes: &[u8]) -> Result<ComponentShape, String> {
    let root = parse(bytes)?;
    let mut evaluator = Evaluator::default();
    let top = Closure {
        def: root,
        scope: None,
    };
    let outcome = evaluator.instantiate(&top, &HashMap::new(), 0)?;
    Ok(outcome.counts.to_shape())
}
