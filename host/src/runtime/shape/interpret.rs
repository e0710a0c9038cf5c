//! Interpretation for the shape check: instantiates the parsed tree the way
//! the component model's index spaces grow, counting the core instances,
//! memories, tables and nested components created, memoising what cannot
//! depend on its arguments and drawing on a fixed work budget.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::rc::Rc;

use super::parse::*;
use super::{ComponentShape, MAX_NESTING, WORK_BUDGET};

/// Running totals. `u64` + saturation so that no fan-out can wrap around.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counts {
    pub(super) core_instances: u64,
    pub(super) memories: u64,
    pub(super) tables: u64,
    pub(super) components: u64,
}

impl Counts {
    pub(super) fn add_module(&mut self, m: &ModuleInfo) {
        self.core_instances = self.core_instances.saturating_add(1);
        self.memories = self.memories.saturating_add(m.memories);
        self.tables = self.tables.saturating_add(m.tables);
    }

    pub(super) fn add_component(&mut self, child: &Counts) {
        self.core_instances = self.core_instances.saturating_add(child.core_instances);
        self.memories = self.memories.saturating_add(child.memories);
        self.tables = self.tables.saturating_add(child.tables);
        // The child instance itself plus what it created inside.
        self.components = self
            .components
            .saturating_add(child.components)
            .saturating_add(1);
    }

    pub(super) fn to_shape(self) -> ComponentShape {
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
pub(super) struct ScopeRef {
    pub(super) frame: usize,
    pub(super) modules_len: usize,
    pub(super) components_len: usize,
}

/// A component definition together with the scope it was defined in.
#[derive(Debug, Clone)]
pub(super) struct Closure {
    pub(super) def: Rc<ComponentDef>,
    pub(super) scope: Option<ScopeRef>,
}

/// The value of one index-space entry; `None` inside means "contents unknown"
/// (imported from the host, or aliased out of something unknown).
#[derive(Debug, Clone)]
pub(super) enum Value {
    Module(Option<Rc<ModuleInfo>>),
    Component(Option<Closure>),
    Instance(Option<Rc<Exports>>),
}

impl Value {
    pub(super) fn sort(&self) -> Sort {
        match self {
            Value::Module(_) => Sort::Module,
            Value::Component(_) => Sort::Component,
            Value::Instance(_) => Sort::Instance,
        }
    }
}

/// The tracked exports of a known component instance.
#[derive(Debug, Default)]
pub(super) struct Exports {
    pub(super) items: HashMap<Box<str>, Value>,
    /// How many instances deep this value nests. Bounded so that dropping a
    /// long chain of `Rc<Exports>` cannot overflow the stack.
    pub(super) depth: usize,
}

impl Exports {
    pub(super) fn new(items: HashMap<Box<str>, Value>) -> Result<Self, String> {
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
pub(super) struct Frame {
    pub(super) modules: Vec<Option<Rc<ModuleInfo>>>,
    pub(super) components: Vec<Option<Closure>>,
    /// Where this frame's component was defined, for `alias outer`.
    pub(super) outer: Option<ScopeRef>,
}

/// What one instantiation created and exported.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) counts: Counts,
    pub(super) exports: Rc<Exports>,
}

pub(super) type MemoKey = (*const ComponentDef, Option<ScopeRef>);

#[derive(Default)]
pub(super) struct Evaluator {
    pub(super) frames: Vec<Frame>,
    pub(super) spent: u64,
    pub(super) memo: HashMap<MemoKey, Rc<Outcome>>,
}

impl Evaluator {
    pub(super) fn spend(&mut self, steps: usize) -> Result<(), String> {
        let steps = u64::try_from(steps).unwrap_or(u64::MAX);
        self.spent = self.spent.saturating_add(steps);
        if self.spent > WORK_BUDGET {
            return Err(format!(
                "component too complex to analyse (more than {WORK_BUDGET} steps)"
            ));
        }
        Ok(())
    }

    pub(super) fn instantiate(
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
    pub(super) fn push(
        &mut self,
        frame: usize,
        instances: &mut Vec<Option<Rc<Exports>>>,
        value: Value,
    ) {
        let f = &mut self.frames[frame];
        match value {
            Value::Module(m) => f.modules.push(m),
            Value::Component(c) => f.components.push(c),
            Value::Instance(i) => instances.push(i),
        }
    }

    /// The current value at `item`'s index in its sort's index space.
    pub(super) fn lookup(
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
    pub(super) fn resolve_outer(
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

pub(super) fn lookup_instance(
    instances: &[Option<Rc<Exports>>],
    index: u32,
) -> Result<Option<&Rc<Exports>>, String> {
    usize::try_from(index)
        .ok()
        .and_then(|i| instances.get(i))
        .map(Option::as_ref)
        .ok_or_else(|| format!("malformed component: instance index {index} out of range"))
}

impl Sort {
    /// The value of an entry of this sort whose contents are unknown.
    pub(super) fn unknown(self) -> Value {
        match self {
            Sort::Module => Value::Module(None),
            Sort::Component => Value::Component(None),
            Sort::Instance => Value::Instance(None),
        }
    }
}
