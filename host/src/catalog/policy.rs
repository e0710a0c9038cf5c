//! From configuration.yaml to each loaded skill's [`Policy`]: which of its
//! matchers answer only when the bot is addressed, who may run each, an
//! operator alias's `result` template and format, and the `ack` that
//! sends a matcher's runs to the background. A skill's own matchers come
//! first in its manifest, the operator's aliases after them (in
//! configuration order), so positions say which is which.
//!
//! Also the admins' `skill disable` list, kept in `<data-dir>` so it
//! survives restarts.

use crate::config::Config;
use crate::manifest::Manifest;
use crate::matching::Policy;
use crate::permissions::{Access, Permissions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The policy of skill `name` with `manifest` (aliases included).
pub fn policy(config: &Config, name: &str, manifest: &Manifest, disabled: bool) -> Policy {
    let Some(entry) = config.skills.get(name) else {
        let n = manifest.matchers.len();
        return Policy {
            disabled,
            addressed: vec![false; n],
            access: vec![Access::default(); n],
            result: vec![None; n],
            ack: vec![None; n],
            alias: vec![None; n],
        };
    };
    let skill_level = (!entry.permissions.is_open()).then(|| Arc::new(entry.permissions.clone()));
    let own = manifest.matchers.len().saturating_sub(entry.aliases.len());
    let mut policy = Policy {
        disabled,
        ..Policy::default()
    };
    for (i, m) in manifest.matchers.iter().enumerate() {
        let by_id = entry.matchers.get(&m.id);
        let alias = i.checked_sub(own).and_then(|k| entry.aliases.get(k));
        let addressed = alias
            .and_then(|a| a.addressed)
            .or_else(|| by_id.and_then(|e| e.addressed))
            .unwrap_or(entry.addressed);
        let mut levels: Vec<Arc<Permissions>> = skill_level.iter().cloned().collect();
        let extra = [by_id.map(|e| &e.permissions), alias.map(|a| &a.permissions)];
        levels.extend(
            extra
                .into_iter()
                .flatten()
                .filter(|p| !p.is_open())
                .map(|p| Arc::new(p.clone())),
        );
        policy.addressed.push(addressed);
        policy.access.push(Access { levels });
        policy
            .result
            .push(alias.and_then(|a| a.result.as_deref()).map(Arc::from));
        let ack = by_id.and_then(|e| e.ack.as_ref()).or(entry.ack.as_ref());
        policy.ack.push(ack.map(|a| Arc::from(a.0.as_str())));
        policy
            .alias
            .push(alias.map(|a| Arc::from(a.format.as_str())));
    }
    policy
}

/// Skills an admin turned off, one name per line in a file of the data
/// folder.
pub struct DisabledList {
    path: PathBuf,
}

impl DisabledList {
    pub fn new(data_dir: &Path) -> DisabledList {
        DisabledList {
            path: data_dir.join("disabled-skills"),
        }
    }

    pub fn read(&self) -> BTreeSet<String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => {
                tracing::warn!(file = %self.path.display(), "cannot read the disabled skills: {e}");
                BTreeSet::new()
            }
        }
    }

    /// Writes the list whole (a temporary file, then a rename), so a crash
    /// never leaves half of it.
    pub fn write(&self, names: &BTreeSet<String>) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        let text: String = names.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}
