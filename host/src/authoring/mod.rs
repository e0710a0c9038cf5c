//! For skill authors: `sandbot skill new` scaffolds a project, `sandbot
//! skill build` turns it into a component with the language's own tool,
//! installing that tool on first use (`sandbot skill toolchain` beforehand).
//! (`sandbot skill test` lives in [`crate::skilltest`].)

mod build;
mod describe;
mod scaffold;
mod toolchain;
mod vendor;

pub use build::{Built, build};
pub use describe::declared_version;
pub use scaffold::new_project;
pub use toolchain::Toolchains;

use std::path::Path;

/// The languages a skill can be written in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    #[value(alias = "javascript")]
    Js,
    C,
}

impl Lang {
    /// Which language the project in `dir` is, by its files.
    pub fn detect(dir: &Path) -> Option<Lang> {
        let has = |f: &str| dir.join(f).is_file();
        if has("Cargo.toml") {
            Some(Lang::Rust)
        } else if has("app.py") {
            Some(Lang::Python)
        } else if has("skill.js") {
            Some(Lang::Js)
        } else if has("skill.c") {
            Some(Lang::C)
        } else {
            None
        }
    }
}

/// A skill name: what users type to reach it and its memory namespace.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        anyhow::bail!(
            "`{name}` is not a skill name: use lower-case letters, digits and `-`, starting with a letter"
        );
    }
    Ok(())
}

/// `my-skill` → `MySkill`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The contract, as this bot was built with it.
const WIT_FILES: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];
