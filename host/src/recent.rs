//! The `history` chat command's answer: the recent runs, readable in a chat
//! line. Commands first: what always-matchers hear (`seen` noting every
//! message) and crontab ticks are background, left out unless asked
//! (`history all`) and counted under the list. Each run is one line of
//! aligned columns: when, what ran (an operator alias's words and the
//! parameters it read), the outcome, how long, who and where, and the
//! record's id for the API.

use crate::catalog::SkillSet;
use crate::event::{Execution, Message, now_ms};
use crate::history::{Filter, History};
use crate::manifest::MatcherKind;
use crate::text::{cut, for_log};
use std::sync::Arc;

/// The most records `history` shows, and how many without a number.
const MAX: usize = 50;
const DEFAULT: usize = 10;
/// How many records are read to find `limit` commands among background runs.
const READ_AHEAD: usize = 5;

/// What `history [skill|workflow] [user] [wf-N] [n] [all]` asked for.
struct Asked {
    filter: Filter,
    /// Background runs too (`all`).
    all: bool,
    /// The run whose tasks are asked for (`wf-N`).
    run: Option<String>,
    /// A user named in the words (not the asker).
    user: Option<String>,
}

fn parse(set: &SkillSet, words: &[String]) -> Asked {
    let mut asked = Asked {
        filter: Filter {
            limit: DEFAULT,
            ..Filter::default()
        },
        all: false,
        run: None,
        user: None,
    };
    for word in words {
        if let Ok(n) = word.parse::<usize>() {
            asked.filter.limit = n.clamp(1, MAX);
        } else if word == "all" {
            asked.all = true;
        } else if word.starts_with("wf-") && !word.contains('.') {
            // A workflow run: its tasks' records.
            asked.filter.parent = Some(word.clone());
            asked.run = Some(word.clone());
        } else if set.get(word).is_some() || set.workflow(word).is_some() {
            // A workflow's runs are recorded under its name, as a skill's.
            asked.filter.skill = Some(word.clone());
        } else {
            asked.filter.user = Some(word.clone());
            asked.user = Some(word.clone());
        }
    }
    asked
}

/// A run no one asked for by name: what an always, catch-all or
/// event-type matcher heard, or a crontab tick.
fn background(set: &SkillSet, e: &Execution) -> bool {
    let Some(skill) = set.get(&e.skill) else {
        return false;
    };
    skill
        .manifest
        .matchers
        .iter()
        .find(|m| m.id == e.matcher)
        .is_some_and(|m| {
            matches!(
                m.kind,
                MatcherKind::Always
                    | MatcherKind::CatchAll
                    | MatcherKind::EventType(_)
                    | MatcherKind::Crontab { .. }
            )
        })
}

/// The answer to `history …` said by `m` (an admin sees anyone's runs).
pub async fn answer(
    history: &Arc<History>,
    set: &SkillSet,
    m: &Message,
    admin: bool,
    words: &[String],
) -> String {
    let mut asked = parse(set, words);
    if !admin {
        if asked
            .filter
            .user
            .as_ref()
            .is_some_and(|u| *u != m.user_id && *u != m.user)
        {
            return format!("Sorry {}, only admins may see other people's runs.", m.user);
        }
        asked.filter.user = Some(m.user_id.clone());
        asked.filter.connector = Some(m.connector.clone());
    }
    let limit = asked.filter.limit;
    let mut filter = asked.filter.clone();
    if !asked.all && asked.run.is_none() {
        filter.limit = (limit * READ_AHEAD).min(MAX * READ_AHEAD);
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
    let (shown, hidden): (Vec<Execution>, Vec<Execution>) = records
        .into_iter()
        .partition(|e| asked.all || asked.run.is_some() || !background(set, e));
    let shown: Vec<Execution> = shown.into_iter().take(limit).collect();
    if shown.is_empty() {
        return nothing(&asked, hidden.len());
    }
    let head = match (&asked.run, shown.len()) {
        (Some(run), 1) => format!("The last task of {run}:"),
        (Some(run), n) => format!("Last {n} tasks of {run}, newest first:"),
        (None, 1) => "The last run:".to_owned(),
        (None, n) => format!("Last {n} runs, newest first:"),
    };
    let mut lines = vec![head];
    lines.extend(table(&shown, now_ms()));
    if !hidden.is_empty() {
        lines.push(format!(
            "({} background run{} not shown: what always-matchers heard and crontab ticks; `history all` shows them)",
            hidden.len(),
            if hidden.len() == 1 { "" } else { "s" }
        ));
    }
    lines.join("\n")
}

/// Why the list is empty, in the words of what was asked.
fn nothing(asked: &Asked, hidden: usize) -> String {
    if hidden > 0 {
        return format!(
            "No commands among the last runs, only {hidden} background run{} (`history all` shows them).",
            if hidden == 1 { "" } else { "s" }
        );
    }
    match (&asked.run, &asked.user, &asked.filter.skill) {
        (Some(run), _, _) => format!("No tasks recorded for {}.", for_log(run)),
        (None, Some(user), _) => format!("No runs by {} recorded.", for_log(user)),
        (None, None, Some(skill)) => format!("No runs of {} recorded.", for_log(skill)),
        (None, None, None) => "No runs recorded yet.".to_owned(),
    }
}

/// One line per record, its columns aligned. Every field came from outside
/// (a user, a room, a skill's error): each is escaped onto the line.
fn table(records: &[Execution], now: u64) -> Vec<String> {
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|e| {
            // A workflow's task hangs under its run.
            let under = if e.parent.is_some() { "└ " } else { "" };
            let what = format!(
                "{under}{} {}/{}",
                for_log(&e.skill),
                for_log(&e.version),
                for_log(&e.matcher)
            );
            let mut said: Vec<String> = Vec::new();
            if let Some(alias) = &e.alias {
                said.push(format!("\"{}\"", for_log(cut(alias, 30))));
            }
            said.extend(
                e.captures
                    .iter()
                    .map(|(k, v)| format!("{}={}", for_log(k), for_log(cut(v, 20)))),
            );
            let place = match (&e.connector, &e.room) {
                (Some(c), Some(r)) => format!(" {}:{}", for_log(c), for_log(cut(r, 24))),
                _ => String::new(),
            };
            let who = format!("{}{place}", for_log(e.user_id.as_deref().unwrap_or("-")));
            let error = e
                .error
                .as_deref()
                .map(|e| format!(": {}", for_log(cut(e, 60))))
                .unwrap_or_default();
            [
                format!("{} ago", ago(now.saturating_sub(e.started_at))),
                what,
                cut(&said.join(" "), 48).to_owned(),
                format!("{}{error}", e.outcome),
                format!("{} ms", e.micros / 1000),
                who,
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..3).map(width).collect();
    rows.iter()
        .zip(records)
        .map(|(r, e)| {
            let pad = |i: usize| {
                let n = widths[i].saturating_sub(r[i].chars().count());
                format!("{}{}", r[i], " ".repeat(n))
            };
            let mut line = format!("  {:>7}  {}", r[0], pad(1));
            if widths[2] > 0 {
                line.push_str(&format!("  {}", pad(2)));
            }
            line.push_str(&format!("  {} ({})", r[3], r[4]));
            if !r[5].is_empty() {
                line.push_str(&format!("  {}", r[5]));
            }
            line.push_str(&format!("  [{}]", for_log(&e.id)));
            line
        })
        .collect()
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
