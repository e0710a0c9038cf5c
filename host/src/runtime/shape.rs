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

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::rc::Rc;

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Encoding, Instance, Parser, Payload,
};

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

// ---------------------------------------------------------------------------
// Parsing: bytes -> tree of component definitions.
// ---------------------------------------------------------------------------

/// The index spaces this analysis tracks. Funcs, values, types and core
/// instances cannot change what gets instantiated, so they are not modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Module,
    Component,
    Instance,
}

impl Sort {
    fn of(kind: ComponentExternalKind) -> Option<Sort> {
        match kind {
            ComponentExternalKind::Module => Some(Sort::Module),
            ComponentExternalKind::Component => Some(Sort::Component),
            ComponentExternalKind::Instance => Some(Sort::Instance),
            ComponentExternalKind::Func
            | ComponentExternalKind::Value
            | ComponentExternalKind::Type => None,
        }
    }

    fn unknown(self) -> Value {
        match self {
            Sort::Module => Value::Module(None),
            Sort::Component => Value::Component(None),
            Sort::Instance => Value::Instance(None),
        }
    }
}

/// What a core module defines for itself.
#[derive(Debug, Default)]
struct ModuleInfo {
    memories: u64,
    tables: u64,
}

/// A named reference into one of the tracked index spaces: an instantiation
/// argument, an entry of a `from exports` bag, or an export.
#[derive(Debug)]
struct Item {
    name: Box<str>,
    sort: Sort,
    index: u32,
}

/// One definition of a component, in binary order.
#[derive(Debug)]
enum Op {
    DefineModule(Rc<ModuleInfo>),
    DefineComponent(Rc<ComponentDef>),
    Import {
        name: Box<str>,
        sort: Sort,
    },
    AliasOuter {
        sort: Sort,
        count: u32,
        index: u32,
    },
    AliasExport {
        sort: Sort,
        instance: u32,
        name: Box<str>,
    },
    CoreInstantiate {
        module: u32,
    },
    Instantiate {
        component: u32,
        args: Vec<Item>,
    },
    InstanceFromExports(Vec<Item>),
    Export(Item),
}

#[derive(Debug, Default)]
struct ComponentDef {
    ops: Vec<Op>,
    /// Whether any import is a module, component or instance: only then can
    /// the arguments change what an instantiation creates (memo key).
    args_matter: bool,
}

/// A module or component whose `End` has not been seen yet.
enum Open {
    Component(ComponentDef),
    Module(ModuleInfo),
}

fn malformed(e: wasmparser::BinaryReaderError) -> String {
    format!("malformed component: {e}")
}

