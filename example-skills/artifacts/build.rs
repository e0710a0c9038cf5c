//! Builds every Rust skill under `example-skills/` for wasm32-wasip2 (one
//! cargo run into its own target folder, `target/guests`, since this build
//! holds the lock of the main one), copies each into `target/skills/`, and
//! composes the hostile components that need more than one core instance.
//! Then writes `skills.rs`: a path constant per skill and `foreach_hostile!`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "eaters.rs"]
mod eaters;

/// Skills written in other languages (folder, name): `lang_skill` builds them.
const LANG_SKILLS: &[(&str, &str)] = &[
    ("python", "remember"),
    ("js", "table"),
    ("c", "calc"),
    ("c", "greet"),
];

/// Hostile components made from a built skill plus extra core instances that
/// each own a memory and fill it at instantiation: (name, base skill,
/// instances, pages of 64 KiB each fills).
const COMPOSED: &[(&str, &str, u32, u32)] = &[
    // Sixteen memories: refused at load (more than a skill may have).
    ("many-memories", "infinite-loop", 16, 16),
    // Three memories of 24 MiB each: under the 64 MiB limit one by one,
    // over it together.
    ("memory-sum", "hello", 3, 384),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.join("../..").canonicalize().unwrap();
    let examples = workspace.join("example-skills");
    let target = std::env::var_os("SANDBOT_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let skills_dir = target.join("skills");
    std::fs::create_dir_all(&skills_dir).unwrap();

    let guests = discover(&examples);
    for dir in ["skills-sdk", "wit", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    for guest in &guests {
        println!("cargo:rerun-if-changed={}", guest.dir.display());
    }
    println!("cargo:rerun-if-changed=eaters.rs");

    ensure_wasm_target();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&workspace)
        .args([
            "build",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "skill",
        ])
        .env("CARGO_TARGET_DIR", target.join("guests"))
        // The outer build's flags are for the host, not the guests.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS");
    for guest in &guests {
        cargo.args(["-p", &guest.package]);
    }
    let status = cargo.status().expect("running cargo to build the skills");
    assert!(status.success(), "building the example skills failed");

    let built = target.join("guests/wasm32-wasip2/skill");
    for guest in &guests {
        let file = built.join(format!("{}.wasm", guest.package.replace('-', "_")));
        let file = if file.is_file() {
            file
        } else {
            built.join(format!("{}.wasm", guest.package))
        };
        let bytes =
            std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        install(&skills_dir, &guest.package, &bytes);
    }
    for (name, base, count, pages) in COMPOSED {
        let bytes = std::fs::read(skills_dir.join(format!("{base}.wasm"))).unwrap();
        let composed = eaters::with_memory_eaters(&bytes, *count, *pages)
            .unwrap_or_else(|e| panic!("composing {name}: {e}"));
        install(&skills_dir, name, &composed);
    }

    let mut out = String::new();
    writeln!(out, "/// The workspace these skills belong to.").unwrap();
    writeln!(
        out,
        "pub const WORKSPACE: &str = {:?};",
        workspace.display().to_string()
    )
    .unwrap();
    writeln!(out, "/// Where every built skill is.").unwrap();
    writeln!(
        out,
        "pub const SKILLS_DIR: &str = {:?};",
        skills_dir.display().to_string()
    )
    .unwrap();
    writeln!(
        out,
        "/// (language folder, name) of the skills `lang_skill` builds."
    )
    .unwrap();
    writeln!(
        out,
        "pub const LANG_SKILLS: &[(&str, &str)] = &{LANG_SKILLS:?};"
    )
    .unwrap();
    let mut hostile: Vec<String> = guests
        .iter()
        .filter(|g| g.hostile)
        .map(|g| g.package.clone())
        .collect();
    hostile.extend(COMPOSED.iter().map(|(name, ..)| name.to_string()));
    hostile.sort();
    let all = guests
        .iter()
        .map(|g| g.package.clone())
        .chain(COMPOSED.iter().map(|(n, ..)| n.to_string()));
    for name in all {
        let path = skills_dir.join(format!("{name}.wasm"));
        writeln!(
            out,
            "pub const {}: &str = {:?};",
            name.to_uppercase().replace('-', "_"),
            path.display().to_string()
        )
        .unwrap();
    }
    writeln!(
        out,
        "/// Every hostile skill, as an identifier: `foreach_hostile!(m)` calls"
    )
    .unwrap();
    writeln!(out, "/// `m!(name)` for each.").unwrap();
    writeln!(
        out,
        "#[macro_export]\nmacro_rules! foreach_hostile {{\n    ($m:ident) => {{"
    )
    .unwrap();
    for name in &hostile {
        writeln!(out, "        $m!({});", name.replace('-', "_")).unwrap();
    }
    writeln!(out, "    }};\n}}").unwrap();
    writeln!(out, "/// The hostile skills' file names.").unwrap();
    writeln!(out, "pub const HOSTILE: &[&str] = &{hostile:?};").unwrap();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("skills.rs"), out).unwrap();
}

struct Guest {
    package: String,
    dir: PathBuf,
    hostile: bool,
}

/// Every Rust skill: `example-skills/*`, `testing/*` and `hostile/*` with a
/// Cargo.toml (this crate and the language toolchains' folder aside).
fn discover(examples: &Path) -> Vec<Guest> {
    let mut guests = Vec::new();
    for (folder, hostile) in [("", false), ("testing", false), ("hostile", true)] {
        let base = examples.join(folder);
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("Cargo.toml").is_file())
            .filter(|p| !p.ends_with("artifacts"))
            .collect();
        dirs.sort();
        for dir in dirs {
            let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let package = toml
                .lines()
                .find_map(|l| {
                    let v = l.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
                    Some(v.trim().trim_matches('"').to_string())
                })
                .unwrap_or_else(|| panic!("no package name in {}", dir.display()));
            guests.push(Guest {
                package,
                dir,
                hostile,
            });
        }
    }
    guests
}

/// Writes `bytes` as `dir/name.wasm` unless it already holds them; aside
/// then renamed, so a running bot never sees half a file.
fn install(dir: &Path, name: &str, bytes: &[u8]) {
    let dest = dir.join(format!("{name}.wasm"));
    if std::fs::read(&dest).is_ok_and(|old| old == bytes) {
        return;
    }
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, &dest).unwrap();
}

/// Adds the wasm32-wasip2 target with rustup when it is missing.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let installed = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output()
        .ok()
        .and_then(|o| {
            o.status
                .success()
                .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
        .is_some_and(|dir| Path::new(&dir).is_dir());
    if !installed {
        let status = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .expect("running rustup to add the wasm32-wasip2 target");
        assert!(status.success(), "rustup target add wasm32-wasip2 failed");
    }
}
