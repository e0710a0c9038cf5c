//! Parsing for the shape check: a component's bytes into a small tree of
//! definitions (for each component, in binary order, what touches the core
//! module, component and component instance index spaces), refusing
//! nesting deeper than `MAX_NESTING`.

use std::rc::Rc;

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Encoding, Instance, Parser, Payload,
};

use super::MAX_NESTING;

/// The index spaces this analysis tracks. Funcs, values, types and core
/// instances cannot change what gets instantiated, so they are not modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sort {
    Module,
    Component,
    Instance,
}

impl Sort {
    pub(super) fn of(kind: ComponentExternalKind) -> Option<Sort> {
        match kind {
            ComponentExternalKind::Module => Some(Sort::Module),
            ComponentExternalKind::Component => Some(Sort::Component),
            ComponentExternalKind::Instance => Some(Sort::Instance),
            ComponentExternalKind::Func
            | ComponentExternalKind::Value
            | ComponentExternalKind::Type => None,
        }
    }
}

/// What a core module defines for itself.
#[derive(Debug, Default)]
pub(super) struct ModuleInfo {
    pub(super) memories: u64,
    pub(super) tables: u64,
}

/// A named reference into one of the tracked index spaces: an instantiation
/// argument, an entry of a `from exports` bag, or an export.
#[derive(Debug)]
pub(super) struct Item {
    pub(super) name: Box<str>,
    pub(super) sort: Sort,
    pub(super) index: u32,
}

/// One definition of a component, in binary order.
#[derive(Debug)]
pub(super) enum Op {
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
pub(super) struct ComponentDef {
    pub(super) ops: Vec<Op>,
    /// Whether any import is a module, component or instance: only then can
    /// the arguments change what an instantiation creates (memo key).
    pub(super) args_matter: bool,
}

/// A module or component whose `End` has not been seen yet.
pub(super) enum Open {
    Component(ComponentDef),
    Module(ModuleInfo),
}

pub(super) fn malformed(e: wasmparser::BinaryReaderError) -> String {
    format!("malformed component: {e}")
}

pub(super) fn parse(bytes: &[u8]) -> Result<Rc<ComponentDef>, String> {
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

pub(super) fn push_nested(stack: &mut Vec<Open>, open: Open) -> Result<(), String> {
    // `stack.len()` is the new item's nesting depth (the top level is 0).
    if stack.len() > MAX_NESTING {
        return Err(format!(
            "component nests modules/components deeper than {MAX_NESTING} levels"
        ));
    }
    stack.push(open);
    Ok(())
}
