//! The shape check's cases: hand-written WAT components for each way the
//! index spaces grow, and the hostile shapes it must refuse in bounded time.

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
