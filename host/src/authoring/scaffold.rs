//! `sandbot skill new`: a working project, a test included.

use super::{Lang, WIT_FILES, camel, check_name};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

struct Template {
    path: &'static str,
    text: &'static str,
}

macro_rules! t {
    ($path:literal, $file:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!("templates/", $file)),
        }
    };
}

fn templates(lang: Lang) -> &'static [Template] {
    match lang {
        Lang::Rust => &[
            t!("Cargo.toml", "rust/Cargo.toml"),
            t!(".cargo/config.toml", "rust/config.toml"),
            t!("src/lib.rs", "rust/lib.rs"),
            t!("cases.yaml", "rust/cases.yaml"),
            t!(".gitignore", "rust/gitignore"),
            t!("README.md", "rust/README.md"),
        ],
        Lang::Python => &[
            t!("app.py", "python/app.py"),
            t!("cases.yaml", "python/cases.yaml"),
            t!(".gitignore", "python/gitignore"),
            t!("README.md", "python/README.md"),
        ],
        Lang::Js => &[
            t!("skill.js", "js/skill.js"),
            t!("cases.yaml", "js/cases.yaml"),
            t!(".gitignore", "js/gitignore"),
            t!("README.md", "js/README.md"),
        ],
        Lang::C => &[
            t!("skill.c", "c/skill.c"),
            t!("cases.yaml", "c/cases.yaml"),
            t!(".gitignore", "c/gitignore"),
            t!("README.md", "c/README.md"),
        ],
    }
}

/// Where the Rust SDK is: `--sdk`, `$SANDBOT_SDK`, or the `skills-sdk/` this
/// binary was built beside.
fn sdk_path(explicit: Option<&Path>) -> Result<PathBuf> {
    let candidates = [
        explicit.map(Path::to_path_buf),
        std::env::var_os("SANDBOT_SDK").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills-sdk")),
    ];
    for c in candidates.into_iter().flatten() {
        if c.join("Cargo.toml").is_file() {
            return Ok(std::fs::canonicalize(&c)?);
        }
    }
    bail!("cannot find sandbot's Rust SDK (skills-sdk/): pass --sdk PATH or set SANDBOT_SDK")
}

/// Writes a new project for `name` into `parent/name`; returns its folder.
pub fn new_project(lang: Lang, name: &str, parent: &Path, sdk: Option<&Path>) -> Result<PathBuf> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let sdk = match lang {
        Lang::Rust => sdk_path(sdk)?.display().to_string(),
        _ => String::new(),
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{Name}}", &camel(name))
            .replace("{{name_}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk)
    };
    for t in templates(lang) {
        write(&dir.join(t.path), &fill(t.text))?;
    }
    if lang != Lang::Rust {
        for (file, text) in WIT_FILES {
            write(&dir.join("wit").join(file), text)?;
        }
    }
    Ok(dir)
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
