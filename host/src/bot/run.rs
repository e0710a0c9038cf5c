//! A skill's hit handed to the executor, once the dispatcher has made it
//! ready ([`Run`]: its record, the rewrite of its answers, the room that
//! asked, its ack): at once, in the slot reserved for it, or in the
//! background after its ack. Nothing here asks the event again: the run
//! carries what the dispatcher read of it.

use super::Bot;
use super::dispatch::interrupted;
use crate::catalog::SkillSet;
use crate::event::{Event, EventId, Execution, Facts, Outcome, Target};
use crate::executor::Job;
use crate::runtime::{Reserved, Reword};
use std::sync::Arc;
use tracing::Instrument;

/// One skill's hit, ready to run ([`Bot::prepare`]).
pub(super) struct Run {
    /// The skill, by its place in the set.
    pub skill: usize,
    /// Its record, numbered and started: the executor fills in how it went.
    pub record: Execution,
    /// Rewrites each answer (an operator alias's `result` template).
    pub reword: Option<Reword>,
    /// The room that asked: its ack, a busy notice and a failure the user
    /// should hear of are said there. None for an `always` matcher, which
    /// no one asked.
    pub room: Option<Target>,
    /// Its ack, if it has one (the text, if it rendered): it then runs in
    /// the background, after the ack is said.
    pub ack: Option<Option<String>>,
    /// The place reserved for it in its skill's gate, if one was.
    pub slot: Option<Reserved>,
}

/// Runs `runs` (made ready by `bot` for the event of `facts`): those with
/// an ack in the background, the rest here, together. Returns the records
/// of those run here, after those refused as busy before their ack.
pub(super) async fn run_skills(
    bot: &Bot,
    set: &Arc<SkillSet>,
    id: EventId,
    event: &Arc<Event>,
    facts: &Facts<'_>,
    runs: Vec<Run>,
) -> Vec<Execution> {
    let (later, now): (Vec<_>, Vec<_>) = runs.into_iter().partition(|run| run.ack.is_some());
    let mut executions = Vec::new();
    for run in later {
        if let Some(busy) = acknowledge(bot, set, id, event, facts, run).await {
            executions.push(busy);
        }
    }
    let now = now.into_iter().map(|run| execute(bot, set, id, event, run));
    executions.extend(futures::future::join_all(now).await);
    executions
}

/// Takes `run` into its skill's gate, says its ack, and runs it in the
/// background, its record going to the observers when it ends. A skill
/// with no place left is answered as busy at once, without an ack, and
/// that refusal is returned as the record.
async fn acknowledge(
    bot: &Bot,
    set: &Arc<SkillSet>,
    id: EventId,
    event: &Arc<Event>,
    facts: &Facts<'_>,
    mut run: Run,
) -> Option<Execution> {
    let skill = &set.skills[run.skill];
    // Only a hit someone asked in a chat room has an ack.
    let room = run.room.clone()?;
    let executor = bot.executor();
    let reserved = match bot.runtime.reserve(skill) {
        Ok(reserved) => reserved,
        Err(busy) => {
            tracing::warn!(skill = %skill.name, matcher = %run.record.matcher, "not started: {busy}");
            let text = format!("⚠ {}: {}", skill.name, busy.brief());
            executor.say(room, id, text).await;
            run.record.outcome = Outcome::Busy;
            run.record.error = Some(busy.to_string());
            return Some(run.record);
        }
    };
    if let Some(text) = run.ack.take().flatten() {
        executor.say(room.clone(), id, text).await;
    }
    // What the room hears if a stop interrupts it: a message's words.
    let interrupted = facts.text.map(interrupted);
    run.slot = Some(reserved);
    let entered = bot.work.enter();
    let bot = bot.me.upgrade()?;
    let (set, event) = (set.clone(), event.clone());
    let span = tracing::Span::current();
    tokio::spawn(
        async move {
            let execution = execute(&bot, &set, id, &event, run);
            tokio::select! {
                execution = execution => bot.executor().observe_shared(&Arc::new(execution)),
                // Dropping the run records it as interrupted; the
                // room that asked is told.
                () = bot.work.stopped() => {
                    if let Some(text) = interrupted {
                        bot.executor().say(room, id, text).await;
                    }
                }
            }
            drop(entered);
        }
        .instrument(span),
    );
    None
}

/// Runs `run` through the executor and returns its record; a failure
/// the user should hear of is answered in the event's room. Dropped
/// before it ends (shutdown, a webhook caller gone), it still leaves its
/// record, as `interrupted`.
pub(super) async fn execute(
    bot: &Bot,
    set: &SkillSet,
    event_id: EventId,
    event: &Event,
    run: Run,
) -> Execution {
    let skill = &set.skills[run.skill];
    let span = tracing::info_span!("execution", id = %run.record.id, skill = %skill.name, matcher = %run.record.matcher);
    let job = Job {
        skill,
        event,
        event_id,
        reword: run.reword,
        quiet: false,
        failure_to: run.room,
        reserved: run.slot,
        limit: None,
    };
    let ran = bot.executor().run(job, run.record).instrument(span).await;
    ran.record
}