fn parse(bytes: &[u8]) -> Result<Rc<ComponentDef>, String> {
    let mut stack: Vec<Open> = Vec::new();
    // A nested module/component is pushed on its section; its own `Version`
    // payload follows and must agree with what was pushed.
    let mut awaiting_version = false;

    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(malformed)?;

        if let Payload::Version { encoding, .. } = payload {
            let expected = match stack.last() {
                None => {
                    if encoding != Encoding::Component {
                        return Err("not a component: this is a core WebAssembly module".into());
                    }
                    stack.push(Open::Component(ComponentDef::default()));
                    continue;
                }
                Some(Open::Component(_)) => Encoding::Component,
                Some(Open::Module(_)) => Encoding::Module,
            };
            if !awaiting_version || encoding != expected {
                return Err("malformed component: unexpected header".into());
            }
            awaiting_version = false;
            continue;
        }

        let Some(top) = stack.last_mut() else {
            return Err("malformed component: data after the end".into());
        };

        match (top, payload) {
            (Open::Module(info), Payload::MemorySection(reader)) => {
                // Count real entries rather than trusting the declared count:
                // the input is not validated.
                for memory in reader {
                    memory.map_err(malformed)?;
                    info.memories = info.memories.saturating_add(1);
                }
            }
            (Open::Module(info), Payload::TableSection(reader)) => {
                for table in reader {
                    table.map_err(malformed)?;
                    info.tables = info.tables.saturating_add(1);
                }
            }
            (Open::Component(_), Payload::ModuleSection { .. }) => {
                push_nested(&mut stack, Open::Module(ModuleInfo::default()))?;
                awaiting_version = true;
            }
            (Open::Component(_), Payload::ComponentSection { .. }) => {
                push_nested(&mut stack, Open::Component(ComponentDef::default()))?;
                awaiting_version = true;
            }
            (Open::Component(def), Payload::ComponentImportSection(reader)) => {
                for import in reader {
                    let import = import.map_err(malformed)?;
                    let sort = match import.ty {
                        ComponentTypeRef::Module(_) => Sort::Module,
                        ComponentTypeRef::Component(_) => Sort::Component,
                        ComponentTypeRef::Instance(_) => Sort::Instance,
                        ComponentTypeRef::Func(_)
                        | ComponentTypeRef::Value(_)
                        | ComponentTypeRef::Type(_) => continue,
                    };
                    def.args_matter = true;
                    let name = import.name.name.into();
                    def.ops.push(Op::Import { name, sort });
                }
            }
            (Open::Component(def), Payload::ComponentAliasSection(reader)) => {
                for alias in reader {
                    match alias.map_err(malformed)? {
                        ComponentAlias::InstanceExport {
                            kind,
                            instance_index,
                            name,
                        } => {
                            if let Some(sort) = Sort::of(kind) {
                                def.ops.push(Op::AliasExport {
                                    sort,
                                    instance: instance_index,
                                    name: name.into(),
                                });
                            }
                        }
                        ComponentAlias::Outer { kind, count, index } => {
                            let sort = match kind {
                                ComponentOuterAliasKind::CoreModule => Sort::Module,
                                ComponentOuterAliasKind::Component => Sort::Component,
                                ComponentOuterAliasKind::CoreType
                                | ComponentOuterAliasKind::Type => continue,
                            };
                            def.ops.push(Op::AliasOuter { sort, count, index });
                        }
                        // Core instance exports are funcs/tables/memories/
                        // globals/tags: aliasing one creates nothing.
                        ComponentAlias::CoreInstanceExport { .. } => {}
                    }
                }
            }
            (Open::Component(def), Payload::InstanceSection(reader)) => {
                for instance in reader {
                    match instance.map_err(malformed)? {
                        Instance::Instantiate { module_index, .. } => {
                            def.ops.push(Op::CoreInstantiate {
                                module: module_index,
                            });
                        }
                        // A bag of existing items: no new instance state.
                        Instance::FromExports(_) => {}
                    }
                }
            }
            (Open::Component(def), Payload::ComponentInstanceSection(reader)) => {
                for instance in reader {
                    match instance.map_err(malformed)? {
                        ComponentInstance::Instantiate {
                            component_index,
                            args,
                        } => {
                            let args = args
                                .iter()
                                .filter_map(|a| {
                                    Some(Item {
                                        name: a.name.into(),
                                        sort: Sort::of(a.kind)?,
                                        index: a.index,
                                    })
                                })
                                .collect();
                            def.ops.push(Op::Instantiate {
                                component: component_index,
                                args,
                            });
                        }
                        ComponentInstance::FromExports(exports) => {
                            let items = exports
                                .iter()
                                .filter_map(|e| {
                                    Some(Item {
                                        name: e.name.name.into(),
                                        sort: Sort::of(e.kind)?,
                                        index: e.index,
                                    })
                                })
                                .collect();
                            // Always pushed, even if empty: it still takes an
                            // instance index.
                            def.ops.push(Op::InstanceFromExports(items));
                        }
                    }
                }
            }
            (Open::Component(def), Payload::ComponentExportSection(reader)) => {
                for export in reader {
                    let export = export.map_err(malformed)?;
                    // Exports take a fresh index in their sort's index space.
                    if let Some(sort) = Sort::of(export.kind) {
                        def.ops.push(Op::Export(Item {
                            name: export.name.name.into(),
                            sort,
                            index: export.index,
                        }));
                    }
                }
            }
            (_, Payload::End(_)) => {
                let Some(done) = stack.pop() else {
                    return Err("malformed component: unbalanced end".into());
                };
                let parent = match stack.last_mut() {
                    None => {
                        return match done {
                            Open::Component(def) => Ok(Rc::new(def)),
                            Open::Module(_) => Err("not a component".into()),
                        };
                    }
                    Some(Open::Component(parent)) => parent,
                    Some(Open::Module(_)) => {
                        return Err("malformed component: section nested in a module".into());
                    }
                };
                parent.ops.push(match done {
                    Open::Module(info) => Op::DefineModule(Rc::new(info)),
                    Open::Component(def) => Op::DefineComponent(Rc::new(def)),
                });
            }
            // A core module cannot contain modules or components; if the
            // parser ever yielded one, our stack would be wrong: refuse.
            (Open::Module(_), Payload::ModuleSection { .. } | Payload::ComponentSection { .. }) => {
                return Err("malformed component: section nested in a module".into());
            }
            // Types, canonical functions, start, custom sections, code, ...:
            // none of them creates instances, memories or tables.
            _ => {}
        }
    }
    Err("malformed component: truncated".into())
}

