//! Test-fixture builder: turns an existing component into a hostile one by
//! appending "memory eater" core instances, each owning a linear memory whose
//! pages its start function makes resident, to exercise per-skill limits on
//! instance count, memory count and resident memory.

use wasm_encoder::{
    BlockType, CodeSection, ComponentSection, FunctionSection, InstanceSection, MemArg,
    MemorySection, MemoryType, Module, ModuleArg, ModuleSection, StartSection, TypeSection,
    ValType,
};
use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentOuterAliasKind, ComponentTypeRef, Encoding,
    Parser, Payload,
};

/// wasmparser refuses a component with more core instances than this
/// (`MAX_WASM_INSTANCES`), so asking for more can never yield a valid binary.
pub const MAX_EATERS: u32 = 1_000;

/// A 32-bit memory holds at most 65536 pages of 64 KiB.
const MAX_PAGES: u64 = 65_536;

/// Returns `component` with, appended at the end of its top-level section
/// list, one core module (1-page memory; its start function grows the memory
/// by `pages_each` pages, traps if that is refused, then writes a byte to
/// every page) and `count` core instance sections each instantiating it with
/// no imports. One instantiation of the result therefore creates `count` more
/// core instances and memories, each of `1 + pages_each` resident pages.
///
/// The input must be a valid component; the output is then valid too, as long
/// as its core instances stay within wasmparser's limit of 1000.
pub fn with_memory_eaters(
    component: &[u8],
    count: u32,
    pages_each: u32,
) -> Result<Vec<u8>, String> {
    if u64::from(pages_each) + 1 > MAX_PAGES {
        return Err(format!(
            "pages_each must be below {MAX_PAGES}: a 32-bit memory cannot hold 1 + {pages_each} pages"
        ));
    }
    if count > MAX_EATERS {
        return Err(format!(
            "count {count} exceeds the {MAX_EATERS} core instances a component may have"
        ));
    }
    // The new module takes the next index in the top-level core module space.
    let module_index = top_level_core_modules(component)?;
    let module = eater_module(pages_each);

    let mut out = component.to_vec();
    ModuleSection(&module).append_to_component(&mut out);
    for _ in 0..count {
        let mut instances = InstanceSection::new();
        instances.instantiate(module_index, std::iter::empty::<(&str, ModuleArg)>());
        instances.append_to_component(&mut out);
    }
    Ok(out)
}

/// How many entries the top-level core module index space of `component`
/// has: modules defined by module sections, imported, aliased (outer, or out
/// of an instance's exports) and re-exported (an export takes a new index).
fn top_level_core_modules(component: &[u8]) -> Result<u32, String> {
    let malformed = |e: wasmparser::BinaryReaderError| format!("malformed component: {e}");
    let too_many = || "too many core modules".to_string();
    let mut modules: u32 = 0;
    // parse_all yields nested modules' and components' payloads inline; only
    // payloads at depth 0 belong to the top-level component.
    let mut depth: usize = 0;
    let mut seen_header = false;

    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.map_err(malformed)?;
        match payload {
            Payload::Version { encoding, .. } if !seen_header => {
                if encoding != Encoding::Component {
                    return Err("not a component: this is a core WebAssembly module".into());
                }
                seen_header = true;
            }
            Payload::ModuleSection { .. } => {
                if depth == 0 {
                    modules = modules.checked_add(1).ok_or_else(too_many)?;
                }
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return Ok(modules),
            },
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    if matches!(import.map_err(malformed)?.ty, ComponentTypeRef::Module(_)) {
                        modules = modules.checked_add(1).ok_or_else(too_many)?;
                    }
                }
            }
            Payload::ComponentAliasSection(reader) if depth == 0 => {
                for alias in reader {
                    let is_module = match alias.map_err(malformed)? {
                        ComponentAlias::InstanceExport { kind, .. } => {
                            kind == ComponentExternalKind::Module
                        }
                        ComponentAlias::Outer { kind, .. } => {
                            kind == ComponentOuterAliasKind::CoreModule
                        }
                        ComponentAlias::CoreInstanceExport { .. } => false,
                    };
                    if is_module {
                        modules = modules.checked_add(1).ok_or_else(too_many)?;
                    }
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    if export.map_err(malformed)?.kind == ComponentExternalKind::Module {
                        modules = modules.checked_add(1).ok_or_else(too_many)?;
                    }
                }
            }
            _ => {}
        }
    }
    Err("malformed component: truncated".into())
}

/// The eater, as WAT:
///
/// ```wat
/// (module
///   (memory 1)
///   (func $eat (local $i i32) (local $n i32)
///     (if (i32.eq (memory.grow (i32.const PAGES_EACH)) (i32.const -1))
///       (then unreachable))            ;; refused: make it loud, not silent
///     (local.set $n (memory.size))
///     (loop $touch                     ;; one store per page makes it resident
///       (i32.store8 (i32.shl (local.get $i) (i32.const 16)) (i32.const 1))
///       (local.set $i (i32.add (local.get $i) (i32.const 1)))
///       (br_if $touch (i32.lt_u (local.get $i) (local.get $n)))))
///   (start $eat))
/// ```
///
/// Encoded with wasm-encoder so the repo needs no WAT assembler at run time.
fn eater_module(pages_each: u32) -> Module {
    // Checked by the caller: pages_each < 65536, so it fits an i32 and the
    // last page's address (65535 << 16) still fits a u32.
    let grow_by = i32::try_from(pages_each).unwrap_or(i32::MAX);
    let (i, n) = (0, 1);
    let byte = MemArg {
        offset: 0,
        align: 0,
        memory_index: 0,
    };

    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    let mut eat = wasm_encoder::Function::new([(2, ValType::I32)]);
    eat.instructions()
        .i32_const(grow_by)
        .memory_grow(0)
        .i32_const(-1)
        .i32_eq()
        .if_(BlockType::Empty)
        .unreachable()
        .end()
        .memory_size(0)
        .local_set(n)
        .loop_(BlockType::Empty)
        .local_get(i)
        .i32_const(16)
        .i32_shl()
        .i32_const(1)
        .i32_store8(byte)
        .local_get(i)
        .i32_const(1)
        .i32_add()
        .local_set(i)
        .local_get(i)
        .local_get(n)
        .i32_lt_u()
        .br_if(0)
        .end()
        .end();
    let mut code = CodeSection::new();
    code.function(&eat);

    // Section order matters in core modules: type, function, memory, start, code.
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&StartSection { function_index: 0 })
        .section(&code);
    module
}
