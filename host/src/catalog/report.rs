//! What a reload did, for the log and for the `reload` chat command. Names,
//! paths and errors are shown through `text::for_log`: each change stays on
//! its line, whatever a file is named or a skill's `describe` says.

use crate::runtime::LoadError;
use crate::text::for_log;
use std::fmt;
use std::path::PathBuf;

/// Why one skill is not (newly) serving: the typed reason and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailure {
    pub path: Option<PathBuf>,
    pub error: LoadError,
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(
                f,
                "cannot load {}: {}",
                for_log(&p.display().to_string()),
                self.error
            ),
            None => write!(f, "{}", self.error),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added {
        name: String,
        version: String,
    },
    Updated {
        name: String,
        from: String,
        to: String,
    },
    Unchanged {
        name: String,
        version: String,
    },
    /// The same file loaded afresh: its section of configuration.yaml
    /// changed (aliases, limits, grants…).
    Reconfigured {
        name: String,
        version: String,
    },
    Removed {
        name: String,
        version: String,
    },
    /// Loading failed; `kept` is the version still serving, if any.
    Failed {
        name: String,
        error: LoadFailure,
        kept: Option<String>,
    },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Added { name, .. }
            | Change::Updated { name, .. }
            | Change::Unchanged { name, .. }
            | Change::Reconfigured { name, .. }
            | Change::Removed { name, .. }
            | Change::Failed { name, .. } => name,
        }
    }

    /// Logs the change at a level that fits it.
    pub fn log(&self) {
        match self {
            Change::Failed { error, .. } => {
                tracing::error!(skill = %for_log(self.name()), "{self}: {}", for_log(&error.to_string()))
            }
            Change::Unchanged { .. } => tracing::debug!(skill = %for_log(self.name()), "{self}"),
            _ => tracing::info!(skill = %for_log(self.name()), "{self}"),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = for_log(self.name());
        match self {
            Change::Added { version, .. } => write!(f, "{name} {} (new)", for_log(version)),
            Change::Reconfigured { version, .. } => {
                write!(f, "{name} {} (reconfigured)", for_log(version))
            }
            Change::Updated { from, to, .. } => {
                write!(f, "{name} {}→{}", for_log(from), for_log(to))
            }
            Change::Unchanged { version, .. } => write!(f, "{name} {}", for_log(version)),
            Change::Removed { version, .. } => write!(f, "{name} {} (removed)", for_log(version)),
            Change::Failed { kept: Some(v), .. } => {
                write!(f, "{name} failed to load, {} still serving", for_log(v))
            }
            Change::Failed { kept: None, .. } => write!(f, "{name} failed to load"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub changes: Vec<Change>,
    /// What changed in configuration.yaml, when it did.
    pub config: Option<crate::config::ConfigChanges>,
    /// Why a changed configuration.yaml was not taken (the one in use stays).
    pub config_refused: Option<String>,
}

impl ReloadReport {
    pub fn push(&mut self, change: Change) {
        self.changes.push(change);
    }

    pub fn failures(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| matches!(c, Change::Failed { .. }))
    }

    /// `reloaded 4 skills: hello 0.1.0→0.1.1, seen 0.1.0, …`, with the
    /// reasons of any failure after it.
    pub fn summary(&self) -> String {
        let serving = self
            .changes
            .iter()
            .filter(|c| {
                !matches!(
                    c,
                    Change::Removed { .. } | Change::Failed { kept: None, .. }
                )
            })
            .count();
        let list: Vec<String> = self.changes.iter().map(ToString::to_string).collect();
        let mut text = format!(
            "reloaded {serving} skill{}: {}",
            if serving == 1 { "" } else { "s" },
            if list.is_empty() {
                "none found".into()
            } else {
                list.join(", ")
            }
        );
        for failure in self.failures() {
            if let Change::Failed { name, error, .. } = failure {
                let error = error.to_string();
                text.push_str(&format!("\n{}: {}", for_log(name), for_log(&error)));
            }
        }
        if let Some(config) = &self.config {
            for line in &config.lines {
                text.push_str(&format!("\nconfiguration: {}", for_log(line)));
            }
            if !config.need_restart.is_empty() {
                text.push_str(&format!(
                    "\nconfiguration: {} changed: applied at the next start, not by reload",
                    config.need_restart.join(", ")
                ));
            }
        }
        if let Some(why) = &self.config_refused {
            text = format!(
                "⚠ configuration.yaml was not reloaded, the one in use stays: {}\n{text}",
                for_log(why)
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_like_the_issue() {
        let report = ReloadReport {
            changes: vec![
                Change::Updated {
                    name: "hello".into(),
                    from: "0.1.0".into(),
                    to: "0.1.1".into(),
                },
                Change::Unchanged {
                    name: "seen".into(),
                    version: "0.1.0".into(),
                },
                Change::Added {
                    name: "dance".into(),
                    version: "0.1.0".into(),
                },
                Change::Failed {
                    name: "bad".into(),
                    error: LoadFailure {
                        path: Some("/skills/bad.wasm".into()),
                        error: LoadError::Compile("unexpected end".into()),
                    },
                    kept: Some("0.2.0".into()),
                },
                Change::Removed {
                    name: "old".into(),
                    version: "1.0.0".into(),
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            report.summary(),
            "reloaded 4 skills: hello 0.1.0→0.1.1, seen 0.1.0, dance 0.1.0 (new), bad failed to load, 0.2.0 still serving, old 1.0.0 (removed)\nbad: cannot load /skills/bad.wasm: it does not compile: unexpected end"
        );
    }
}
