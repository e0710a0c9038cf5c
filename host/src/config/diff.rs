//! What changed between two readings of configuration.yaml, for `reload`:
//! the skills whose sections changed (reloaded with their new aliases,
//! permissions, limits and grants), each operator alias added or removed,
//! and the other top-level sections that changed, which take effect only
//! at the next start (connectors, the web server, the bus and the rest are
//! built once).

use super::Config;
use std::collections::BTreeSet;

/// The differences `reload` acts on and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChanges {
    /// Skills whose `skills.<name>` section was added, changed or removed.
    pub skills: BTreeSet<String>,
    /// One line for each change, as the answer to `reload` says it.
    pub lines: Vec<String>,
    /// Other top-level sections that changed: they need a restart.
    pub need_restart: Vec<String>,
}

impl ConfigChanges {
    pub fn is_empty(&self) -> bool {
        self.skills.is_empty() && self.need_restart.is_empty()
    }
}

/// A configuration's text (after `${VAR}` substitution) as YAML, or null.
fn tree(config: &Config) -> serde_yaml_ng::Value {
    config
        .text
        .as_deref()
        .and_then(|t| serde_yaml_ng::from_str(t).ok())
        .unwrap_or(serde_yaml_ng::Value::Null)
}

fn section<'v>(tree: &'v serde_yaml_ng::Value, key: &str) -> Option<&'v serde_yaml_ng::Value> {
    tree.as_mapping()?.get(key)
}

/// What changed from `old` to `new`.
pub fn changes(old: &Config, new: &Config) -> ConfigChanges {
    let mut out = ConfigChanges::default();
    let (old_tree, new_tree) = (tree(old), tree(new));
    // Every top-level key either side has, in a stable order.
    let keys: BTreeSet<String> = [&old_tree, &new_tree]
        .iter()
        .filter_map(|t| t.as_mapping())
        .flat_map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_owned)))
        .collect();
    for key in keys {
        if key == "skills" {
            continue;
        }
        if section(&old_tree, &key) != section(&new_tree, &key) {
            out.need_restart.push(key);
        }
    }
    let names: BTreeSet<&String> = old.skills.keys().chain(new.skills.keys()).collect();
    let skill = |tree: &serde_yaml_ng::Value, name: &str| {
        section(tree, "skills")
            .and_then(|s| s.as_mapping())
            .and_then(|s| s.get(name))
            .cloned()
    };
    for name in names {
        let (was, is) = (old.skills.get(name), new.skills.get(name));
        let (was_tree, is_tree) = (skill(&old_tree, name), skill(&new_tree, name));
        if was.is_some() == is.is_some() && was_tree == is_tree {
            continue;
        }
        out.skills.insert(name.clone());
        let formats = |entry: Option<&super::SkillEntry>| -> BTreeSet<String> {
            entry
                .map(|e| e.aliases.iter().map(|a| a.format.clone()).collect())
                .unwrap_or_default()
        };
        let (before, after) = (formats(was), formats(is));
        match (was, is) {
            (None, Some(_)) => out.lines.push(format!("skills.{name}: added")),
            (Some(_), None) => out.lines.push(format!("skills.{name}: removed")),
            _ => out.lines.push(format!("skills.{name}: changed")),
        }
        for gone in before.difference(&after) {
            out.lines
                .push(format!("skills.{name}: alias `{gone}` removed"));
        }
        for new in after.difference(&before) {
            out.lines
                .push(format!("skills.{name}: alias `{new}` added"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::Path;

    #[test]
    fn changes_name_the_skills_their_aliases_and_the_sections_that_need_a_restart() {
        let old = parse(
            "admins: [alice]\nskills:\n  deploy:\n    aliases:\n      - {format: 'ship {{app}}', matcher: deploy}\n      - {format: 'push {{app}}', matcher: deploy}\n  hello: {}\n",
            Path::new("/c.yaml"),
        )
        .unwrap();
        let new = parse(
            "admins: [alice, bob]\nskills:\n  deploy:\n    aliases:\n      - {format: 'ship {{app}}', matcher: deploy}\n      - {format: 'roll {{app}}', matcher: deploy}\n  hello: {}\n  dance: {}\n",
            Path::new("/c.yaml"),
        )
        .unwrap();
        let c = changes(&old, &new);
        assert_eq!(
            c.skills.iter().map(String::as_str).collect::<Vec<_>>(),
            ["dance", "deploy"]
        );
        assert_eq!(
            c.lines,
            [
                "skills.dance: added",
                "skills.deploy: changed",
                "skills.deploy: alias `push {{app}}` removed",
                "skills.deploy: alias `roll {{app}}` added",
            ]
        );
        assert_eq!(c.need_restart, ["admins"]);
        assert!(changes(&old, &old).is_empty());
    }
}
