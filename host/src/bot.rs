//! The dispatcher: the one place that knows connectors, matching and the
//! runtime. Per event it takes the current skill set (one atomic load), asks
//! the index who should run, and runs them; no lock, no disk, no compiling.

use crate::catalog::{Catalog, SkillSet};
use crate::config::Config;
use crate::connectors::Outboxes;
use crate::event::{Event, Message, Response, ResponseBody, Target};
use crate::matching::{Hit, Why};
use crate::runtime::{Failure, Runtime};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub struct Bot {
    catalog: Arc<Catalog>,
    runtime: Arc<Runtime>,
    outboxes: Arc<Outboxes>,
    config: Arc<Config>,
    in_flight: Semaphore,
}

/// Commands the bot answers itself, before any skill is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Reload,
    Help,
}

fn builtin(text: &str) -> Option<Builtin> {
    match text.trim().to_ascii_lowercase().as_str() {
        "reload" => Some(Builtin::Reload),
        "help" => Some(Builtin::Help),
        _ => None,
    }
}

impl Bot {
    pub fn new(
        catalog: Arc<Catalog>,
        runtime: Arc<Runtime>,
        outboxes: Arc<Outboxes>,
        config: Arc<Config>,
    ) -> Self {
        let in_flight = Semaphore::new(config.runtime.max_in_flight.max(1));
        Bot {
            catalog,
            runtime,
            outboxes,
            config,
            in_flight,
        }
    }

    /// Handles one event to completion: every skill it started has finished
    /// (or failed) when this returns.
    pub async fn dispatch(&self, event: Event) {
        let Ok(_permit) = self.in_flight.acquire().await else {
            return;
        };
        if let Event::Message(m) = &event
            && let Some(command) = builtin(&m.text)
        {
            return self.run_builtin(command, m).await;
        }
        let set = self.catalog.current();
        let hits = set.index.route(&event);
        if hits.is_empty() {
            tracing::trace!(?event, "nothing matched");
            return;
        }
        futures::future::join_all(hits.iter().map(|hit| self.run(&set, &event, hit))).await;
    }

    async fn run(&self, set: &SkillSet, event: &Event, hit: &Hit) {
        let skill = &set.skills[hit.skill];
        let result = self
            .runtime
            .handle(skill, event, &hit.matcher_id, &hit.captures)
            .await;
        let Err(failure) = result else { return };
        tracing::warn!(skill = %skill.name, version = %skill.manifest.version, matcher = %hit.matcher_id, "{failure}");
        // An `always` matcher runs on every message: reporting its failures
        // in chat would answer messages that were not meant for it.
        if hit.why == Why::Always {
            return;
        }
        if let Some(origin) = event.origin() {
            self.say(
                origin.target,
                format!("⚠ {}: {}", skill.name, brief(&failure)),
            )
            .await;
        }
    }

    async fn run_builtin(&self, command: Builtin, m: &Message) {
        let target = Target {
            connector: m.connector.clone(),
            room: m.room.clone(),
            thread: m.thread.clone(),
        };
        let answer = match command {
            Builtin::Reload if !self.config.is_admin(&m.user, &m.user_id) => {
                format!("Sorry {}, only admins may reload skills.", m.user)
            }
            Builtin::Reload => {
                tracing::info!(user = %m.user, "reload asked for in chat");
                let report = self.catalog.reload_all().await;
                for change in &report.changes {
                    change.log();
                }
                report.summary()
            }
            Builtin::Help => self.help(),
        };
        self.say(target, answer).await;
    }

    fn help(&self) -> String {
        let set = self.catalog.current();
        let mut lines = vec!["I answer to:".to_string()];
        for skill in &set.skills {
            for m in skill
                .manifest
                .matchers
                .iter()
                .filter(|m| !m.help.is_empty())
            {
                lines.push(format!("  {} ({})", m.help, skill.name));
            }
        }
        lines.push("  help — this list".into());
        lines.push("  reload — reload every skill (admins only)".into());
        lines.join("\n")
    }

    async fn say(&self, target: Target, text: String) {
        let response = Response {
            target,
            body: ResponseBody::Text(text),
        };
        if let Err(e) = self.outboxes.deliver(response).await {
            tracing::warn!("could not answer: {e}");
        }
    }
}

/// What the user is told: short, and without the operator's details.
fn brief(failure: &Failure) -> String {
    match failure {
        Failure::Timeout(budget) => format!("took longer than its {budget} budget and was stopped"),
        Failure::OutOfMemory(limit) => format!("ran out of memory (limit {limit}) and was stopped"),
        Failure::StackOverflow => "ran out of stack (runaway recursion?) and was stopped".into(),
        Failure::Panicked { message, .. } => format!("panicked: {message}"),
        Failure::Crashed(reason) => format!("crashed: {reason}"),
        Failure::Error(message) => message.clone(),
    }
}
