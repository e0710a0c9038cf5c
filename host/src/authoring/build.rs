//! `sandbot skill build`: the language's own tool makes the component; this
//! gets the tool from its toolchain (installed on first use, see
//! [`super::toolchain`]), runs it, checks the result is a component and
//! copies it where asked.

use super::Lang;
use super::toolchain::Toolchains;
use crate::skill_file::SkillFile;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Built {
    pub lang: Lang,
    /// `<project>/<name>.wasm`
    pub wasm: PathBuf,
    /// Where it was installed too, if asked.
    pub installed: Option<PathBuf>,
    /// What it asks for (`requests.yaml` in the project, checked here so a
    /// mistake shows at build, not at push), `skill push` carries it.
    pub requests: Option<crate::registry::Requests>,
}

/// Builds the project in `dir`; with `install`, also copies the component
/// into that skills folder (write aside, then rename, so a watching bot never
/// loads half a file).
pub fn build(dir: &Path, install: Option<&Path>) -> Result<Built> {
    let dir =
        std::fs::canonicalize(dir).with_context(|| format!("cannot find {}", dir.display()))?;
    // A mistyped skills folder is said before the build, not made: a bot
    // watches the folder its configuration names, never a new one.
    if let Some(folder) = install
        && !folder.is_dir()
    {
        bail!(
            "--install {}: no such folder; give the skills folder your bot watches (its `skills-dir`)",
            folder.display()
        );
    }
    let lang = Lang::detect(&dir).with_context(|| {
        format!(
            "{} is not a skill project: expected Cargo.toml (Rust), app.py (Python), skill.js (JavaScript) or skill.c (C); `sandbot skill new` makes one",
            dir.display()
        )
    })?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("the project folder has no name")?;
    let wasm = dir.join(format!("{name}.wasm"));
    match lang {
        Lang::Rust => build_rust(&dir, &name, &wasm)?,
        Lang::Python => build_python(&dir, &wasm)?,
        Lang::Js => build_js(&dir, &wasm)?,
        Lang::C => build_c(&dir, &name, &wasm)?,
    }
    // Read as the bot will read it (a regular file, bounded), and what is
    // installed is these bytes, not whatever the path holds by then.
    let file = SkillFile::read_now(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let bytes = &file.bytes[..];
    if !bytes.starts_with(b"\0asm") || wasmparser::Parser::is_core_wasm(bytes) {
        bail!("{} is not a WebAssembly component", wasm.display());
    }
    let requests_file = dir.join("requests.yaml");
    let requests = requests_file
        .is_file()
        .then(|| crate::registry::Requests::read(&requests_file))
        .transpose()?;
    let installed = match install {
        Some(folder) => Some(install_into(bytes, folder, &name)?),
        None => None,
    };
    Ok(Built {
        lang,
        wasm,
        installed,
        requests,
    })
}

fn install_into(bytes: &[u8], folder: &Path, name: &str) -> Result<PathBuf> {
    let dest = folder.join(format!("{name}.wasm"));
    let tmp = folder.join(format!(".{name}.wasm.tmp"));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &dest).with_context(|| format!("renaming to {}", dest.display()))?;
    Ok(dest)
}

/// Runs a tool, or says what is missing and how to get it.
fn run(cmd: &mut Command, tool: &str, install_hint: &str) -> Result<()> {
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("`{tool}` is not installed (or not on PATH): {install_hint}")
        }
        Err(e) => return Err(e).with_context(|| format!("running `{tool}`")),
    };
    if !status.success() {
        bail!("`{tool}` failed ({status}); its output is above");
    }
    Ok(())
}

fn build_rust(dir: &Path, name: &str, wasm: &Path) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "wasm32-wasip2")
        })
        .unwrap_or(true); // without rustup, let cargo say what it lacks
    if !installed {
        bail!("Rust's wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`");
    }
    run(
        Command::new("cargo")
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(dir),
        "cargo",
        "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`",
    )?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let out = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::copy(&out, wasm).with_context(|| format!("copying {}", out.display()))?;
    Ok(())
}

/// A tool of the project's own (`node_modules/.bin/NAME`, after an `npm
/// install` in it), else the toolchain's.
fn project_tool(project: &Path, name: &str) -> Option<PathBuf> {
    Some(project.join("node_modules/.bin").join(name)).filter(|p| p.is_file())
}

/// What to do when a tool the toolchain installed has gone missing.
fn reinstall_hint(toolchains: &Toolchains, lang: &str) -> String {
    format!(
        "it belongs to the {lang} toolchain in {}: `sandbot skill toolchain {lang}` installs it again",
        toolchains.root().display()
    )
}

const CLANG_HINT: &str = "install clang for wasm with `apt-get install clang lld wasi-libc libclang-rt-dev-wasm32` (Debian/Ubuntu)";

fn build_python(dir: &Path, wasm: &Path) -> Result<()> {
    let toolchains = Toolchains::locate();
    let tool = toolchains.componentize_py()?;
    run(
        Command::new(tool)
            .args(["-d", "wit", "-w", "skill", "componentize", "-p", "."])
            .arg("app")
            .arg("-o")
            .arg(wasm)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(dir),
        "componentize-py",
        &reinstall_hint(&toolchains, "python"),
    )
}

fn build_js(dir: &Path, wasm: &Path) -> Result<()> {
    let toolchains = Toolchains::locate();
    let tool = match project_tool(dir, "componentize-js") {
        Some(tool) => tool,
        None => toolchains.js_tool("componentize-js")?,
    };
    // No `wasi:http`: the skill does not use it, and the bot refuses a
    // component that imports it without a grant.
    run(
        Command::new(tool)
            .args(["skill.js", "--wit", "wit", "--world-name", "skill-sync"])
            .args(["--disable", "http", "fetch-event", "-o"])
            .arg(wasm)
            .current_dir(dir),
        "componentize-js",
        &reinstall_hint(&toolchains, "js"),
    )
}

fn build_c(dir: &Path, name: &str, wasm: &Path) -> Result<()> {
    let gen_dir = dir.join("build");
    std::fs::create_dir_all(&gen_dir)?;
    let toolchains = Toolchains::locate();
    toolchains.c_compiler()?;
    let wit_bindgen = toolchains.wit_bindgen()?;
    // `--sync all`: `handle` is lifted synchronously; it never waits.
    run(
        Command::new(wit_bindgen)
            .args([
                "c",
                "wit",
                "--world",
                "skill",
                "--sync",
                "all",
                "--out-dir",
                "build",
            ])
            .current_dir(dir),
        "wit-bindgen",
        &reinstall_hint(&toolchains, "c"),
    )?;
    let core = gen_dir.join(format!("{name}.core.wasm"));
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    run(
        Command::new("clang")
            .args([
                "--target=wasm32-wasi",
                "-mexec-model=reactor",
                "-Os",
                "-Wall",
            ])
            .args(["-Wl,--strip-all", "-I", "build", "-o"])
            .arg(&core)
            .args(&sources)
            .args(["build/skill.c", "build/skill_component_type.o"])
            .current_dir(dir),
        "clang",
        CLANG_HINT,
    )?;
    let jco = match project_tool(dir, "jco") {
        Some(tool) => tool,
        None => toolchains.js_tool("jco")?,
    };
    run(
        Command::new(jco)
            .arg("new")
            .arg(&core)
            .args(["--wasi-reactor", "-o"])
            .arg(wasm)
            .current_dir(dir),
        "jco",
        &reinstall_hint(&toolchains, "js"),
    )
}