fn push_nested(stack: &mut Vec<Open>, open: Open) -> Result<(), String> {
    // `stack.len()` is the new item's nesting depth (the top level is 0).
    if stack.len() > MAX_NESTING {
        return Err(format!(
            "component nests modules/components deeper than {MAX_NESTING} levels"
        ));
    }
    stack.push(open);
    Ok(())
}

// ---------------------------------------------------------------------------
// Interpretation: instantiate the tree, counting what gets created.
// ---------------------------------------------------------------------------

/// Running totals. `u64` + saturation so that no fan-out can wrap around.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    core_instances: u64,
    memories: u64,
    tables: u64,
    components: u64,
}

impl Counts {
    fn add_module(&mut self, m: &ModuleInfo) {
        self.core_instances = self.core_instances.saturating_add(1);
        self.memories = self.memories.saturating_add(m.memories);
        self.tables = self.tables.saturating_add(m.tables);
    }

    fn add_component(&mut self, child: &Counts) {
        self.core_instances = self.core_instances.saturating_add(child.core_instances);
        self.memories = self.memories.saturating_add(child.memories);
        self.tables = self.tables.saturating_add(child.tables);
        // The child instance itself plus what it created inside.
        self.components = self
            .components
            .saturating_add(child.components)
            .saturating_add(1);
    }

    fn to_shape(self) -> ComponentShape {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        ComponentShape {
            core_instances: clamp(self.core_instances),
            memories: clamp(self.memories),
            tables: clamp(self.tables),
            components: clamp(self.components),
        }
    }
}

/// The part of an enclosing component's index spaces that a nested component
/// may see through `alias outer`: what existed when it was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ScopeRef {
    frame: usize,
    modules_len: usize,
    components_len: usize,
}

/// A component definition together with the scope it was defined in.
#[derive(Debug, Clone)]
struct Closure {
    def: Rc<ComponentDef>,
    scope: Option<ScopeRef>,
}

/// The value of one index-space entry; `None` inside means "contents unknown"
/// (imported from the host, or aliased out of something unknown).
#[derive(Debug, Clone)]
enum Value {
    Module(Option<Rc<ModuleInfo>>),
    Component(Option<Closure>),
    Instance(Option<Rc<Exports>>),
}

impl Value {
    fn sort(&self) -> Sort {
        match self {
            Value::Module(_) => Sort::Module,
            Value::Component(_) => Sort::Component,
            Value::Instance(_) => Sort::Instance,
        }
    }
}

/// The tracked exports of a known component instance.
#[derive(Debug, Default)]
struct Exports {
    items: HashMap<Box<str>, Value>,
    /// How many instances deep this value nests. Bounded so that dropping a
    /// long chain of `Rc<Exports>` cannot overflow the stack.
    depth: usize,
}

