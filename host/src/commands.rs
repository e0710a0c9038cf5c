//! The chat commands, one registry: every command the bot answers itself
//! (the built-in ones, `builtins`; the workflows', `workflow::commands`;
//! on several hosts, `reload` everywhere, `nats`) is one [`Entry`]: the
//! words that start it, its line in `help`, who may run it, and its
//! handler. The dispatcher asks [`Commands::answer`] once per message,
//! before any matching; `help` is made from the same entries.
//!
//! A message is a command when its first words are an entry's (in any
//! case) and the handler says it has the command's shape
//! ([`Handler::fits`]); anything else goes on to matching, so `skill eat
//! x` or `approve later` still reach the skills. Only then is the sender
//! checked: an admins' command from anyone else is answered with
//! "Sorry NAME, only admins may …", and logged.

use crate::config::Config;
use crate::event::{Event, EventId, Message};
use futures::future::BoxFuture;
use std::sync::Arc;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Anyone,
    /// Admins only; the rest are told they may not `.0` ("reload skills").
    Admins(&'static str),
}

/// What a command did.
pub enum Reply {
    /// Say this in reply.
    Say(String),
    /// The handler said what it had to say itself.
    Done,
}

/// One command as the dispatcher received it.
pub struct Asked<'a> {
    pub id: EventId,
    pub event: &'a Event,
    pub message: &'a Message,
    /// The message's words, as said.
    pub words: &'a [&'a str],
    pub admin: bool,
    /// Every command, for those (`help`) that list them.
    pub commands: &'a Commands,
}

pub trait Handler: Send + Sync {
    /// Do `words` (the entry's first) have this command's shape?
    fn fits(&self, words: &[&str]) -> bool;
    /// Carries the command out for `asked.message`'s sender, who may run it.
    fn run<'a>(&'a self, asked: &'a Asked<'a>) -> BoxFuture<'a, Reply>;
    /// More lines for `help`, besides the entry's own (the workflows
    /// started only by `workflow run`).
    fn more_help(&self, _m: &Message) -> Vec<String> {
        Vec::new()
    }
}

/// One chat command.
pub struct Entry {
    /// The words that start it, lowercase: `["workflow", "status"]`.
    pub words: &'static [&'static str],
    /// Its line in `help` (none when empty: another entry's line says it).
    pub help: &'static str,
    pub who: Who,
    pub handler: Arc<dyn Handler>,
}

#[derive(Default)]
pub struct Commands {
    entries: Vec<Entry>,
    config: Option<Arc<Config>>,
}

impl Commands {
    /// An empty registry; `config` says who the admins are.
    pub fn new(config: Arc<Config>) -> Commands {
        Commands {
            entries: Vec::new(),
            config: Some(config),
        }
    }

    /// Adds `entries` after those there (`help` lists them in this order).
    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) {
        self.entries.extend(entries);
    }

    /// Replaces the entry with `words` by what `with` makes of it (the
    /// cluster's `reload`, which wraps the local one).
    pub fn replace(&mut self, words: &[&str], with: impl FnOnce(Entry) -> Entry) {
        if let Some(at) = self.entries.iter().position(|e| e.words == words) {
            let old = self.entries.remove(at);
            self.entries.insert(at, with(old));
        }
    }

    fn is_admin(&self, m: &Message) -> bool {
        self.config
            .as_ref()
            .is_some_and(|c| c.is_admin(&m.connector, &m.user_id))
    }

    /// The entry `m` is a command of, with its words; `None` when it is
    /// none.
    fn entry<'m>(&self, m: &'m Message) -> Option<(&Entry, Vec<&'m str>)> {
        // Every message passes here: only a first word that starts some
        // command is worth splitting the text for.
        let first = m.text.split_whitespace().next()?;
        if !self
            .entries
            .iter()
            .any(|e| e.words[0].eq_ignore_ascii_case(first))
        {
            return None;
        }
        let words: Vec<&str> = m.text.split_whitespace().collect();
        let entry = self.entries.iter().find(|e| {
            words.len() >= e.words.len()
                && e.words
                    .iter()
                    .zip(&words)
                    .all(|(w, said)| w.eq_ignore_ascii_case(said))
                && e.handler.fits(&words)
        })?;
        Some((entry, words))
    }

    /// Is `m` one of the commands (which then run in their conversation's
    /// order, `crate::turns`)?
    pub fn is_command(&self, m: &Message) -> bool {
        self.entry(m).is_some()
    }

    /// Answers `event` if it is a command; `None` when it is none (it goes
    /// on to matching).
    pub async fn answer(&self, id: EventId, event: &Event) -> Option<Reply> {
        let m = event.message()?;
        let (entry, words) = self.entry(m)?;
        let admin = self.is_admin(m);
        if let Who::Admins(what) = entry.who
            && !admin
        {
            tracing::warn!(user_id = %crate::text::for_log(&m.user_id), command = %entry.words.join(" "), "denied: an admin command from someone not in `admins`");
            return Some(Reply::Say(format!(
                "Sorry {}, only admins may {what}.",
                m.user
            )));
        }
        let asked = Asked {
            id,
            event,
            message: m,
            words: &words,
            admin,
            commands: self,
        };
        Some(entry.handler.run(&asked).await)
    }

    /// The commands' lines in `help` for the sender of `m`: those they may
    /// run, in the registry's order.
    pub fn help(&self, m: &Message, admin: bool) -> Vec<String> {
        let mut lines = Vec::new();
        for e in &self.entries {
            if matches!(e.who, Who::Admins(_)) && !admin {
                continue;
            }
            lines.extend(e.handler.more_help(m));
            if !e.help.is_empty() {
                lines.push(e.help.to_owned());
            }
        }
        lines
    }

    /// Every command's help line, whoever may run it (for "did you mean").
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .map(|e| e.help)
            .filter(|h| !h.is_empty())
    }
}

/// Words as a handler reads them: the `n`th, lowercase.
pub fn word(words: &[&str], n: usize) -> Option<String> {
    words.get(n).map(|w| w.to_ascii_lowercase())
}
