//! Two commands with the same words (aliases of two skills, of a skill and
//! a workflow, or two of one skill's matchers, written alike): no message
//! can tell them apart, so every message they fit is answered "say which".
//! Said at load with where each is written, so the operator changes one
//! instead of finding out in chat.

use super::SkillSet;
use crate::config::Config;
use crate::manifest::MatcherKind;
use crate::matching::Target;
use crate::text::for_log;
use std::path::PathBuf;

/// One WARN per group of commands with the same words.
pub(super) fn warn(set: &SkillSet, config: &Config) {
    for group in set.index.same_aliases() {
        // An operator's several aliases for one matcher are one command.
        let mut commands: Vec<(Target, &str)> = group
            .iter()
            .map(|&(target, matcher)| (target, set.manifest(target).matchers[matcher].id.as_str()))
            .collect();
        commands.dedup();
        if commands.len() < 2 {
            continue;
        }
        let places: Vec<String> = group
            .iter()
            .map(|&(target, matcher)| place(set, config, target, matcher))
            .collect();
        tracing::warn!(
            "two commands have the same words, so every message they fit is answered \"say which\": {}; change the words of one",
            places.join("; ")
        );
    }
}

/// Which command, and where its words are written.
fn place(set: &SkillSet, config: &Config, target: Target, matcher: usize) -> String {
    let manifest = set.manifest(target);
    let spec = &manifest.matchers[matcher];
    let format = match &spec.kind {
        MatcherKind::ActionAlias(alias) => alias.format.as_str(),
        _ => "",
    };
    let name = for_log(&manifest.name);
    match target {
        Target::Workflow(_) => {
            let file = config
                .workflows_folder()
                .map(|folder| folder.join(format!("{}.yaml", manifest.name)));
            format!("workflow `{name}` ({})", located(file, format))
        }
        Target::Skill(skill) => match set.policies[skill].alias(matcher) {
            Some(_) => format!(
                "skill `{name}`, an alias in {}",
                located(config.source.clone(), format)
            ),
            None => format!(
                "skill `{name}`, its matcher `{}` (`{}`)",
                for_log(&spec.id),
                for_log(format)
            ),
        },
    }
}

/// `file:line` of the first line that holds `format`, or the file alone.
fn located(file: Option<PathBuf>, format: &str) -> String {
    let Some(file) = file else {
        return "the built-in configuration".to_owned();
    };
    let line = std::fs::read_to_string(&file)
        .ok()
        .and_then(|text| text.lines().position(|l| l.contains(format)));
    let path = file.display().to_string();
    let shown = for_log(&path);
    match line {
        Some(n) => format!("{shown}:{}", n + 1),
        None => shown.to_string(),
    }
}
