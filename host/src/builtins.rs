//! Commands the bot answers itself, before any skill is asked: `help` and
//! `help <word>` (what the asking user may run, from what the skills
//! declared), `reload`, `skills`, `skill disable NAME` and `skill enable
//! NAME` (admins only). `help` lists the workflows too, from lines the
//! dispatcher passes in. Each returns its answer as text; the dispatcher
//! sends it. Also "did you mean …" for a message said to the bot that no
//! command took.

use crate::catalog::{Catalog, SkillSet};
use crate::config::Config;
use crate::event::{Message, now_ms};
use crate::history::{Filter, History};
use crate::manifest::MatcherKind;
use crate::matching::Target;
use crate::permissions::Asker;
use crate::text::for_log;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builtin {
    Reload,
    /// `help`, or `help <word>` to search.
    Help(Option<String>),
    Skills,
    /// `skill enable NAME` (true) or `skill disable NAME` (false).
    Enable(String, bool),
    /// `history [skill] [user] [n]`.
    History(Vec<String>),
}

/// What `help` lists for the built-in commands, and who may run them.
const BUILTINS: &[(&str, bool)] = &[
    ("help [word] — what I answer to (containing word)", false),
    (
        "history [skill] [user] [wf-N] [n] — recent runs (your own; admins: anyone's), a workflow run's tasks",
        false,
    ),
    ("reload — reload every skill (admins only)", true),
    (
        "skills — the loaded skills, versions and state (admins only)",
        true,
    ),
    (
        "skill disable NAME / skill enable NAME — turn a skill off or on (admins only)",
        true,
    ),
];

