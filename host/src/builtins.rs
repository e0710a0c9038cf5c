//! The built-in commands, as entries of the one registry (`commands`):
//! `help` and `help <word>` (what the asking user may run: every target's
//! commands, a skill's or a workflow's, then every command of the
//! registry), `history`, and the admins' `reload`, `skills`, `skill
//! disable NAME` and `skill enable NAME`. Also "did you mean …" for a
//! message said to the bot that no command took.

use crate::catalog::{Catalog, SkillSet};
use crate::commands::{Asked, Entry, Handler, Reply, Who, word};
use crate::event::Message;
use crate::history::History;
use crate::manifest::MatcherKind;
use crate::matching::Target;
use crate::permissions::Asker;
use crate::text::for_log;
use futures::future::BoxFuture;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `help`, or `help <word>` to search.
    Help,
    /// `history [skill] [user] [n]`.
    History,
    Reload,
    Skills,
    /// `skill enable NAME` or `skill disable NAME`.
    Enable,
}

/// What the built-in commands work on.
struct Parts {
    catalog: Arc<Catalog>,
    history: Option<Arc<History>>,
}

struct Builtin {
    kind: Kind,
    parts: Arc<Parts>,
}

/// The built-in commands, in the order `help` lists them.
pub fn commands(catalog: Arc<Catalog>, history: Option<Arc<History>>) -> Vec<Entry> {
    let parts = Arc::new(Parts { catalog, history });
    let entry = |words, help, who, kind| Entry {
        words,
        help,
        who,
        handler: Arc::new(Builtin {
            kind,
            parts: parts.clone(),
        }),
    };
    let skills = Who::Admins("manage skills");
    vec![
        entry(
            &["help"],
            "help [word] — what I answer to (containing word)",
            Who::Anyone,
            Kind::Help,
        ),
        entry(
            &["history"],
            "history [skill] [user] [wf-N] [n] — recent runs (your own; admins: anyone's), a workflow run's tasks",
            Who::Anyone,
            Kind::History,
        ),
        entry(
            &["reload"],
            "reload — reload every skill (admins only)",
            Who::Admins("reload skills"),
            Kind::Reload,
        ),
        entry(
            &["skills"],
            "skills — the loaded skills, versions and state (admins only)",
            skills,
            Kind::Skills,
        ),
        entry(
            &["skill"],
            "skill disable NAME / skill enable NAME — turn a skill off or on (admins only)",
            skills,
            Kind::Enable,
        ),
    ]
}

/// Do `words` (the command's first) have the shape of a `kind` command?
fn fits(kind: Kind, words: &[&str]) -> bool {
    match kind {
        Kind::Help => true,
        Kind::History => words.len() <= 4,
        Kind::Reload | Kind::Skills => words.len() == 1,
        Kind::Enable => {
            words.len() == 3 && matches!(word(words, 1).as_deref(), Some("enable" | "disable"))
        }
    }
}

impl Handler for Builtin {
    fn fits(&self, words: &[&str]) -> bool {
        fits(self.kind, words)
    }

    fn run<'a>(&'a self, asked: &'a Asked<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let (m, admin, catalog) = (asked.message, asked.admin, &self.parts.catalog);
            let text = match self.kind {
                Kind::Help => {
                    let word = (asked.words.len() > 1).then(|| asked.words[1..].join(" "));
                    let more = asked.commands.help(m, admin);
                    help(&catalog.current(), m, word.as_deref(), more)
                }
                Kind::History => match &self.parts.history {
                    Some(history) => {
                        let words: Vec<String> =
                            asked.words[1..].iter().map(|w| (*w).to_owned()).collect();
                        crate::recent::answer(history, &catalog.current(), m, admin, &words).await
                    }
                    None => "The history is off (history.enabled: false).".into(),
                },
                Kind::Reload => reload(catalog, m).await,
                Kind::Skills => skills(catalog),
                Kind::Enable => {
                    let enabled = word(asked.words, 1).as_deref() == Some("enable");
                    enable(catalog, m, asked.words[2], enabled).await
                }
            };
            Reply::Say(text)
        })
    }
}

/// `reload`: every skill in line with the disk; the report.
pub async fn reload(catalog: &Catalog, m: &Message) -> String {
    tracing::info!(user = %m.user, "reload asked for in chat");
    let report = catalog.reload_all().await;
    for change in &report.changes {
        change.log();
    }
    report.summary()
}

