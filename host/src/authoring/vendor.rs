//! What a Rust skill project needs to build on its own, outside this
//! checkout: the SDK's sources (and, beside them, the WIT) copied into the
//! project, and a `Cargo.lock` holding exactly the crate versions this
//! bot's own build was tested with, taken from its `Cargo.lock`: a first
//! build resolves nothing, and a crate released later cannot break it.

use std::collections::{BTreeMap, BTreeSet};

/// The SDK's sources, as this bot was built with them.
pub const SDK_SOURCES: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../../skills-sdk/src/lib.rs")),
    (
        "src/chat.rs",
        include_str!("../../../skills-sdk/src/chat.rs"),
    ),
    (
        "src/config.rs",
        include_str!("../../../skills-sdk/src/config.rs"),
    ),
    (
        "src/context.rs",
        include_str!("../../../skills-sdk/src/context.rs"),
    ),
    (
        "src/http.rs",
        include_str!("../../../skills-sdk/src/http.rs"),
    ),
    ("src/log.rs", include_str!("../../../skills-sdk/src/log.rs")),
    (
        "src/manifest.rs",
        include_str!("../../../skills-sdk/src/manifest.rs"),
    ),
    (
        "src/memory.rs",
        include_str!("../../../skills-sdk/src/memory.rs"),
    ),
    (
        "src/testing.rs",
        include_str!("../../../skills-sdk/src/testing.rs"),
    ),
];

const SDK_MANIFEST: &str = include_str!("../../../skills-sdk/Cargo.toml");
const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");
const WORKSPACE_LOCK: &str = include_str!("../../../Cargo.lock");

/// The SDK's package name, as the project depends on it.
pub const SDK: &str = "sandbot-sdk";

