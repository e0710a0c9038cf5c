//! The workflows' chat commands, as entries of the one registry
//! (`crate::commands`): `approve N` / `deny N` (an optional task after),
//! `workflows`, `workflow status N`, `workflow cancel N`, `workflow run
//! NAME key=value…` and the admins' `workflow reload`.

use super::{Workflows, run_number};
use crate::commands::{Asked, Entry, Handler, Reply, Who, word};
use crate::event::Message;
use futures::future::BoxFuture;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Run,
    Approve,
    Deny,
    List,
    Status,
    Cancel,
    Reload,
}

struct Command {
    kind: Kind,
    workflows: Arc<Workflows>,
}

/// The workflows' commands, in the order `help` lists them.
pub fn commands(workflows: &Arc<Workflows>) -> Vec<Entry> {
    let entry = |words, help, who, kind| Entry {
        words,
        help,
        who,
        handler: Arc::new(Command {
            kind,
            workflows: workflows.clone(),
        }),
    };
    vec![
        // Its help: a line for each workflow started only this way.
        entry(&["workflow", "run"], "", Who::Anyone, Kind::Run),
        entry(
            &["approve"],
            "approve N / deny N — answer a workflow's question (its approvers only)",
            Who::Anyone,
            Kind::Approve,
        ),
        entry(&["deny"], "", Who::Anyone, Kind::Deny),
        entry(
            &["workflows"],
            "workflows — the loaded workflows and how to start them",
            Who::Anyone,
            Kind::List,
        ),
        entry(
            &["workflow", "status"],
            "workflow status N / workflow cancel N — a run's tasks; stop it (who started it, or admins)",
            Who::Anyone,
            Kind::Status,
        ),
        entry(&["workflow", "cancel"], "", Who::Anyone, Kind::Cancel),
        entry(
            &["workflow", "reload"],
            "workflow reload — read the workflows folder again (admins only)",
            Who::Admins("reload workflows"),
            Kind::Reload,
        ),
    ]
}

/// Do `words` have the shape of a `kind` command?
fn fits(kind: Kind, words: &[&str]) -> bool {
    match kind {
        Kind::Run => words.len() >= 3,
        // Not a run number: no command, the skills may take it.
        Kind::Approve | Kind::Deny => {
            (2..=3).contains(&words.len()) && run_number(words[1]).is_some()
        }
        Kind::List => words.len() == 1,
        Kind::Status | Kind::Cancel => words.len() == 3,
        Kind::Reload => words.len() == 2,
    }
}

impl Handler for Command {
    fn fits(&self, words: &[&str]) -> bool {
        fits(self.kind, words)
    }

    fn more_help(&self, m: &Message) -> Vec<String> {
        match self.kind {
            Kind::Run => self.workflows.run_help(m),
            _ => Vec::new(),
        }
    }

    fn run<'a>(&'a self, asked: &'a Asked<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let (w, m, words) = (&self.workflows, asked.message, asked.words);
            let number = || run_number(words[2]).ok_or_else(|| word(words, 2));
            let text = match self.kind {
                Kind::Approve | Kind::Deny => {
                    let n = run_number(words[1]).unwrap_or_default();
                    let task = words.get(2).copied();
                    w.decide(m, n, task, self.kind == Kind::Approve).await
                }
                Kind::List => w.list(),
                Kind::Reload => w.reload().await,
                Kind::Status => match number() {
                    Ok(n) => w.status(n).await,
                    Err(_) => format!("`{}` is not a run number.", words[2]),
                },
                Kind::Cancel => match number() {
                    Ok(n) => {
                        w.cancel(n, asked.id, m).await;
                        return Reply::Done;
                    }
                    Err(_) => format!("`{}` is not a run number.", words[2]),
                },
                Kind::Run => {
                    let name = words[2];
                    let Some(def) = w.defs.current().by_name.get(name).cloned() else {
                        return Reply::Say(format!("⚠ No workflow is named `{name}`."));
                    };
                    let (_, pairs) = crate::matching::alias::trailing_pairs(&m.text);
                    w.begin(asked.id, asked.event, m, def, pairs).await;
                    return Reply::Done;
                }
            };
            Reply::Say(text)
        })
    }
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
        assert!(fits(Kind::Approve, "approve 3"));
        assert!(fits(Kind::Approve, "approve #3 deploy"));
        assert!(fits(Kind::Deny, "deny wf-3"));
        assert!(
            !fits(Kind::Approve, "approve the plan"),
            "not a run: a skill's"
        );
        assert!(!fits(Kind::Approve, "approve 3 a b"));
        assert!(
            fits(Kind::Status, "workflow status x"),
            "answered: not a number"
        );
        assert!(!fits(Kind::Status, "workflow status"));
        assert!(fits(Kind::Run, "workflow run deploy app=web"));
        assert!(!fits(Kind::Reload, "workflow reload now"));
    }
}
