//! The shape of the house, checked: the modules of `host/src` import each
//! other without circles, and no lower layer imports a higher one (the
//! layers are listed in `host/src/lib.rs`). Read from the source itself:
//! every `crate::` and `super::` path outside test modules is an import.
//! And the rooms stay a size a reader can hold: no file of `host/src` over
//! 800 lines, no function over 100 in the wiring, the dispatcher and the
//! workflow engine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, bottom up, as `lib.rs` documents them.
const LAYERS: &[&[&str]] = &[
    &[
        "event",
        "bus",
        "limits",
        "manifest",
        "text",
        "similar",
        "skill_file",
        "identity",
        "permissions",
        "work",
        "turns",
        "stored",
        "names",
        "targets",
        "sqlite",
        "folder",
        "live_log",
        "schema",
    ],
    &[
        "config",
        "memory",
        "history",
        "outbound",
        "grants",
        "matching",
        "coordination",
        "registry",
    ],
    &["runtime", "connectors"],
    &["catalog"],
    &[
        "bot",
        "builtins",
        "installs",
        "recent",
        "commands",
        "executor",
        "observe",
        "web",
        "scheduler",
        "workflow",
        "nats",
    ],
    &[
        "app",
        "console",
        "banner",
        "skilltest",
        "validate",
        "authoring",
        "logging",
    ],
];

type Module = Vec<String>;