impl Exports {
    fn new(items: HashMap<Box<str>, Value>) -> Result<Self, String> {
        let inner = items
            .values()
            .filter_map(|v| match v {
                Value::Instance(Some(e)) => Some(e.depth),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let depth = inner + 1;
        if depth > MAX_NESTING {
            return Err(format!(
                "component nests instances deeper than {MAX_NESTING} levels"
            ));
        }
        Ok(Exports { items, depth })
    }
}

/// The module and component index spaces of one component instantiation.
/// Frames live in an arena (never freed before the end) and are referred to by
/// index, so closures that escape through exports create no `Rc` cycles.
#[derive(Debug, Default)]
struct Frame {
    modules: Vec<Option<Rc<ModuleInfo>>>,
    components: Vec<Option<Closure>>,
    /// Where this frame's component was defined, for `alias outer`.
    outer: Option<ScopeRef>,
}

/// What one instantiation created and exported.
#[derive(Debug)]
struct Outcome {
    counts: Counts,
    exports: Rc<Exports>,
}

type MemoKey = (*const ComponentDef, Option<ScopeRef>);

#[derive(Default)]
struct Evaluator {
    frames: Vec<Frame>,
    spent: u64,
    memo: HashMap<MemoKey, Rc<Outcome>>,
}

impl Evaluator {
    fn spend(&mut self, steps: usize) -> Result<(), String> {
        let steps = u64::try_from(steps).unwrap_or(u64::MAX);
        self.spent = self.spent.saturating_add(steps);
        if self.spent > WORK_BUDGET {
            return Err(format!(
                "component too complex to analyse (more than {WORK_BUDGET} steps)"
            ));
        }
        Ok(())
    }

    fn instantiate(
        &mut self,
        closure: &Closure,
        args: &HashMap<&str, Value>,
        depth: usize,
    ) -> Result<Rc<Outcome>, String> {
        if depth > MAX_NESTING {
            return Err(format!(
                "component instantiation chain deeper than {MAX_NESTING} levels"
            ));
        }
        self.spend(1)?;

        // Without module/component/instance imports, the arguments cannot
        // change the outcome, so every instantiation of this closure is alike.
        let key = (!closure.def.args_matter).then_some((Rc::as_ptr(&closure.def), closure.scope));
        if let Some(key) = key
            && let Some(done) = self.memo.get(&key)
        {
            return Ok(Rc::clone(done));
        }

        let frame = self.frames.len();
        self.frames.push(Frame {
            outer: closure.scope,
            ..Frame::default()
        });
        let mut instances: Vec<Option<Rc<Exports>>> = Vec::new();
        let mut counts = Counts::default();
        let mut exports: HashMap<Box<str>, Value> = HashMap::new();

        for op in &closure.def.ops {
            self.spend(1)?;
            match op {
                Op::DefineModule(info) => {
                    self.push(frame, &mut instances, Value::Module(Some(Rc::clone(info))));
                }
                Op::DefineComponent(def) => {
                    let f = &self.frames[frame];
                    let scope = ScopeRef {
                        frame,
                        modules_len: f.modules.len(),
                        components_len: f.components.len(),
                    };
                    let closure = Closure {
                        def: Rc::clone(def),
                        scope: Some(scope),
                    };
                    self.push(frame, &mut instances, Value::Component(Some(closure)));
                }
                Op::Import { name, sort } => {
                    let value = args
                        .get(&**name)
                        .filter(|v| v.sort() == *sort)
                        .cloned()
                        .unwrap_or_else(|| sort.unknown());
                    self.push(frame, &mut instances, value);
                }
                Op::AliasOuter { sort, count, index } => {
                    let value = self.resolve_outer(frame, *sort, *count, *index)?;
                    self.push(frame, &mut instances, value);
                }
                Op::AliasExport {
                    sort,
                    instance,
                    name,
                } => {
                    let value = match lookup_instance(&instances, *instance)? {
                        None => sort.unknown(),
                        Some(exports) => exports
                            .items
                            .get(name)
                            .filter(|v| v.sort() == *sort)
                            .cloned()
                            .ok_or_else(|| {
                                format!("malformed component: instance {instance} has no such export `{name}`")
                            })?,
                    };
                    self.push(frame, &mut instances, value);
                }
                Op::CoreInstantiate { module } => {
                    let entry = usize::try_from(*module)
                        .ok()
                        .and_then(|i| self.frames[frame].modules.get(i))
                        .ok_or_else(|| {
                            format!("malformed component: core module index {module} out of range")
                        })?;
                    let info = entry.as_ref().ok_or_else(|| {
                        format!(
                            "core module {module} is imported or otherwise of unknown contents; \
                             refusing to guess what instantiating it creates"
                        )
                    })?;
                    counts.add_module(info);
                }
                Op::Instantiate { component, args } => {
                    let entry = usize::try_from(*component)
                        .ok()
                        .and_then(|i| self.frames[frame].components.get(i))
                        .ok_or_else(|| {
                            format!("malformed component: component index {component} out of range")
                        })?;
                    let child = entry.clone().ok_or_else(|| {
                        format!(
                            "component {component} is imported or otherwise of unknown contents; \
                             refusing to guess what instantiating it creates"
                        )
                    })?;
                    self.spend(args.len())?;
                    let mut bound: HashMap<&str, Value> = HashMap::new();
                    for arg in args {
                        let value = self.lookup(frame, &instances, arg)?;
                        // First binding wins; duplicates are invalid anyway.
                        bound.entry(&arg.name).or_insert(value);
                    }
                    let outcome = self.instantiate(&child, &bound, depth + 1)?;
                    counts.add_component(&outcome.counts);
                    instances.push(Some(Rc::clone(&outcome.exports)));
                }
                Op::InstanceFromExports(items) => {
                    self.spend(items.len())?;
                    let mut bag = HashMap::new();
                    for item in items {
                        let value = self.lookup(frame, &instances, item)?;
                        if let Entry::Vacant(slot) = bag.entry(item.name.clone()) {
                            slot.insert(value);
                        }
                    }
                    instances.push(Some(Rc::new(Exports::new(bag)?)));
                }
                Op::Export(item) => {
                    let value = self.lookup(frame, &instances, item)?;
                    if let Entry::Vacant(slot) = exports.entry(item.name.clone()) {
                        slot.insert(value.clone());
                    }
                    self.push(frame, &mut instances, value);
                }
            }
        }

        let outcome = Rc::new(Outcome {
            counts,
            exports: Rc::new(Exports::new(exports)?),
        });
        if let Some(key) = key {
            self.memo.insert(key, Rc::clone(&outcome));
        }
        Ok(outcome)
    }

    /// Appends `value` to its sort's index space.
    fn push(&mut self, frame: usize, instances: &mut Vec<Option<Rc<Exports>>>, value: Value) {
        let f = &mut self.frames[frame];
        match value {
            Value::Module(m) => f.modules.push(m),
            Value::Component(c) => f.components.push(c),
            Value::Instance(i) => instances.push(i),
        }
    }

    /// The current value at `item`'s index in its sort's index space.
    fn lookup(
        &self,
        frame: usize,
        instances: &[Option<Rc<Exports>>],
        item: &Item,
    ) -> Result<Value, String> {
        let f = &self.frames[frame];
        let out_of_range = || {
            format!(
                "malformed component: {:?} index {} out of range",
                item.sort, item.index
            )
        };
        let i = usize::try_from(item.index).map_err(|_| out_of_range())?;
        match item.sort {
            Sort::Module => f.modules.get(i).cloned().map(Value::Module),
            Sort::Component => f.components.get(i).cloned().map(Value::Component),
            Sort::Instance => instances.get(i).cloned().map(Value::Instance),
        }
        .ok_or_else(out_of_range)
    }

    /// `alias outer count index`: count 0 is this component, 1 its enclosing
    /// component as it stood when this one was defined, and so on.
    fn resolve_outer(
        &self,
        frame: usize,
        sort: Sort,
        count: u32,
        index: u32,
    ) -> Result<Value, String> {
        let bad = || format!("malformed component: bad outer alias ({count}, {index})");
        let scope = if count == 0 {
            let f = &self.frames[frame];
            ScopeRef {
                frame,
                modules_len: f.modules.len(),
                components_len: f.components.len(),
            }
        } else {
            // Each step follows a frame's `outer`, a chain at most
            // MAX_NESTING long, so a huge `count` ends quickly in `bad`.
            let mut scope = self.frames[frame].outer.ok_or_else(bad)?;
            for _ in 1..count {
                scope = self.frames[scope.frame].outer.ok_or_else(bad)?;
            }
            scope
        };
        let i = usize::try_from(index).map_err(|_| bad())?;
        let f = &self.frames[scope.frame];
        match sort {
            Sort::Module if i < scope.modules_len => {
                f.modules.get(i).cloned().map(Value::Module).ok_or_else(bad)
            }
            Sort::Component if i < scope.components_len => f
                .components
                .get(i)
                .cloned()
                .map(Value::Component)
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

fn lookup_instance(
    instances: &[Option<Rc<Exports>>],
    index: u32,
) -> Result<Option<&Rc<Exports>>, String> {
    usize::try_from(index)
        .ok()
        .and_then(|i| instances.get(i))
        .map(Option::as_ref)
        .ok_or_else(|| format!("malformed component: instance index {index} out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(wat: &str) -> Result<ComponentShape, String> {
        let bytes = wat::parse_str(wat).expect("test WAT must assemble");
        shape(&bytes)
    }

    fn counts(core_instances: u32, memories: u32, tables: u32, components: u32) -> ComponentShape {
        ComponentShape {
            core_instances,
            memories,
            tables,
            components,
        }
    }

    #[test]
    fn one_module_instantiated_once() {
        let s = shape_of(
            r#"(component
                (core module $m (memory 1) (table 1 funcref))
                (core instance (instantiate $m)))"#,
        );
        assert_eq!(s, Ok(counts(1, 1, 1, 0)));
    }

    #[test]
    fn multi_memory_module_instantiated_three_times() {
        let s = shape_of(
            r#"(component
                (core module $m (memory 1) (memory 2))
                (core instance (instantiate $m))
                (core instance (instantiate $m))
                (core instance (instantiate $m)))"#,
        );
        assert_eq!(s, Ok(counts(3, 6, 0, 0)));
    }

    #[test]
    fn nested_component_twice_with_module_twice() {
        let s = shape_of(
            r#"(component
                (component $c
                  (core module $m (memory 1) (table 1 funcref))
                  (core instance (instantiate $m))
                  (core instance (instantiate $m)))
                (instance (instantiate $c))
                (instance (instantiate $c)))"#,
        );
        assert_eq!(s, Ok(counts(4, 4, 4, 2)));
    }

    #[test]
    fn imported_memories_and_tables_not_counted() {
        let s = shape_of(
            r#"(component
                (core module $owner
                  (memory (export "mem") 1)
                  (table (export "tab") 1 funcref))
                (core module $user
                  (import "o" "mem" (memory 1))
                  (import "o" "tab" (table 1 funcref)))
                (core instance $o (instantiate $owner))
                (core instance (instantiate $user (with "o" (instance $o)))))"#,
        );
        assert_eq!(s, Ok(counts(2, 1, 1, 0)));
    }

    #[test]
    fn defined_but_not_instantiated_counts_zero() {
        let s = shape_of(
            r#"(component
                (core module $unused (memory 1) (memory 1))
                (component $never
                  (core module $m (memory 1))
                  (core instance (instantiate $m)))
                (core module $used)
                (core instance (instantiate $used)))"#,
        );
        assert_eq!(s, Ok(counts(1, 0, 0, 0)));
    }

    #[test]
    fn from_exports_bags_are_not_instances() {
        let s = shape_of(
            r#"(component
                (core module $m (memory (export "mem") 1))
                (core instance $i (instantiate $m))
                (core instance (export "mem" (memory $i "mem")))
                (instance))"#,
        );
        assert_eq!(s, Ok(counts(1, 1, 0, 0)));
    }