/// skills-sdk/Cargo.toml with what it takes from the workspace
/// (`edition.workspace = true`, `wit-bindgen = { workspace = true }`)
/// written out, so it stands alone.
pub fn sdk_manifest() -> String {
    let package = section(WORKSPACE_MANIFEST, "[workspace.package]");
    let dependencies = section(WORKSPACE_MANIFEST, "[workspace.dependencies]");
    SDK_MANIFEST
        .lines()
        .map(|line| {
            let trimmed = line.trim();
            if let Some(key) = trimmed.strip_suffix(".workspace = true")
                && let Some(value) = package.get(key)
            {
                return format!("{key} = {value}");
            }
            if let Some((key, rest)) = trimmed.split_once(" = ")
                && rest.replace(' ', "") == "{workspace=true}"
                && let Some(value) = dependencies.get(key)
            {
                return format!("{key} = {value}");
            }
            line.to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `key = value` lines of one `[section]` of a manifest.
fn section(manifest: &str, name: &str) -> BTreeMap<String, String> {
    manifest
        .lines()
        .skip_while(|l| l.trim() != name)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// One `[[package]]` of a Cargo.lock.
struct Locked {
    name: String,
    version: String,
    /// `source = …` and `checksum = …` lines, as written.
    origin: Vec<String>,
    /// As written: `name` or `name version`.
    dependencies: Vec<String>,
}

fn packages(lock: &str) -> Vec<Locked> {
    let mut out = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let mut p = Locked {
            name: String::new(),
            version: String::new(),
            origin: Vec::new(),
            dependencies: Vec::new(),
        };
        let mut in_deps = false;
        for line in block.lines() {
            let line = line.trim();
            let quoted = || line.split('"').nth(1).unwrap_or_default().to_owned();
            if in_deps {
                if line == "]" {
                    in_deps = false;
                } else {
                    p.dependencies.push(quoted());
                }
            } else if line.starts_with("name = ") {
                p.name = quoted();
            } else if line.starts_with("version = ") {
                p.version = quoted();
            } else if line.starts_with("source = ") || line.starts_with("checksum = ") {
                p.origin.push(line.to_owned());
            } else if line == "dependencies = [" {
                in_deps = true;
            }
        }
        out.push(p);
    }
    out
}

/// The Cargo.lock of a project `name` that depends on the SDK alone: the
/// SDK's crates at the versions this bot was built with, in Cargo's own
/// form, so cargo keeps it as it is.
pub fn project_lock(name: &str) -> String {
    let all = packages(WORKSPACE_LOCK);
    // A dependency written `name` (one version in the lock) or `name version`.
    let find = |dep: &str| -> Option<&Locked> {
        let (n, v) = dep.split_once(' ').unwrap_or((dep, ""));
        all.iter()
            .find(|p| p.name == n && (v.is_empty() || p.version == v))
    };
    let Some(sdk) = all.iter().find(|p| p.name == SDK) else {
        return String::new();
    };
    let mut chosen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut todo: Vec<&Locked> = vec![sdk];
    while let Some(p) = todo.pop() {
        if !chosen.insert((p.name.clone(), p.version.clone())) {
            continue;
        }
        todo.extend(p.dependencies.iter().filter_map(|d| find(d)));
    }
    let project = Locked {
        name: name.to_owned(),
        version: "0.1.0".to_owned(),
        origin: Vec::new(),
        dependencies: vec![SDK.to_owned()],
    };
    let mut kept: Vec<&Locked> = all
        .iter()
        .filter(|p| chosen.contains(&(p.name.clone(), p.version.clone())))
        .chain(std::iter::once(&project))
        .collect();
    kept.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    // Cargo names a dependency with its version only where the lock holds
    // several versions of it.
    let mut versions: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &kept {
        *versions.entry(p.name.as_str()).or_default() += 1;
    }
    let mut out = String::from(
        "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n",
    );
    for p in kept {
        out.push_str(&format!(
            "\n[[package]]\nname = \"{}\"\nversion = \"{}\"\n",
            p.name, p.version
        ));
        for line in &p.origin {
            out.push_str(line);
            out.push('\n');
        }
        if !p.dependencies.is_empty() {
            let mut deps: Vec<String> = p
                .dependencies
                .iter()
                .map(|d| {
                    let n = d.split(' ').next().unwrap_or(d);
                    if versions.get(n).copied().unwrap_or(0) > 1 {
                        d.clone()
                    } else {
                        n.to_owned()
                    }
                })
                .collect();
            deps.sort();
            out.push_str("dependencies = [\n");
            for d in deps {
                out.push_str(&format!(" \"{d}\",\n"));
            }
            out.push_str("]\n");
        }
    }
    out
}

/// Lets cargo put the lock in its own form, offline: it keeps every
/// version written (a lock's versions are what it resolves to first) and
/// drops what this project's features leave out, so `cargo build --locked`
/// works from the start. Without cargo, or without the crates in its
/// cache, the first build does the same.
pub fn settle_lock(project: &std::path::Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let settled = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(project.join("Cargo.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !settled.is_ok_and(|s| s.success()) {
        tracing::debug!("cargo did not settle the new project's lock; its first build will");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_manifest_stands_alone() {
        let manifest = sdk_manifest();
        assert!(!manifest.contains("workspace"), "{manifest}");
        assert!(manifest.contains("edition = \"2024\""), "{manifest}");
        assert!(manifest.contains("wit-bindgen = \"="), "{manifest}");
    }

    #[test]
    fn every_source_of_the_sdk_is_copied() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../skills-sdk/src");
        for entry in std::fs::read_dir(folder).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let path = format!("src/{name}");
            assert!(
                SDK_SOURCES.iter().any(|(p, _)| *p == path),
                "skills-sdk/{path} is not in SDK_SOURCES: a new project would lack it"
            );
        }
    }

    #[test]
    fn the_lock_holds_the_sdk_and_what_it_needs_only() {
        let lock = project_lock("ping");
        assert!(lock.contains("name = \"ping\""), "{lock}");
        assert!(lock.contains("name = \"sandbot-sdk\""), "{lock}");
        assert!(lock.contains("name = \"wit-bindgen\""), "{lock}");
        assert!(!lock.contains("name = \"wasmtime\""), "{lock}");
        assert!(!lock.contains("name = \"sandbot\"\n"), "{lock}");
    }
}
