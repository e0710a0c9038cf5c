//! `sandbot skill new`: a working project, a test included.

use super::{Lang, WIT_FILES, camel, check_name, vendor};
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

/// An SDK checkout to depend on instead of the copy in the project:
/// `--sdk`, or `$SANDBOT_SDK` (for those working on the SDK itself).
fn sdk_checkout(explicit: Option<&Path>) -> Result<Option<PathBuf>> {
    let given = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("SANDBOT_SDK").map(PathBuf::from));
    match given {
        None => Ok(None),
        Some(c) if c.join("Cargo.toml").is_file() => Ok(Some(std::fs::canonicalize(&c)?)),
        Some(c) => bail!("{} is not the Rust SDK (no Cargo.toml there)", c.display()),
    }
}

/// Writes a new project for `name` into `parent/name`; returns its folder.
pub fn new_project(lang: Lang, name: &str, parent: &Path, sdk: Option<&Path>) -> Result<PathBuf> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    // By default the SDK is copied into the project (and the WIT beside
    // it), so the project builds anywhere, this checkout or not.
    let checkout = match lang {
        Lang::Rust => sdk_checkout(sdk)?,
        _ => None,
    };
    let sdk = match &checkout {
        Some(path) => path.display().to_string(),
        None => vendor::SDK.to_owned(),
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
    if lang != Lang::Rust || checkout.is_none() {
        for (file, text) in WIT_FILES {
            write(&dir.join("wit").join(file), text)?;
        }
    }
    if lang == Lang::Rust {
        if checkout.is_none() {
            let sdk = dir.join(vendor::SDK);
            write(&sdk.join("Cargo.toml"), &vendor::sdk_manifest())?;
            for (file, text) in vendor::SDK_SOURCES {
                write(&sdk.join(file), text)?;
            }
        }
        // The versions this bot was tested with: nothing to resolve.
        write(&dir.join("Cargo.lock"), &vendor::project_lock(name))?;
        vendor::settle_lock(&dir);
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