    #[test]
    fn outer_alias_of_module() {
        let s = shape_of(
            r#"(component
                (core module $m (memory 1))
                (component $c
                  (alias outer 1 0 (core module $mm))
                  (core instance (instantiate $mm))
                  (core instance (instantiate $mm)))
                (instance (instantiate $c)))"#,
        );
        assert_eq!(s, Ok(counts(2, 2, 0, 1)));
    }

    #[test]
    fn outer_alias_of_component_two_levels_up() {
        let s = shape_of(
            r#"(component
                (component $leaf
                  (core module $m (table 1 funcref))
                  (core instance (instantiate $m)))
                (component $mid
                  (component $inner
                    (alias outer 2 0 (component $l))
                    (instance (instantiate $l)))
                  (instance (instantiate $inner))
                  (instance (instantiate $inner)))
                (instance (instantiate $mid)))"#,
        );
        // mid(1) + 2×inner(2) + 2×leaf(2) = 5 components; 2 leaf instances.
        assert_eq!(s, Ok(counts(2, 0, 2, 5)));
    }

    #[test]
    fn module_passed_to_child_as_argument() {
        let s = shape_of(
            r#"(component
                (core module $m (memory 1))
                (component $c
                  (import "m" (core module $imp))
                  (core instance (instantiate $imp)))
                (instance (instantiate $c (with "m" (core module $m))))
                (instance (instantiate $c (with "m" (core module $m)))))"#,
        );
        assert_eq!(s, Ok(counts(2, 2, 0, 2)));
    }

    #[test]
    fn module_exported_by_child_instance_then_instantiated() {
        let s = shape_of(
            r#"(component
                (component $c
                  (core module $m (memory 1) (memory 1))
                  (export "m" (core module $m)))
                (instance $i (instantiate $c))
                (alias export $i "m" (core module $em))
                (core instance (instantiate $em)))"#,
        );
        assert_eq!(s, Ok(counts(1, 2, 0, 1)));
    }

    #[test]
    fn export_takes_a_module_index() {
        // The export of $a takes core module index 1, so $b is index 2.
        let s = shape_of(
            r#"(component
                (core module $a)
                (export "a" (core module $a))
                (core module $b (memory 1))
                (core instance (instantiate 2)))"#,
        );
        assert_eq!(s, Ok(counts(1, 1, 0, 0)));
    }

    #[test]
    fn imported_module_instantiated_is_an_error() {
        let s = shape_of(
            r#"(component
                (import "m" (core module $m))
                (core instance (instantiate $m)))"#,
        );
        assert!(s.unwrap_err().contains("unknown contents"));
        // Importing without instantiating is fine.
        let s = shape_of(r#"(component (import "m" (core module)))"#);
        assert_eq!(s, Ok(counts(0, 0, 0, 0)));
    }

    #[test]
    fn imported_component_instantiated_is_an_error() {
        let s = shape_of(
            r#"(component
                (import "c" (component $c))
                (instance (instantiate $c)))"#,
        );
        assert!(s.unwrap_err().contains("unknown contents"));
    }

    #[test]
    fn core_module_is_not_a_component() {
        let bytes = wat::parse_str("(module (memory 1))").expect("assembles");
        assert!(shape(&bytes).unwrap_err().contains("not a component"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(shape(b"").is_err());
        assert!(shape(b"\0asm").is_err());
        assert!(shape(b"not wasm at all").is_err());
        let mut bytes = wat::parse_str("(component (core module (memory 1)))").expect("assembles");
        bytes.truncate(bytes.len() - 3);
        assert!(shape(&bytes).is_err());
    }

    /// `depth` components each wrapping the next, innermost holding one
    /// module; every level instantiates its child `fanout` times.
    fn nested_wat(depth: usize, fanout: usize) -> String {
        let mut wat = String::from("(core module $m (memory 1)) (core instance (instantiate $m))");
        for _ in 0..depth {
            let inst = "(instance (instantiate $c))".repeat(fanout);
            wat = format!("(component $c {wat}) {inst}");
        }
        format!("(component {wat})")
    }

    #[test]
    fn nesting_limit() {
        // The module sits one level below the innermost component, so 31
        // components put it at depth 32: the deepest accepted.
        let deepest = shape_of(&nested_wat(MAX_NESTING - 1, 1));
        assert_eq!(deepest, Ok(counts(1, 1, 0, 31)));
        let err = shape_of(&nested_wat(MAX_NESTING, 1)).unwrap_err();
        assert!(err.contains("deeper than"), "{err}");
    }

    #[test]
    fn exponential_fanout_saturates_quickly() {
        // 10^31 instances if computed naively: memoised, and clamped.
        let s = shape_of(&nested_wat(MAX_NESTING - 1, 10)).expect("shape");
        assert_eq!(s, counts(u32::MAX, u32::MAX, 0, u32::MAX));
    }

    #[test]
    fn fanout_that_defeats_the_memo_hits_the_budget() {
        // Every level imports an instance, so arguments matter and nothing is
        // memoised: 10^20 instantiations must end in Err, not a hang.
        let mut wat = String::from("(core module $m) (core instance (instantiate $m))");
        for _ in 0..20 {
            let inst = r#"(instance (instantiate $c (with "i" (instance $i))))"#.repeat(10);
            wat = format!(r#"(component $c (import "i" (instance $i)) {wat}) {inst}"#);
        }
        let wat = format!(r#"(component (import "i" (instance $i)) {wat})"#);
        let err = shape_of(&wat).unwrap_err();
        assert!(err.contains("too complex"), "{err}");
    }

    /// Tiny xorshift generator: deterministic, no extra dev-dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u32 {
            u32::try_from(self.next() % n).unwrap_or(0)
        }
    }

    /// A random, usually invalid, component built section by section:
    /// random indices, outer-alias counts, argument names and nesting, to
    /// exercise the interpreter (not just the parser) on garbage.
    fn random_component(rng: &mut Rng, depth: u32) -> wasm_encoder::Component {
        use wasm_encoder::{
            Alias, Component, ComponentAliasSection, ComponentExportKind, ComponentExportSection,
            ComponentImportSection, ComponentInstanceSection, ComponentOuterAliasKind,
            ComponentTypeRef, InstanceSection, MemorySection, MemoryType, Module, ModuleArg,
            ModuleSection, NestedComponentSection,
        };
        const NAMES: [&str; 3] = ["a", "b", "c"];
        const KINDS: [ComponentExportKind; 4] = [
            ComponentExportKind::Module,
            ComponentExportKind::Component,
            ComponentExportKind::Instance,
            ComponentExportKind::Func,
        ];
        let name = |rng: &mut Rng| NAMES[rng.below(3) as usize];
        let kind = |rng: &mut Rng| KINDS[rng.below(4) as usize];
        let mut c = Component::new();
        for _ in 0..rng.below(14) {
            match rng.below(9) {
                0 => {
                    let mut memories = MemorySection::new();
                    for _ in 0..rng.below(3) {
                        memories.memory(MemoryType {
                            minimum: 1,
                            maximum: None,
                            memory64: false,
                            shared: false,
                            page_size_log2: None,
                        });
                    }
                    let mut m = Module::new();
                    m.section(&memories);
                    c.section(&ModuleSection(&m));
                }
                1 if depth < 4 => {
                    let nested = random_component(rng, depth + 1);
                    c.section(&NestedComponentSection(&nested));
                }
                2 => {
                    let ty = match rng.below(3) {
                        0 => ComponentTypeRef::Module(0),
                        1 => ComponentTypeRef::Component(0),
                        _ => ComponentTypeRef::Instance(0),
                    };
                    let mut imports = ComponentImportSection::new();
                    imports.import(name(rng), ty);
                    c.section(&imports);
                }
                3 => {
                    let mut instances = InstanceSection::new();
                    instances.instantiate(rng.below(5), std::iter::empty::<(&str, ModuleArg)>());
                    c.section(&instances);
                }
                4 | 5 => {
                    let args: Vec<_> = (0..rng.below(3))
                        .map(|_| (name(rng), kind(rng), rng.below(4)))
                        .collect();
                    let mut instances = ComponentInstanceSection::new();
                    if rng.below(2) == 0 {
                        instances.instantiate(rng.below(4), args);
                    } else {
                        instances.export_items(args);
                    }
                    c.section(&instances);
                }
                6 => {
                    let kind = if rng.below(2) == 0 {
                        ComponentOuterAliasKind::CoreModule
                    } else {
                        ComponentOuterAliasKind::Component
                    };
                    let mut aliases = ComponentAliasSection::new();
                    aliases.alias(Alias::Outer {
                        kind,
                        count: rng.below(4),
                        index: rng.below(4),
                    });
                    c.section(&aliases);
                }
                7 => {
                    let mut aliases = ComponentAliasSection::new();
                    aliases.alias(Alias::InstanceExport {
                        instance: rng.below(4),
                        kind: kind(rng),
                        name: name(rng),
                    });
                    c.section(&aliases);
                }
                _ => {
                    let mut exports = ComponentExportSection::new();
                    exports.export(name(rng), kind(rng), rng.below(4), None);
                    c.section(&exports);
                }
            }
        }
        c
    }

    #[test]
    fn random_structures_never_panic() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut ok = 0;
        // SHAPE_FUZZ_ITERS raises the count for a longer run by hand.
        let iters = std::env::var("SHAPE_FUZZ_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(20_000);
        for _ in 0..iters {
            let bytes = random_component(&mut rng, 0).finish();
            if shape(&bytes).is_ok() {
                ok += 1;
            }
        }
        // Some must get past the index checks, or this tests only errors.
        eprintln!("{ok} of {iters} random components analysable");
        assert!(
            ok > iters / 20,
            "only {ok} random components were analysable"
        );
    }

    /// The example skills, built for the tests.
    fn skills_dir() -> std::path::PathBuf {
        sandbot_test_skills::dir().to_path_buf()
    }

    fn skill_binaries() -> Vec<(String, Vec<u8>)> {
        let Ok(dir) = std::fs::read_dir(skills_dir()) else {
            return Vec::new();
        };
        let mut out: Vec<(String, Vec<u8>)> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .filter_map(|p| {
                let name = p.file_stem()?.to_string_lossy().into_owned();
                Some((name, std::fs::read(&p).ok()?))
            })
            .collect();
        out.sort();
        out
    }

    /// Every example skill (Rust, Python, JavaScript, C) fits the bounds,
    /// and the composed hostile ones are refused or admitted as planned.
    #[test]
    fn real_skills_fit_the_bounds() {
        let skills = skill_binaries();
        let names: Vec<&str> = skills.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.contains(&"hello") && names.contains(&"many-memories"),
            "{names:?}"
        );
        for (name, bytes) in &skills {
            let result = check(bytes);
            match name.as_str() {
                "many-memories" => assert_eq!(
                    result,
                    Err(Refused::OverBound(
                        "it would create 17 linear memories per event; a skill may have at most 4"
                            .into()
                    ))
                ),
                _ => assert_eq!(result, Ok(()), "{name}: {:?}", shape(bytes)),
            }
        }
        let hello = &skills.iter().find(|(n, _)| n == "hello").unwrap().1;
        assert_eq!(
            shape(hello),
            Ok(counts(3, 1, 2, 0)),
            "a Rust skill: its module and two helpers"
        );
    }

    /// Cheap fuzzing: flip bytes of real skills; `shape` must never panic.
    #[test]
    fn mutated_skills_never_panic() {
        let skills = skill_binaries();
        let Some((_, small)) = skills.iter().min_by_key(|(_, b)| b.len()) else {
            return;
        };
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut bytes = small.clone();
            for _ in 0..(next() % 4 + 1) {
                // Header and section structure live near the start and in the
                // small component-level sections; hit those as often as code.
                let len = if next() % 2 == 0 {
                    bytes.len().min(512)
                } else {
                    bytes.len()
                };
                let at = (next() % len as u64) as usize;
                bytes[at] = next() as u8;
            }
            if next() % 8 == 0 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            let _ = shape(&bytes);
        }
    }
}