impl Builtin {
    pub fn parse(text: &str) -> Option<Builtin> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let words: Vec<&str> = text.split_whitespace().collect();
        match lower.as_str() {
            "reload" => return Some(Builtin::Reload),
            "help" => return Some(Builtin::Help(None)),
            "skills" => return Some(Builtin::Skills),
            _ => {}
        }
        match words.as_slice() {
            [help, word @ ..] if help.eq_ignore_ascii_case("help") && !word.is_empty() => {
                Some(Builtin::Help(Some(word.join(" "))))
            }
            [history, rest @ ..] if history.eq_ignore_ascii_case("history") && rest.len() <= 3 => {
                Some(Builtin::History(
                    rest.iter().map(|w| (*w).to_owned()).collect(),
                ))
            }
            [skill, verb, name] if skill.eq_ignore_ascii_case("skill") => {
                match verb.to_ascii_lowercase().as_str() {
                    "enable" => Some(Builtin::Enable((*name).to_owned(), true)),
                    "disable" => Some(Builtin::Enable((*name).to_owned(), false)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Runs the command for the sender of `m` and returns the answer.
    pub async fn run(
        self,
        m: &Message,
        catalog: &Catalog,
        config: &Config,
        history: Option<&Arc<History>>,
        more_help: Vec<String>,
    ) -> String {
        let admin = config.is_admin(&m.connector, &m.user_id);
        match self {
            Builtin::Help(word) => help(&catalog.current(), m, admin, word.as_deref(), more_help),
            Builtin::History(words) => match history {
                Some(history) => recent(history, &catalog.current(), m, admin, &words).await,
                None => "The history is off (history.enabled: false).".into(),
            },
            _ if !admin => {
                tracing::warn!(user_id = %crate::text::for_log(&m.user_id), command = ?self, "denied: an admin command from someone not in `admins`");
                let what = match self {
                    Builtin::Reload => "reload skills",
                    _ => "manage skills",
                };
                format!("Sorry {}, only admins may {what}.", m.user)
            }
            Builtin::Reload => {
                tracing::info!(user = %m.user, "reload asked for in chat");
                let report = catalog.reload_all().await;
                for change in &report.changes {
                    change.log();
                }
                report.summary()
            }
            Builtin::Skills => skills(catalog),
            Builtin::Enable(name, enabled) => {
                let verb = if enabled { "enabled" } else { "disabled" };
                match catalog.set_enabled(&name, enabled).await {
                    Ok(true) => format!("`{name}` was already {verb}."),
                    Ok(false) => {
                        tracing::info!(user = %m.user, skill = %name, "skill {verb} in chat");
                        format!("`{name}` is {verb}.")
                    }
                    Err(e) => format!("⚠ {e}"),
                }
            }
        }
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
fn commands<'a>(set: &'a SkillSet, m: &Message) -> Vec<Command<'a>> {
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

/// `more` is what else answers `m`'s sender (the workflows they may start
/// and the workflow commands), a line each.
fn help(set: &SkillSet, m: &Message, admin: bool, word: Option<&str>, more: Vec<String>) -> String {
    // Each on its line, whatever a skill's help or a name holds.
    let mut lines: Vec<String> = commands(set, m)
        .iter()
        .map(|c| format!("  {} ({})", for_log(c.help), for_log(&c.skill)))
        .collect();
    lines.extend(more.into_iter().map(|l| format!("  {}", for_log(&l))));
    lines.extend(
        BUILTINS
            .iter()
            .filter(|(_, admins_only)| admin || !admins_only)
            .map(|(line, _)| format!("  {line}")),
    );
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
    if set.skills.is_empty() {
        return "No skills are loaded.".into();
    }
    let mut lines = vec![format!("{} skills:", set.skills.len())];
    for (skill, policy) in set.skills.iter().zip(&set.policies) {
        let state = if policy.disabled {
            "disabled"
        } else {
            "enabled"
        };
        lines.push(format!(
            "  {} {} — {}, sha256 {}, {} matchers",
            for_log(&skill.name),
            for_log(&skill.manifest.version),
            state,
            &skill.sha256[..skill.sha256.len().min(12)],
            skill.manifest.matchers.len()
        ));
    }
    lines.join("\n")
}

/// The most records `history` shows, and how many without a number.
const HISTORY_MAX: usize = 50;
const HISTORY_DEFAULT: usize = 10;

/// `history [skill] [user] [n]`: a number is how many, a loaded skill's
/// name is the skill, any other word the user (id or name). Only admins
/// see other people's runs.
async fn recent(
    history: &Arc<History>,
    set: &SkillSet,
    m: &Message,
    admin: bool,
    words: &[String],
) -> String {
    let mut filter = Filter {
        limit: HISTORY_DEFAULT,
        ..Filter::default()
    };
    for word in words {
        if let Ok(n) = word.parse::<usize>() {
            filter.limit = n.clamp(1, HISTORY_MAX);
        } else if word.starts_with("wf-") && !word.contains('.') {
            // A workflow run: its tasks' records.
            filter.parent = Some(word.clone());
        } else if set.get(word).is_some() || set.workflow(word).is_some() {
            // A workflow's runs are recorded under its name, as a skill's.
            filter.skill = Some(word.clone());
        } else {
            filter.user = Some(word.clone());
        }
    }
    if !admin {
        if filter
            .user
            .as_ref()
            .is_some_and(|u| *u != m.user_id && *u != m.user)
        {
            return format!("Sorry {}, only admins may see other people's runs.", m.user);
        }
        filter.user = Some(m.user_id.clone());
        filter.connector = Some(m.connector.clone());
    }
    let history = history.clone();
    let found = tokio::task::spawn_blocking(move || history.find(&filter)).await;
    let records = match found {
        Ok(Ok(records)) => records,
        Ok(Err(e)) => {
            tracing::error!("reading the history: {e:#}");
            return "⚠ I could not read the history.".into();
        }
        Err(e) => {
            tracing::error!("reading the history: {e}");
            return "⚠ I could not read the history.".into();
        }
    };
    if records.is_empty() {
        return "No runs recorded yet.".into();
    }
    let now = now_ms();
    let mut lines = vec![match words.iter().find(|w| w.starts_with("wf-")) {
        Some(run) => format!("Last {} tasks of {run}, newest first:", records.len()),
        None => format!("Last {} runs, newest first:", records.len()),
    }];
    for e in records {
        // Every field came from outside (a user, a room, a skill's error):
        // each is shown on the record's one line, escaped.
        let who = for_log(e.user_id.as_deref().unwrap_or("-"));
        let place = match (&e.connector, &e.room) {
            (Some(c), Some(r)) => format!(" in {}:{}", for_log(c), for_log(r)),
            _ => String::new(),
        };
        let error = e
            .error
            .map(|e| format!(": {}", for_log(crate::text::cut(&e, 80))))
            .unwrap_or_default();
        // A workflow's task hangs under its run.
        let under = if e.parent.is_some() { "└ " } else { "" };
        lines.push(format!(
            "  {under}{} ago  {} {}/{} by {who}{place} — {} ({} ms){error}  [{}]",
            ago(now.saturating_sub(e.started_at)),
            for_log(&e.skill),
            for_log(&e.version),
            for_log(&e.matcher),
            e.outcome,
            e.micros / 1000,
            for_log(&e.id)
        ));
    }
    lines.join("\n")
}

/// `42s`, `5m`, `3h`, `2d`.
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The most suggestions "did you mean" gives.
const SUGGESTIONS: usize = 3;

/// For a message said to the bot that nothing took: the commands whose
/// words are closest to it, if any is close enough to be a slip.
pub fn did_you_mean(set: &SkillSet, m: &Message) -> Option<String> {
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
        let distance = edit_distance(first, &head);
        if distance <= allowed && !scored.iter().any(|(_, s)| *s == shown) {
            scored.push((distance, shown));
        }
    };
    for command in commands(set, m) {
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
    for (builtin, _) in BUILTINS {
        consider(
            builtin,
            format!("`{}`", builtin.split(" — ").next().unwrap_or(builtin)),
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

/// Edits between two words, a swap of neighbours counting as one
/// (`hepl` is one slip from `help`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(Builtin::parse(" HELP "), Some(Builtin::Help(None)));
        assert_eq!(
            Builtin::parse("help deploy"),
            Some(Builtin::Help(Some("deploy".into())))
        );
        assert_eq!(
            Builtin::parse("skill disable hello"),
            Some(Builtin::Enable("hello".into(), false))
        );
        assert_eq!(
            Builtin::parse("Skill Enable hello"),
            Some(Builtin::Enable("hello".into(), true))
        );
        assert_eq!(Builtin::parse("skill eat hello"), None);
        assert_eq!(Builtin::parse("skills"), Some(Builtin::Skills));
        assert_eq!(Builtin::parse("helpful"), None);
    }

    #[test]
    fn slips_are_near_and_other_words_far() {
        assert_eq!(edit_distance("deplyo", "deploy"), 1);
        assert_eq!(edit_distance("hepl", "help"), 1);
        assert_eq!(edit_distance("hello", "help"), 2);
        assert_eq!(leading_word("deploy {{app}}"), Some("deploy".into()));
        assert_eq!(leading_word("seen <user> — when"), Some("seen".into()));
    }
}
