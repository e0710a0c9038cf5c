//! `sandbot config validate`: a configuration checked as start-up checks
//! it, every mistake at once. The file itself (YAML, keys with "did you
//! mean", values, `file:line:col`), the connectors' settings, the workflow
//! files, and every skill start-up would load: compiled, described, and its
//! matchers, the operator's aliases, templates and time zones checked
//! against what it declares, and its section's keys against the settings
//! it declares (each at its own `file:line:col`). Nothing is started and the bot's data is not
//! touched: skills load into a scratch runtime with no compile cache.

use crate::bus::Outboxes;
use crate::catalog::{Catalog, Change};
use crate::config::{self, Config};
use crate::memory::SqliteMemory;
use crate::runtime::{LoadError, Options, Runtime, Services};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;

/// What validation found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Each mistake, `file:line:col: what` where a place is known.
    pub errors: Vec<String>,
    /// What is not wrong but worth saying (a skill file not there yet).
    pub notes: Vec<String>,
    /// "valid (2 connectors, 9 configured skills, 1 workflow)" when no
    /// error was found.
    pub summary: Option<String>,
}

/// Checks the configuration at `path` and everything it names.
pub fn validate(path: &Path) -> Result<Verdict> {
    let mut verdict = Verdict::default();
    let config = match config::load(path) {
        Ok(config) => config,
        Err(e) => {
            // Nothing further can be read from a file that does not parse.
            verdict.errors.push(e.to_string());
            return Ok(verdict);
        }
    };
    if let Err(e) = crate::connectors::registry::instances(&config) {
        verdict.errors.push(format!("{e:#}"));
    }
    // The workflow files are configuration too: each read as the bot would.
    let flows = crate::workflow::defs::Definitions::for_config(&config);
    let report = flows.reload();
    verdict
        .errors
        .extend(report.errors.iter().map(ToString::to_string));
    skills(&config, path, &mut verdict)?;
    if verdict.errors.is_empty() {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        verdict.summary = Some(format!(
            "valid ({}, {}, {})",
            plural(config.connectors.len(), "connector"),
            plural(config.skills.len(), "configured skill"),
            plural(flows.current().by_name.len(), "workflow"),
        ));
    }
    Ok(verdict)
}

/// Loads every skill start-up would, into a scratch runtime: each failure
/// is an error at the skill's line in the configuration (or its file).
fn skills(config: &Config, path: &Path, verdict: &mut Verdict) -> Result<()> {
    let scratch = tempfile::tempdir().context("making a scratch folder")?;
    let mut config = config.clone();
    config.data_dir = Some(scratch.path().to_path_buf());
    config.runtime.compile_cache = false;
    let mut absent = std::collections::BTreeSet::new();
    for (name, entry) in &config.skills {
        let file = entry.path.clone().or_else(|| {
            config
                .skills_dir
                .as_ref()
                .map(|d| d.join(format!("{name}.wasm")))
        });
        match file {
            Some(f) if !f.exists() => {
                verdict.notes.push(format!(
                    "skill `{name}`: {} does not exist yet",
                    f.display()
                ));
                absent.insert(name.clone());
            }
            None => {
                verdict.notes.push(format!(
                    "skill `{name}` has no `path:` and there is no `skills-dir:`"
                ));
                absent.insert(name.clone());
            }
            _ => {}
        }
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let async_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let failures = async_runtime.block_on(async {
        let memory = SqliteMemory::open(&scratch.path().join("memory.db"))?;
        let services = Services {
            memory: Arc::new(memory),
            responses: Arc::new(Outboxes::default()),
        };
        let options = Options {
            cache_dir: None,
            max_in_flight: 4,
        };
        let runtime = Arc::new(Runtime::new(options, services)?);
        let catalog = Catalog::new(runtime, Arc::new(config.clone()));
        anyhow::Ok(catalog.reload_all().await.changes)
    })?;
    for change in failures {
        let Change::Failed { name, error, .. } = change else {
            continue;
        };
        if absent.contains(&name) {
            continue;
        }
        // Already placed at their keys, each its own mistake.
        if let LoadError::Settings(mistakes) = error.error {
            verdict.errors.extend(mistakes);
            continue;
        }
        let message = format!("skill `{name}`: {error}");
        verdict.errors.push(match skill_line(&text, &name) {
            Some(line) => format!("{}:{line}:3: {message}", path.display()),
            None => message,
        });
    }
    Ok(())
}

/// The line of `  NAME:` under the top-level `skills:`, 1-based.
fn skill_line(text: &str, name: &str) -> Option<usize> {
    let mut in_skills = false;
    for (i, line) in text.lines().enumerate() {
        if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
            in_skills = line.trim_end() == "skills:";
            continue;
        }
        let key = line.trim_start();
        if in_skills
            && line.len() - key.len() == 2
            && key
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(':'))
        {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::skill_line;

    #[test]
    fn finds_a_skills_key_under_skills_only() {
        let text = "connectors:\n  hello: {}\nskills:\n  # a comment\n  hello-world: {}\n  hello:\n    ack: x\n";
        assert_eq!(skill_line(text, "hello"), Some(6));
        assert_eq!(skill_line(text, "hello-world"), Some(5));
        assert_eq!(skill_line(text, "nope"), None);
    }
}
