//! `skills.lock`, beside configuration.yaml: every skill installed from a
//! registry, by reference, manifest digest and component SHA-256, so
//! another host (or a rebuild) installs the same bytes with
//! `sandbot skill install --locked`. Written whole by the installer.

use super::requests::Requests;
use anyhow::{Context, Result};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::Path;

const HEADER: &str = "# skills.lock: written by `sandbot skill install`; do not edit.\n# `sandbot skill install --locked` installs exactly these, by digest.\n";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    #[serde(default)]
    pub skills: IndexMap<String, Locked>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    /// As the operator asked for it: `host/repo:tag` (or `@sha256:…`).
    pub reference: String,
    /// The manifest's digest.
    pub digest: String,
    /// The component's SHA-256 (hex), as its configuration entry pins it.
    pub sha256: String,
    /// The skill's version, as its push recorded it (what `skill update`
    /// shows the change of).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What it asked for when installed (what `skill update` compares).
    #[serde(default)]
    pub requests: Requests,
}

impl Lock {
    /// The lock at `path`; empty when there is none.
    pub fn read(path: &Path) -> Result<Lock> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lock {
                    version: 1,
                    ..Lock::default()
                });
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        serde_yaml_ng::from_str(&text)
            .map_err(|e| anyhow::anyhow!(crate::config::yaml_error(path, &e).to_string()))
    }

    /// Writes it aside, then renames it over, so a reader never sees half.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = format!(
            "{HEADER}{}",
            serde_yaml_ng::to_string(self).context("writing the lock")?
        );
        super::write_over(path, text.as_bytes())
    }
}