struct Source {
    module: Module,
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .filter(|f| !f.ends_with("main.rs") || f.parent() != Some(root.as_path()))
        .filter(|f| !f.components().any(|c| c.as_os_str() == "templates"))
        .map(|file| {
            let rel = file.strip_prefix(&root).unwrap();
            let mut module: Module = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            let text = std::fs::read_to_string(&file).unwrap();
            // Unit tests sit at the end of a file; they may reach anywhere.
            let text = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            let text = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            Source { module, text }
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every path (as segments, `crate` resolved) the text names, with whether
/// it was named by a `pub use` (a re-export).
fn paths(text: &str, here: &Module) -> Vec<(Module, bool)> {
    let mut out = Vec::new();
    // `use` statements, braces expanded.
    let mut rest = text;
    while let Some(at) = find_use(rest) {
        let (is_pub, after) = at;
        let end = rest[after..].find(';').map_or(rest.len(), |e| after + e);
        let tree = rest[after..end].trim();
        for path in expand(tree) {
            if let Some(m) = resolve(&path, here) {
                out.push((m, is_pub));
            }
        }
        rest = &rest[end..];
    }
    // Paths written in code.
    let bytes = text.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let i = from + i;
            from = i + start.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let tail: String = text[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segments: Vec<String> = tail
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(m) = resolve(&segments, here) {
                out.push((m, false));
            }
        }
    }
    out
}

/// The next `use crate::`/`use super::` (or `pub use`): whether it is
/// public, and where its path starts.
fn find_use(text: &str) -> Option<(bool, usize)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("use ") {
        let i = from + i;
        from = i + 4;
        let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
        let before = text[line_start..i].trim();
        if !(before.is_empty() || before.starts_with("pub")) {
            continue;
        }
        let path = text[i + 4..].trim_start();
        if path.starts_with("crate::") || path.starts_with("super::") {
            return Some((before.starts_with("pub"), i + 4));
        }
    }
    None
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`, as segments.
fn expand(tree: &str) -> Vec<Vec<String>> {
    // Renames (`x as y`) out first, then the whitespace: an `as` is a word
    // of its own, never part of a name such as `wasi` or `Phase`.
    let mut words = tree.split_whitespace();
    let mut tree = String::new();
    while let Some(word) = words.next() {
        if word == "as" {
            let alias = words.next().unwrap_or_default();
            tree.push_str(alias.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'));
        } else {
            tree.push_str(word);
        }
    }
    fn go(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        match tree.find('{') {
            None => {
                let mut p = prefix.to_vec();
                p.extend(
                    tree.split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                out.push(p);
            }
            Some(open) => {
                let mut p = prefix.to_vec();
                p.extend(
                    tree[..open]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                let inner = &tree[open + 1..tree.len() - 1];
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            go(&p, &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                if start < inner.len() {
                    go(&p, &inner[start..], out);
                }
            }
        }
    }
    let mut out = Vec::new();
    go(&[], &tree, &mut out);
    out
}

/// `crate::a::b` → `[a, b]`; `super::x` from `m::n` → `[m, x]`.
fn resolve(path: &[String], here: &Module) -> Option<Module> {
    let (first, rest) = path.split_first()?;
    let mut base: Module = match first.as_str() {
        "crate" => Vec::new(),
        "super" => {
            let mut b = here.clone();
            b.pop()?;
            b
        }
        _ => return None,
    };
    let mut rest = rest;
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// The longest prefix of `path` that is a module of the crate.
fn module_of(path: &Module, modules: &BTreeSet<Module>) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains(m))
        .unwrap_or_default()
}

fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        match state.get(node) {
            Some(1) => {
                let at = stack.iter().position(|m| m == node).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if let Some(c) = visit(node, edges, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

fn show(cycle: &[Module]) -> String {
    cycle
        .iter()
        .map(|m| format!("crate::{}", m.join("::")))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// (file-level edges, top-level edges), both without self-loops and without
/// a parent's re-exports of its own children.
fn graphs() -> (
    BTreeMap<Module, BTreeSet<Module>>,
    BTreeMap<Module, BTreeSet<Module>>,
) {
    let sources = sources();
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    let mut files = BTreeMap::<Module, BTreeSet<Module>>::new();
    let mut tops = BTreeMap::<Module, BTreeSet<Module>>::new();
    for s in &sources {
        for (path, reexport) in paths(&s.text, &s.module) {
            let to = module_of(&path, &modules);
            let is_child = to.len() > s.module.len() && to.starts_with(&s.module);
            if to == s.module || (reexport && is_child) {
                continue;
            }
            files
                .entry(s.module.clone())
                .or_default()
                .insert(to.clone());
            if let (Some(a), Some(b)) = (s.module.first(), to.first())
                && a != b
            {
                tops.entry(vec![a.clone()])
                    .or_default()
                    .insert(vec![b.clone()]);
            }
        }
    }
    (files, tops)
}

#[test]
fn no_module_imports_in_a_circle() {
    let (files, tops) = graphs();
    assert!(files.len() > 30, "the scan found too little: {files:?}");
    if let Some(cycle) = find_cycle(&files) {
        panic!("files import each other in a circle: {}", show(&cycle));
    }
    if let Some(cycle) = find_cycle(&tops) {
        panic!("modules import each other in a circle: {}", show(&cycle));
    }
}

#[test]
fn no_layer_imports_a_higher_one() {
    let (_, tops) = graphs();
    let layer = |m: &str| {
        LAYERS
            .iter()
            .position(|l| l.contains(&m))
            .unwrap_or_else(|| panic!("module `{m}` is in no layer: add it to LAYERS and lib.rs"))
    };
    let mut wrong = Vec::new();
    for (from, tos) in &tops {
        for to in tos {
            if layer(&to[0]) > layer(&from[0]) {
                wrong.push(format!("{} → {}", from[0], to[0]));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "lower layers import higher ones: {wrong:?}"
    );
    for low in ["connectors", "runtime", "matching", "memory", "config"] {
        for high in ["bot", "app"] {
            assert!(
                !tops
                    .get(&vec![low.to_string()])
                    .is_some_and(|t| t.contains(&vec![high.to_string()])),
                "{low} imports {high}"
            );
        }
    }
}

/// Every `.rs` file under `host/src`, with its path from there.
fn all_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read_to_string(&f).unwrap())
        })
        .collect()
}

#[test]
fn no_file_is_over_800_lines() {
    let files = all_files();
    assert!(files.len() > 30, "the scan found too little");
    let long: Vec<String> = files
        .iter()
        .filter(|(_, text)| text.lines().count() > 800)
        .map(|(path, text)| format!("{path}: {} lines", text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these by concept: {long:?}");
}

/// The functions of `text` (outside its unit tests) longer than `most`
/// lines, from the `fn` line to the brace that closes it at its indent.
fn long_functions(text: &str, most: usize) -> Vec<(String, usize)> {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        let head = [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "async ",
            "const ",
            "unsafe ",
        ]
        .iter()
        .fold(body, |b, word| b.strip_prefix(word).unwrap_or(b));
        let head = head.strip_prefix("async ").unwrap_or(head);
        let Some(name) = head.strip_prefix("fn ") else {
            continue;
        };
        let name: String = name
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // A declaration without a body (a trait's) ends in `;`.
        let Some(open) = lines[at..]
            .iter()
            .position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'))
        else {
            continue;
        };
        if lines[at + open].trim_end().ends_with(';') {
            continue;
        }
        let close = " ".repeat(indent) + "}";
        if let Some(end) = lines[at + open..]
            .iter()
            .position(|l| l.trim_end() == close)
        {
            let length = open + end + 1;
            if length > most {
                long.push((name, length));
            }
        }
    }
    long
}

#[test]
fn no_function_of_the_wiring_the_dispatcher_or_the_workflows_is_over_100_lines() {
    let mut checked = 0;
    let mut long = Vec::new();
    for (path, text) in all_files() {
        if !["app/", "bot/", "workflow/"]
            .iter()
            .any(|d| path.starts_with(d))
        {
            continue;
        }
        checked += 1;
        for (name, lines) in long_functions(&text, 100) {
            long.push(format!("{path}: fn {name}, {lines} lines"));
        }
    }
    assert!(checked > 10, "the scan found too little");
    assert!(long.is_empty(), "split these: {long:?}");
}

#[test]
fn the_function_measure_sees_a_long_function() {
    let body = "    let x = 1;\n".repeat(120);
    let text = format!(
        "impl A {{\n    pub async fn long(&self) {{\n{body}    }}\n    fn short() {{}}\n}}\n"
    );
    assert_eq!(long_functions(&text, 100), vec![("long".to_string(), 122)]);
}