/// `skill enable NAME` / `skill disable NAME`.
async fn enable(catalog: &Catalog, m: &Message, name: &str, enabled: bool) -> String {
    let verb = if enabled { "enabled" } else { "disabled" };
    match catalog.set_enabled(name, enabled).await {
        Ok(true) => format!("`{name}` was already {verb}."),
        Ok(false) => {
            tracing::info!(user = %m.user, skill = %name, "skill {verb} in chat");
            format!("`{name}` is {verb}.")
        }
        Err(e) => format!("⚠ {e}"),
    }
}

/// One line of `help`: a command the user may run, and what runs it (a
/// skill's name, or `workflow NAME`).
struct Command<'a> {
    help: &'a str,
    skill: String,
}

/// How `help` names a target: a skill by its name, a workflow as such.
fn label(set: &SkillSet, target: Target) -> String {
    match target {
        Target::Skill(_) => set.name(target).to_owned(),
        Target::Workflow(_) => format!("workflow {}", set.name(target)),
    }
}

/// Every command of an enabled skill or a workflow with a help line that
/// the sender of `m` may run.
fn target_commands<'a>(set: &'a SkillSet, m: &Message) -> Vec<Command<'a>> {
    let asker = Asker {
        connector: &m.connector,
        user_id: &m.user_id,
        room: &m.room,
    };
    let mut out = Vec::new();
    for (target, manifest, _, policy) in set.targets() {
        if policy.disabled {
            continue;
        }
        for (i, matcher) in manifest.matchers.iter().enumerate() {
            if matcher.help.is_empty()
                || policy
                    .access
                    .get(i)
                    .is_some_and(|a| a.check(asker).is_err())
            {
                continue;
            }
            out.push(Command {
                help: &matcher.help,
                skill: label(set, target),
            });
        }
    }
    out
}

/// `more` is what else answers `m`'s sender (the registry's commands they
/// may run), a line each.
fn help(set: &SkillSet, m: &Message, word: Option<&str>, more: Vec<String>) -> String {
    // Each on its line, whatever a skill's help or a name holds.
    let mut lines: Vec<String> = target_commands(set, m)
        .iter()
        .map(|c| format!("  {} ({})", for_log(c.help), for_log(&c.skill)))
        .collect();
    lines.extend(more.into_iter().map(|l| format!("  {}", for_log(&l))));
    match word {
        None => format!("I answer to:\n{}", lines.join("\n")),
        Some(word) => {
            let needle = word.to_lowercase();
            let found: Vec<String> = lines
                .into_iter()
                .filter(|l| l.to_lowercase().contains(&needle))
                .collect();
            if found.is_empty() {
                format!("Nothing about `{word}`. Say `help` for everything I answer to.")
            } else {
                format!("About `{word}`:\n{}", found.join("\n"))
            }
        }
    }
}

fn skills(catalog: &Catalog) -> String {
    let set = catalog.current();
    let progress = catalog.progress();
    // New files that failed where no version serves: not loaded at all.
    let unloaded: Vec<(&String, &String)> = progress
        .failed
        .iter()
        .filter(|(name, _)| set.get(name).is_none())
        .collect();
    if set.skills.is_empty() && unloaded.is_empty() {
        return "No skills are loaded.".into();
    }
    let mut lines = vec![format!("{} skills:", set.skills.len())];
    for (skill, policy) in set.skills.iter().zip(&set.policies) {
        let state = if policy.disabled {
            "disabled"
        } else {
            "enabled"
        };
        let mut line = format!(
            "  {} {} — {}, sha256 {}, {} matchers",
            for_log(&skill.name),
            for_log(&skill.manifest.version),
            state,
            &skill.sha256[..skill.sha256.len().min(12)],
            skill.manifest.matchers.len()
        );
        if progress.compiling.contains(&skill.name) {
            line.push_str("; compiling its new file");
        }
        if let Some(error) = progress.failed.get(&skill.name) {
            line.push_str(&format!(
                "; ⚠ its new file did not load, this version serves: {}",
                for_log(error)
            ));
        }
        lines.push(line);
    }
    for (name, error) in unloaded {
        lines.push(format!(
            "  {} — ✗ not loaded: {}",
            for_log(name),
            for_log(error)
        ));
    }
    lines.join("\n")
}

/// The most suggestions "did you mean" gives.
const SUGGESTIONS: usize = 3;

/// The answer to a message said to the bot that nothing took, as
/// `unmatched:` says: the nearest commands if one is a likely slip, else (by
/// default) a pointer to `help`, so a person is never met with silence.
pub fn unmatched<'c>(
    set: &SkillSet,
    m: &Message,
    commands: impl Iterator<Item = &'c str>,
    mode: crate::config::Unmatched,
) -> Option<String> {
    use crate::config::Unmatched;
    if mode == Unmatched::Silent {
        return None;
    }
    let near = did_you_mean(set, m, commands);
    if near.is_some() || mode == Unmatched::Suggest {
        return near;
    }
    let said: String = m
        .text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    Some(format!(
        "I don't know `{}`. Say `help` for what I can do.",
        for_log(&said.chars().take(40).collect::<String>())
    ))
}

/// For a message said to the bot that nothing took: the commands whose
/// words are closest to it, if any is close enough to be a slip.
/// `commands` are the registry's help lines.
fn did_you_mean<'c>(
    set: &SkillSet,
    m: &Message,
    commands: impl Iterator<Item = &'c str>,
) -> Option<String> {
    let said: Vec<String> = m
        .text
        .split_whitespace()
        .take(3)
        .map(str::to_lowercase)
        .collect();
    let first = said.first()?;
    let mut scored: Vec<(usize, String)> = Vec::new();
    let mut consider = |words: &str, shown: String| {
        let Some(head) = leading_word(words) else {
            return;
        };
        // A slip: a few letters off, relative to the word's length (lengths
        // further apart than that need no distance worked out).
        let allowed = (head.chars().count() / 3).max(1);
        if first.chars().count().abs_diff(head.chars().count()) > allowed {
            return;
        }
        let distance = crate::similar::edit_distance(first, &head);
        if distance <= allowed && !scored.iter().any(|(_, s)| *s == shown) {
            scored.push((distance, shown));
        }
    };
    for command in target_commands(set, m) {
        consider(
            command.help,
            format!("`{}` ({})", command.help, command.skill),
        );
    }
    // Aliases and templates without a help line still have their words.
    for (target, manifest, _, policy) in set.targets() {
        if policy.disabled {
            continue;
        }
        for matcher in manifest.matchers.iter().filter(|m| m.help.is_empty()) {
            let words = match &matcher.kind {
                MatcherKind::ActionAlias(a) => a.format.as_str(),
                MatcherKind::ParseFormat(f) => f.as_str(),
                _ => continue,
            };
            consider(words, format!("`{words}` ({})", label(set, target)));
        }
    }
    for line in commands {
        consider(
            line,
            format!("`{}`", line.split(" — ").next().unwrap_or(line)),
        );
    }
    if scored.is_empty() {
        return None;
    }
    scored.sort_by_key(|(d, _)| *d);
    let names: Vec<String> = scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, s)| s)
        .collect();
    Some(format!(
        "I don't know `{}`. Did you mean {}?",
        crate::text::cut(&m.text, 80),
        names.join(" or ")
    ))
}

/// The first word of a command's help or format, lowercased: what a user
/// types first.
fn leading_word(text: &str) -> Option<String> {
    let word = text.split_whitespace().next()?;
    let word: String = word
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!word.is_empty()).then(|| word.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_have_their_shape() {
        let fits = |kind, text: &str| {
            let words: Vec<&str> = text.split_whitespace().collect();
            fits(kind, &words)
        };
        assert!(fits(Kind::Help, " HELP "));
        assert!(fits(Kind::Help, "help deploy"));
        assert!(fits(Kind::Enable, "skill disable hello"));
        assert!(fits(Kind::Enable, "Skill Enable hello"));
        assert!(!fits(Kind::Enable, "skill eat hello"));
        assert!(fits(Kind::Skills, "skills"));
        assert!(!fits(Kind::Reload, "reload now"));
        assert!(fits(Kind::History, "history deploy bob 5"));
        assert!(!fits(Kind::History, "history of the world is long"));
    }

    #[test]
    fn slips_are_near_and_other_words_far() {
        assert_eq!(leading_word("deploy {{app}}"), Some("deploy".into()));
        assert_eq!(leading_word("seen <user> — when"), Some("seen".into()));
    }
}
